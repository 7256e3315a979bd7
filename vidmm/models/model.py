"""VideoModel: the whole forward pass, from frames and text to embeddings, scores, answers, captions.

    video (B, T, H, W, 3) uint8
      -> preprocess + frame encoder, time folded into the batch   -> frame features (B, T, Df)
         [concept models: class probabilities -> concept bank    -> (B, T, Dt), in the text space]
      -> temporal module (mean or Transformer)                    -> frames (B, T, D), video (B, D)
      -> heads: retrieval projections (joint space), classifier, QA fusion, caption decoder
    text [N strings] -> text encoder                              -> tokens (N, L, Dt), pooled (N, Dt)

Every verb takes a uint8 video `(T, H, W, 3)` or a batch `(B, T, H, W, 3)` (numpy or torch) and
returns batched results, B = 1 for a single video. A padded batch passes `mask` `(B, T)`, True on
real frames. The embedding entry points (`encode_video`, `encode_frames`, `encode_windows`,
`encode_text`) run under `torch.no_grad()`: they return plain tensors, `.numpy()` works, and
(unlike inference-mode tensors) they can be changed in place or fed on. Training goes through
`encode_features`, which keeps autograd. The other verbs run in inference mode.

The classifier, QA and caption heads are optional; a model built without one does not offer the
verbs that need it (`classify_own`, `ask_frames` and `choose`, `caption_frames` are set to None on
the instance, which is how a `typing.Protocol` reads "not implemented": see `absent_verbs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_model, save_model

from vidmm.io import SamplingPolicy

from .concepts import ConceptBank, concept_names
from .config import ModelConfig
from .families import PARTS, register_family
from .frame_encoders import BACKENDS, FrameRunner, TorchFrames, build_frame_encoder, frame_runner, resolved_unbuilt
from .heads import CaptionDecoder, QAHead, RetrievalHead
from .hub import HubOptions, is_local
from .outputs import FrameAnswer
from .preprocess import Video, as_batch, preprocess
from .shared import ModelBase
from .temporal import build_temporal
from .text_encoders import build_text_encoder

Mask = torch.Tensor | None


def choice_text(question: str, choice: str) -> str:
    """What the QA head reads to score one candidate answer (training must build the same text)."""
    return f"{question} {choice}"


@dataclass(frozen=True)
class VideoFeatures:
    """The temporal module's output: frames `(B, T, D)`, video `(B, D)`, mask `(B, T)` or None."""

    frames: torch.Tensor
    video: torch.Tensor
    mask: Mask


class TextSide(nn.Module):
    """A model's text side as one module: token ids and attention mask `(N, L)` -> the raw text
    embeddings `(N, E)` that `encode_text(..., normalize=False)` gives once tokenised (what a
    search exports: `queries.py`); for a concept-space model, the sentence embeddings `(N, D)`."""

    def __init__(self, model: VideoModel):
        super().__init__()
        self.text_encoder = model.text_encoder
        # A concept-space model (lite) maps the sentence embedding to concepts outside the graph (`wordnet`).
        self.text_proj = nn.Identity() if model.concept_space else model.retrieval.text_proj
        self.training = model.training  # the wrapper's own flag: `train()` would set the model's too

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text_encoder.encode_ids(ids, mask).pooled)


