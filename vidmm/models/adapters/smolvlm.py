"""SmolVLM2 (video instruct): captions, answers and free prompts over frames vidmm has sampled.

Called as its model card shows, SmolVLM2's processor decodes the file itself, keeps one frame a
second (at most 64), and writes a prompt that names the frame count and the video's duration and
puts each frame's time before its image tokens::

    User: You are provided the following series of six frames from a 0:00:06 [H:MM:SS] video.
    Frame from 00:00:<fake_token_around_image><global-img><image>…  (one such line a frame)
    Describe this video in detail.<end_of_utterance>
    Assistant:

Here the frames come from `vidmm.io`, already decoded, so the processor gets *those* frames, its
own sampling turned off, and metadata that reproduces *their* times and the video's duration: the
model reads the prompt the processor would build for the same frames from the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from vidmm.io.timeline import frame_ends

from ..families import register_family
from ..outputs import FrameAnswer
from ..preprocess import Video, as_batch
from .base import HubAdapter

DEFAULT_PROMPT = "Describe this video in detail."


@dataclass(frozen=True)
class Generated:
    """One reply: its text, the token ids after the prompt, and the summed log-probability of those ids."""

    text: str
    ids: tuple[int, ...]
    logprob: float


@register_family("smolvlm", model_types=("smolvlm",))
class SmolVLMAdapter(HubAdapter):
    """SmolVLM2 video-instruct models (256M, 500M, 2.2B): ``caption_frames``, ``ask_frames``,
    ``generate_frames``. Decoding is greedy, at most ``config.max_new_tokens`` tokens."""

    hf_class = "AutoModelForImageTextToText"
    default_frames = 64  # the processor's video_sampling.max_frames (taken at 1 frame/s)

    @property
    def decode_short_side(self) -> int:
        """Frames are fitted into the processor's ``size`` (longest edge 512 for 256M/500M) and
        squared to ``max_image_size``; decoding at 224 would hand the model upsampled frames, where
        the model card gives it full-size ones. At this short side the processor's resizing alone
        decides what the model sees, as on the card, and a 4K file is still not decoded whole."""
        processor = self.processor.video_processor
        return max(processor.size["longest_edge"], processor.max_image_size["longest_edge"])

    def caption_frames(self, video: Video, timestamps) -> list[str]:
        """A caption per video, from the prompt ``config.prompt`` (default: "Describe this video in detail.")."""
        return self.generate_frames(video, timestamps, self.config.prompt or DEFAULT_PROMPT)

    def generate_frames(self, video: Video, timestamps, prompt: str) -> list[str]:
        """The model's reply to a free `prompt` about each video."""
        return [reply.text for reply in self.replies(video, timestamps, prompt)]

    def ask_frames(self, video: Video, timestamps, question: str) -> list[FrameAnswer]:
        """An answer per video. score: the probability the model gives its whole (greedy) answer, the
        product of its tokens' probabilities, end-of-utterance included when reached. The answer
        rests on every frame shown."""
        replies = self.replies(video, timestamps, question)
        every_frame = tuple(range(as_batch(video).shape[1]))
        return [FrameAnswer(reply.text, math.exp(reply.logprob), every_frame) for reply in replies]

    @torch.inference_mode()
    def replies(self, video: Video, timestamps, text: str) -> list[Generated]:
        """Greedy replies to `text`, one per video of `video` `(T, H, W, 3)` or `(B, T, H, W, 3)`.

        Videos go through one at a time: each gets the prompt and pixels a single call would, with
        no padding between videos of different prompt lengths to change the numbers.
        """
        videos = as_batch(video)  # (B, T, H, W, 3)
        replies = []
        for frames, times in zip(videos, _times(timestamps, len(videos))):
            inputs = self.inputs(frames.cpu().numpy(), times, text)
            out = self.model.generate(
                **inputs.to(self.device, dtype=self.dtype),
                do_sample=False,
                num_beams=1,
                max_new_tokens=self.config.max_new_tokens,
                output_scores=True,
                return_dict_in_generate=True,
            )
            new = out.sequences[0, inputs["input_ids"].shape[1] :]  # (N,) the prompt stripped
            logprobs = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
            text_out = self.processor.decode(new, skip_special_tokens=True).strip()
            replies.append(Generated(text_out, tuple(new.tolist()), float(logprobs.float().sum())))
        return replies

    def inputs(self, frames: np.ndarray, timestamps: Sequence[float], text: str):
        """The processor's model inputs for one video: uint8 `frames` `(T, H, W, 3)` at `timestamps` (s).

        The prompt names the video's length in whole seconds: the last frame's time plus half a
        frame step, exact for vidmm's segment-centre sampling of a whole video or shot.
        """
        times = np.asarray(timestamps, dtype=np.float64)
        duration_s = float(times[-1] + (frame_ends(times)[-1] - times[-1]) / 2)
        # The processor takes a frame's time to be frames_indices / fps: with fps 1 the "indices"
        # are the times themselves. do_sample_frames=False keeps it from resampling these frames.
        metadata = dict(total_num_frames=len(times), fps=1.0, frames_indices=times.tolist(), duration=duration_s)
        messages = [{"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": text}]}]
        return self.processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            processor_kwargs=dict(video_metadata=[metadata], do_sample_frames=False),
        )


def _times(timestamps, batch: int) -> np.ndarray:
    """Timestamps `(T,)` or `(B, T)` as `(B, T)` float seconds."""
    if timestamps is None:
        raise ValueError("SmolVLM2 reads each frame's time in its prompt: pass the frames' timestamps")
    times = np.asarray(timestamps, dtype=np.float64)
    return np.broadcast_to(times, (batch, times.shape[-1]))
