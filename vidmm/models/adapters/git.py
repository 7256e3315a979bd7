"""GIT (Generative Image-to-text Transformer) on video: captions and answers from 6 frames.

    frames (B, T, H, W, 3) uint8 -> resampled to the F frames GIT was trained on (F = 6)
      -> the checkpoint's image processor         -> pixels (B, F, 3, S, S)
      -> CLIP ViT per frame + temporal embedding  -> F * (patches + 1) image tokens
      -> 6-layer BERT-sized decoder, greedy       -> [CLS] (question) answer / caption [SEP]

The hub's video checkpoints are fine-tuned for one task each: ``microsoft/git-base-vatex`` and
``microsoft/git-large-vatex`` caption (VATEX), ``microsoft/git-base-msrvtt-qa`` answers questions
(MSRVTT-QA). Both verbs run on any of them, as GIT is one decoder for both, but a captioning
checkpoint's answers and a QA checkpoint's captions are out of what it was trained for.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..families import register_family
from ..outputs import FrameAnswer
from ..preprocess import Video
from .base import AdapterConfig, HubAdapter
from .frames import pixel_values


@register_family("git", model_types=("git",))
class GitAdapter(HubAdapter):
    """`GitForCausalLM` + its `GitProcessor`; verbs `caption_frames` and `ask_frames`.

    A batch of videos is generated in one `generate` call: greedy decoding makes each video's
    text independent of the others (finished rows are padded, and the padding is dropped).
    """

    hf_class = "GitForCausalLM"
    default_frames = 6

    def __init__(self, config: AdapterConfig, model: nn.Module, processor: Any):
        super().__init__(config, model, processor)
        if model.config.num_image_with_embedding is None:
            raise ValueError(
                f"{config.source} is an image GIT model (no temporal embeddings); vidmm's GIT adapter "
                "takes a video one, e.g. microsoft/git-base-vatex"
            )

    @property
    def model_frames(self) -> int:
        """The clip length the checkpoint has temporal embeddings for (6 on the hub's); every clip is
        resampled to it, as GIT was fine-tuned on that many frames spread over each clip."""
        return self.model.config.num_image_with_embedding

    def pixels(self, video: Video) -> torch.Tensor:
        """uint8 video -> the model's pixel values `(B, F, 3, S, S)`, on its device and in its dtype."""
        F = self.model_frames
        pixels = pixel_values(self.processor.image_processor, video, F, self.device, self.dtype)
        # The hub's video checkpoints ship a VideoMAE image processor, which returns clips; a CLIP
        # one (GIT's image checkpoints) returns the B * F frames one after another.
        return pixels.view(-1, F, *pixels.shape[-3:])

    @torch.inference_mode()
    def caption_frames(self, video: Video, timestamps=None) -> list[str]:
        """One caption per video, decoded greedily as the model card does (a VATEX checkpoint's task).

        timestamps is unused: GIT knows frame order, not time.
        """
        ids = self.model.generate(pixel_values=self.pixels(video), max_new_tokens=self.config.max_new_tokens)
        return self.processor.batch_decode(ids, skip_special_tokens=True)

    @torch.inference_mode()
    def ask_frames(self, video: Video, timestamps, question: str) -> list[FrameAnswer]:
        """One answer per video (an MSRVTT-QA checkpoint's task), as the model card asks: the decoder
        continues ``[CLS] question`` greedily, and the answer is the text after the question.

        score: the probability of that exact answer, the product of its tokens' probabilities
        (softmax of the raw logits), the closing [SEP] included; 1.0 would mean no other answer was
        possible. Every answer attends to every frame, so it rests on all of them.
        """
        pixels = self.pixels(video)  # (B, F, 3, S, S)
        B = pixels.shape[0]
        tokenizer = self.processor.tokenizer
        prompt = [tokenizer.cls_token_id] + tokenizer(question, add_special_tokens=False).input_ids
        prompt_ids = torch.tensor([prompt] * B, device=self.device)  # (B, L)
        out = self.model.generate(
            pixel_values=pixels,
            input_ids=prompt_ids,
            max_new_tokens=self.config.max_new_tokens,
            return_dict_in_generate=True,
            output_logits=True,
        )
        answer_ids = out.sequences[:, prompt_ids.shape[1] :]  # (B, N)
        texts = tokenizer.batch_decode(answer_ids, skip_special_tokens=True)
        scores = self._answer_probability(answer_ids, torch.stack(out.logits, dim=1))  # (B,)
        every_frame = tuple(range(video.shape[-4]))  # T of (…, T, H, W, 3)
        return [FrameAnswer(text.strip(), float(score), every_frame) for text, score in zip(texts, scores)]

    def _answer_probability(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Generated ids `(B, N)` and their step logits `(B, N, V)` -> each answer's probability `(B,)`,
        counting tokens up to and including the first end-of-text token (what follows is padding)."""
        token_logp = logits.float().log_softmax(-1).gather(-1, ids[..., None])[..., 0]  # (B, N)
        eos = self.model.generation_config.eos_token_id
        is_eos = torch.isin(ids, torch.tensor(eos, device=ids.device).flatten())
        before_end = (is_eos.cumsum(-1) - is_eos.long()) == 0  # the first eos counts, later tokens do not
        return (token_logp * before_end).sum(-1).exp().cpu()