@register_family("vidmm")
class VideoModel(ModelBase, nn.Module):
    """A frame encoder, a temporal module and a text encoder, with retrieval, classification, QA and
    captioning heads (each optional but retrieval). Built from a `ModelConfig`."""

    trainable = True
    concept_space = False  # text embeddings are concept relevances made outside the text tower (lite)
    loads_by_parts = True  # `load(..., parts=("text",))` leaves out the frame encoder

    def __init__(self, config: ModelConfig, frame_encoder: nn.Module | None, text_encoder: nn.Module, frame_width: int | None = None):
        """frame_encoder: None for a model loaded for its text side alone, `frame_width` then being
        its features' width (the heads are built, and loaded, all the same)."""
        super().__init__()
        self.config = config
        self.frame_encoder, self.text_encoder = frame_encoder, text_encoder
        self.concepts = None
        dim = frame_encoder.dim if frame_encoder is not None else frame_width
        if config.concepts is not None:
            if frame_encoder is not None:  # the bank maps frame probabilities: text alone has no use for it
                self.concepts = ConceptBank(concept_names(config.concepts), text_encoder.dim)
            dim = text_encoder.dim
        self.temporal = build_temporal(config.temporal, dim)
        self.retrieval = RetrievalHead(dim, text_encoder.dim, config.retrieval)
        self.classifier = nn.Linear(dim, len(config.labels)) if config.labels else None
        self.qa = QAHead(config.qa, dim, text_encoder.token_dim) if config.qa is not None else None
        self.captioner = None
        if config.caption is not None:
            vocab = len(text_encoder.tokenizer)
            self.captioner = CaptionDecoder(config.caption, vocab, dim, *text_encoder.special_tokens)
        for verb in self.absent_verbs(config):
            setattr(self, verb, None)
        self._frame_backend, self._frame_runners = "auto", {}  # runners by torch's thread count: built on first inference

    @classmethod
    def absent_verbs(cls, config: ModelConfig | Mapping) -> frozenset[str]:
        """The verbs a model of `config` lacks the head for."""
        if not isinstance(config, ModelConfig):
            config = ModelConfig.from_dict(config)
        absent = set()
        if not config.labels:
            absent.add("classify_own")
        if config.qa is None:
            absent |= {"ask_frames", "choose"}
        if config.caption is None:
            absent.add("caption_frames")
        return frozenset(absent)

    @property
    def sampling(self) -> SamplingPolicy:
        return self.config.sampling

    # -- building and saving ------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: ModelConfig | Mapping, hub: HubOptions = HubOptions(), parts: tuple[str, ...] = PARTS) -> VideoModel:
        """Build with pretrained encoders fetched from their sources; other parts start untrained.
        parts without ``frames``: no frame encoder, where its config resolves without it."""
        if not isinstance(config, ModelConfig):
            config = ModelConfig.from_dict(config)
        unbuilt = None if "frames" in parts else resolved_unbuilt(config.frame_encoder)
        if unbuilt is None:
            frame_encoder, frame_config = build_frame_encoder(config.frame_encoder, hub)
        else:
            frame_encoder, frame_config = None, unbuilt[0]
        text_encoder, text_config = build_text_encoder(config.text_encoder, hub)
        resolved = replace(config, frame_encoder=frame_config, text_encoder=text_config)
        model = cls(resolved, frame_encoder, text_encoder, frame_width=unbuilt and unbuilt[1])
        if model.concepts is not None:
            model.concepts.fill(text_encoder)
        return model.eval()

    @classmethod
    def from_dir(cls, path: str | Path, parts: tuple[str, ...] = PARTS) -> VideoModel:
        """Load a folder written by `save`: the config builds the architecture, then the weights.
        parts without ``frames``: the frame encoder's (and concept bank's) weights are left unread."""
        path = Path(path)
        config = ModelConfig.from_dict(json.loads((path / "config.json").read_text()))
        unbuilt = None if "frames" in parts else resolved_unbuilt(config.frame_encoder)
        frame_encoder = build_frame_encoder(config.frame_encoder, hub=None)[0] if unbuilt is None else None
        text_encoder, _ = build_text_encoder(config.text_encoder, hub=None, tokenizer_source=str(path))
        model = cls(config, frame_encoder, text_encoder, frame_width=unbuilt and unbuilt[1])
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=unbuilt is None)
        left_out = [key for key in unexpected if not key.startswith(("frame_encoder.", "concepts."))]
        if missing or left_out:
            raise ValueError(f"{path}: model.safetensors does not fit its config (missing {missing[:3]}, unexpected {left_out[:3]})")
        return model.eval()

    @classmethod
    def weights_available(cls, config: Mapping, hub: HubOptions = HubOptions()) -> bool:
        """Whether `from_config` would find every pretrained part without a download."""
        config = ModelConfig.from_dict(config)
        return is_local(config.frame_encoder.source, hub) and is_local(config.text_encoder.source, hub)

    def save(self, path: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and the tokenizer files into folder `path`."""
        self._encoder()  # a model loaded without its frame encoder would save a model that does not load
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        save_model(self, str(path / "model.safetensors"))  # handles the caption decoder's tied weights
        self.text_encoder.tokenizer.save_pretrained(str(path))
        return path

    @property
    def label_names(self) -> tuple[str, ...]:
        """The trained classifier's labels (``config.labels``); empty for zero-shot-only models."""
        return self.config.labels if self.classifier is not None else ()

    # -- encoding -----------------------------------------------------------------------------

    def use_frame_backend(self, backend: str) -> None:
        """How inference (no autograd) runs the frame encoder: ``auto`` (ONNX Runtime where it is the
        default for the encoder and installed, else torch), ``torch``, ``onnx`` or ``onnx-int8``
        (see `frame_encoders.frame_runner`). Calls that record gradients always run torch."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown frame backend {backend!r}; expected one of {BACKENDS}")
        self._frame_backend, self._frame_runners = backend, {}

    @property
    def frame_backend(self) -> str:
        """The backend inference runs the frame encoder with now (``torch``, ``onnx``, ``onnx-int8``);
        the first call may export the encoder (seconds, once per machine)."""
        return self._inference_frames().backend

    def _encoder(self) -> nn.Module:
        if self.frame_encoder is None:
            raise RuntimeError("this model was loaded without its frame encoder (parts=('text',)): load it whole for frames")
        return self.frame_encoder

    def _inference_frames(self) -> FrameRunner:
        """The backend runner, where it applies: a frozen float32 encoder on a CPU."""
        encoder = self._encoder()
        if encoder.training or self.device.type != "cpu" or self.dtype != torch.float32:
            return TorchFrames(encoder)
        # ONNX Runtime's threads are fixed when its session opens: one session for each thread count
        # torch has had, each opened once (`Index.add` lowers the count beside its decoding worker
        # and gives it back after: a process that indexes and captions in turn switches often).
        threads = torch.get_num_threads()
        if threads not in self._frame_runners:
            self._frame_runners[threads] = frame_runner(encoder, self.config.frame_encoder, self._frame_backend)
        return self._frame_runners[threads]

    def _frames(self) -> FrameRunner:
        """The runner for this call: torch while autograd records (training, `encode_*` outside
        `torch.no_grad`), else the inference backend."""
        return TorchFrames(self._encoder()) if torch.is_grad_enabled() else self._inference_frames()

    def frame_features(self, video: Video) -> torch.Tensor:
        """uint8 video -> per-frame features `(B, T, D)`, the temporal module's input.

        For a concept model these are the frames' concept vectors, already in the text space.
        """
        if self.concepts is not None:
            return self.concepts(self.concept_probs(video))
        return self._per_frame(video, self._frames().features)

    def concept_probs(self, video: Video) -> torch.Tensor:
        """uint8 video -> the frame classifier's class probabilities `(B, T, C)` (concept models)."""
        logits = self._frames().logits
        return self._per_frame(video, lambda pixels: logits(pixels).softmax(-1))

    def _per_frame(self, video: Video, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Apply `fn`: pixels `(N, 3, h, w)` -> `(N, D)` to every frame, in chunks -> `(B, T, D)`."""
        video = as_batch(video)  # (B, T, H, W, 3) uint8
        B, T = video.shape[:2]
        config = self.config.frame_encoder
        out = [
            fn(preprocess(chunk.to(self.device), config.preprocess).to(self.dtype))
            for chunk in video.flatten(0, 1).split(config.chunk_frames)  # (B*T, H, W, 3): time folded into batch
        ]
        return torch.cat(out).unflatten(0, (B, T))  # (B, T, D)

    def encode(self, video: Video, mask: Mask = None) -> VideoFeatures:
        """uint8 video -> contextualised frames `(B, T, D)` and video embedding `(B, D)`."""
        return self.encode_features(self.frame_features(video), mask)

    def encode_features(self, features: torch.Tensor, mask: Mask = None) -> VideoFeatures:
        """Frame features `(B, T, D)` (from `frame_features`, or a feature cache) -> the temporal
        module's output. Training on cached features starts here: everything after the frozen
        frame encoder."""
        mask = None if mask is None else torch.as_tensor(mask, device=self.device).view(-1, mask.shape[-1])  # (B, T)
        frames, pooled = self.temporal(features, mask)
        return VideoFeatures(frames=frames, video=pooled, mask=mask)

    @torch.no_grad()
    def encode_frames(self, video: Video, normalize: bool = True, *, mask: Mask = None) -> torch.Tensor:
        """uint8 video -> per-frame embeddings in the joint video-text space `(B, T, E)`."""
        frames = self.retrieval.video_proj(self.encode(video, mask).frames)
        return F.normalize(frames, dim=-1) if normalize else frames

    @torch.no_grad()
    def encode_video(self, video: Video, normalize: bool = True, *, mask: Mask = None) -> torch.Tensor:
        """uint8 video -> one embedding per video in the joint space `(B, E)`."""
        return self._embed_features(self.frame_features(video), normalize, mask)

    def _embed_features(self, features: torch.Tensor, normalize: bool, mask: Mask = None) -> torch.Tensor:
        """Frame features `(B, T, D)` -> `encode_video`'s embeddings `(B, E)`."""
        pooled = self.retrieval.video_proj(self.encode_features(features, mask).video)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    @torch.no_grad()
    def encode_windows(self, video: np.ndarray, timestamps: np.ndarray) -> torch.Tensor:
        """Unnormalised embeddings `(B, E)` of B index windows `(B, T, H, W, 3)` at `timestamps` `(B, T)`.

        Overlapping windows share frames (2 s every 1 s: half of them), and frames are encoded one
        by one here, so each distinct frame (known by its time) goes through the frame encoder once.
        """
        times = np.asarray(timestamps)
        _, first, where = np.unique(times, return_index=True, return_inverse=True)
        distinct = np.asarray(video).reshape(-1, *video.shape[-3:])[first]  # (U, H, W, 3)
        features = self.frame_features(distinct[None])[0]  # (U, D)
        index = torch.as_tensor(where.reshape(times.shape), device=features.device)  # (B, T) into the distinct frames
        return self._embed_features(features[index], normalize=False)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], normalize: bool = True) -> torch.Tensor:
        """N strings -> embeddings in the joint space `(N, E)`."""
        pooled = self.retrieval.text_proj(self.text_encoder(list(texts)).pooled)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    similarity_metric = "cosine"  # what `similarity` computes, for vector indexes (vidmm.index)

    def similarity(self, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Scores of visual embeddings `(…, E)` against text embeddings `(N, E)` -> `(…, N)`: cosine."""
        return F.normalize(visual, dim=-1) @ F.normalize(text, dim=-1).T

    # -- verbs ----------------------------------------------------------------------------------

    @torch.inference_mode()
    def frame_scores(self, video: Video, queries: str | Sequence[str], mask: Mask = None) -> torch.Tensor:
        """How well each frame matches each query: `(B, T)` for one query string, `(B, T, N)` for N."""
        return self._scores(self.encode_frames(video, normalize=False, mask=mask), queries)

    @torch.inference_mode()
    def video_scores(self, video: Video, queries: str | Sequence[str], mask: Mask = None) -> torch.Tensor:
        """How well each video matches each query: `(B,)` for one query string, `(B, N)` for N."""
        return self._scores(self.encode_video(video, normalize=False, mask=mask), queries)

    def _scores(self, visual: torch.Tensor, queries: str | Sequence[str]) -> torch.Tensor:
        text = self.encode_text([queries] if isinstance(queries, str) else queries, normalize=False)
        scores = self.similarity(visual, text)  # (…, N)
        return scores[..., 0] if isinstance(queries, str) else scores

    @torch.inference_mode()
    def classify_own(self, video: Video, *, mask: Mask = None) -> torch.Tensor:
        """Probabilities `(B, C)` over the trained classifier's labels (`label_names`)."""
        return self.classifier(self.encode(video, mask).video).softmax(-1)

    @torch.inference_mode()
    def zero_shot(self, video: Video, labels: Sequence[str], *, mask: Mask = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-shot over N labels from one pass through the frame encoder: probabilities per video
        `(B, N)`, and each frame's scores `(B, T, N)` (which label fits where)."""
        features = self.encode(video, mask)
        text = self.encode_text(labels, normalize=False)
        video_emb, frames_emb = self.retrieval.video_proj(features.video), self.retrieval.video_proj(features.frames)
        probs = (self.retrieval.logit_scale.exp() * self.similarity(video_emb, text)).softmax(-1)
        return probs, self.similarity(frames_emb, text)

    @torch.inference_mode()
    def answer(self, video: Video, question: str, *, mask: Mask = None) -> torch.Tensor:
        """Probabilities `(B, A)` over the answer vocabulary ``config.qa.answers`` (the QA head)."""
        features = self.encode(video, mask)
        text = self.text_encoder([question] * features.video.shape[0])
        return self.qa(text.tokens, text.mask, features.frames, features.mask).softmax(-1)

    def ask_frames(self, video: Video, timestamps, question: str) -> list[FrameAnswer]:
        """The QA head's most likely answer per video, with its probability; it attends to every
        frame, so the answer rests on all of them. timestamps: unused (the head knows order only)."""
        probs = self.answer(video, question)  # (B, A)
        best = probs.argmax(-1).tolist()
        every_frame = tuple(range(as_batch(video).shape[1]))
        return [FrameAnswer(self.config.qa.answers[a], float(p[a]), every_frame) for a, p in zip(best, probs)]

    @torch.inference_mode()
    def choose(self, video: Video, question: str, choices: Sequence[str], *, mask: Mask = None) -> torch.Tensor:
        """Multiple choice: probabilities `(B, C)` over the C candidate answers."""
        qa = self.qa
        features = self.encode(video, mask)
        B, C = features.video.shape[0], len(choices)
        text = self.text_encoder([choice_text(question, choice) for choice in choices])  # tokens (C, L, Dt)
        # Pair every video with every candidate, rows ordered (video, candidate).
        frames = features.frames.repeat_interleave(C, dim=0)  # (B*C, T, D)
        frame_mask = None if features.mask is None else features.mask.repeat_interleave(C, dim=0)
        tokens, token_mask = text.tokens.repeat(B, 1, 1), text.mask.repeat(B, 1)  # (B*C, L, Dt), (B*C, L)
        return qa.score_choices(tokens, token_mask, frames, frame_mask).view(B, C).softmax(-1)

    @torch.inference_mode()
    def caption_frames(self, video: Video, timestamps=None, *, mask: Mask = None, beam_size: int = 1) -> list[str]:
        """One caption per video from the caption decoder, greedy (beam_size 1) or by beam search.

        timestamps: unused by a decoder, which knows frame order only.
        """
        features = self.encode(video, mask)
        ids = self.captioner.generate(features.frames, features.mask, beam_size=beam_size)
        return self.text_encoder.tokenizer.batch_decode(ids, skip_special_tokens=True)
