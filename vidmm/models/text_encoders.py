"""Text encoders: strings in, token states and one pooled embedding per string out.

Any transformers text tower with its tokenizer: CLIP's and SigLIP's text towers (whose pooled
embeddings share a space with their vision towers), or a sentence encoder such as all-MiniLM-L6-v2,
mean-pooled over its tokens as sentence-transformers does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from .attention import masked_mean
from .config import TextEncoderConfig
from .hub import HubOptions, load_tower, pretrained, saved_config, tower_from_config

# For each hub `model_type`: the class of its text tower and the read-out of the pooled embedding.
TEXT_TOWERS = {
    "clip": ("CLIPTextModelWithProjection", "text_embeds"),
    "siglip": ("SiglipTextModel", "pooler_output"),
}
SENTENCE_ENCODER = ("AutoModel", "mean")  # any other model: mean of its token states


@dataclass(frozen=True)
class TextFeatures:
    """tokens `(N, L, Dh)` token states; mask `(N, L)` True on real tokens; pooled `(N, D)`."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


class TextEncoder(nn.Module):
    """A text tower plus its tokenizer; `forward(list of N strings) -> TextFeatures`."""

    def __init__(self, tower: nn.Module, tokenizer, config: TextEncoderConfig):
        super().__init__()
        self.tower, self.tokenizer = tower, tokenizer
        self.readout, self.max_length, self.padding = config.readout, config.max_length, config.padding
        self.token_dim = tower.config.hidden_size
        self.dim = tower.config.projection_dim if self.readout == "text_embeds" else tower.config.hidden_size

    @property
    def special_tokens(self) -> tuple[int, int, int]:
        """(bos, eos, pad) ids of the tokenizer; BERT-style tokenizers use [CLS] and [SEP] for bos and eos."""
        tok = self.tokenizer
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id
        eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        return bos, eos, pad

    def forward(self, texts: list[str]) -> TextFeatures:
        device = self.tower.get_input_embeddings().weight.device
        batch = self.tokenizer(
            list(texts), padding=self.padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(device)
        return self.encode_ids(batch["input_ids"], batch["attention_mask"])

    def encode_ids(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """Token ids `(N, L)` and their attention mask `(N, L)` (1 on real tokens) -> features."""
        out = self.tower(input_ids=ids, attention_mask=attention_mask)
        mask = attention_mask.bool()  # (N, L)
        tokens = out.last_hidden_state  # (N, L, Dh)
        pooled = masked_mean(tokens, mask) if self.readout == "mean" else getattr(out, self.readout)  # (N, D)
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)


def build_text_encoder(
    config: TextEncoderConfig, hub: HubOptions | None, tokenizer_source: str | None = None
) -> tuple[TextEncoder, TextEncoderConfig]:
    """The text encoder a config describes, and the config resolved for saving.

    hub: load pretrained weights and tokenizer from ``config.source``; None builds the architecture
    only, from the saved ``hf_config``, with the tokenizer from `tokenizer_source` (a model folder).
    """
    from transformers import AutoTokenizer

    if hub is None:
        tower = tower_from_config(config.hf_class, config.hf_config)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
        return TextEncoder(tower, tokenizer, config), config
    tower, class_name, readout = load_tower(config.source, hub, TEXT_TOWERS, default=SENTENCE_ENCODER)
    tokenizer = pretrained(AutoTokenizer.from_pretrained, config.source, hub)
    resolved = replace(config, readout=readout, hf_class=class_name, hf_config=saved_config(tower))
    return TextEncoder(tower, tokenizer, resolved), resolved
