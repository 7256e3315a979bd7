"""The model's parts on tiny configs: preprocessing, attention, temporal modules, heads."""

import math

import numpy as np
import pytest
import torch

from vidmm.models.attention import Attention, Block
from vidmm.models.config import CaptionConfig, ModelConfig, PreprocessConfig, QAConfig, RetrievalConfig, TemporalConfig
from vidmm.models.heads import CaptionDecoder, QAHead, RetrievalHead, info_nce
from vidmm.models.preprocess import as_batch, preprocess
from vidmm.models.temporal import MeanPool, TemporalTransformer

torch.manual_seed(0)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- preprocessing ---------------------------------------------------------------------------------


def test_preprocess_shapes_and_values_of_a_constant_frame():
    config = PreprocessConfig(size=40, crop=32, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    frames = torch.empty(3, 48, 64, 3, dtype=torch.uint8)
    frames[:] = torch.tensor([255, 102, 0], dtype=torch.uint8)
    pixels = preprocess(frames, config)
    assert pixels.shape == (3, 3, 32, 32)
    expected = (torch.tensor([1.0, 0.4, 0.0]) - torch.tensor(config.mean)) / torch.tensor(config.std)
    torch.testing.assert_close(pixels, expected[None, :, None, None].expand_as(pixels))


def test_preprocess_keeps_the_centre_of_a_wide_frame():
    frame = np.zeros((1, 60, 180, 3), np.uint8)
    frame[:, :, 60:120] = 255  # only the middle third is white
    pixels = preprocess(torch.from_numpy(frame), PreprocessConfig(size=30, crop=30, mean=(0, 0, 0), std=(1, 1, 1)))
    assert pixels.shape == (1, 3, 30, 30)
    assert pixels[..., :, 2:-2].min() > 0.95  # all white inside, allowing the resize to blur the edges


def test_preprocess_squash_resizes_both_sides():
    frames = torch.zeros(2, 30, 90, 3, dtype=torch.uint8)
    assert preprocess(frames, PreprocessConfig(size=16, crop=16, squash=True)).shape == (2, 3, 16, 16)


def test_as_batch_accepts_one_video_or_a_batch_and_rejects_the_rest():
    assert as_batch(np.zeros((4, 8, 8, 3), np.uint8)).shape == (1, 4, 8, 8, 3)
    assert as_batch(torch.zeros(2, 4, 8, 8, 3, dtype=torch.uint8)).shape == (2, 4, 8, 8, 3)
    with pytest.raises(TypeError):
        as_batch(np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        as_batch(np.zeros((8, 8, 3), np.uint8))


# -- attention -------------------------------------------------------------------------------------


def test_causal_attention_does_not_look_ahead():
    attn = Attention(16, 4).eval()
    x = torch.randn(2, 5, 16)
    changed = x.clone()
    changed[:, 3:] = torch.randn(2, 2, 16)
    torch.testing.assert_close(attn(x, causal=True)[:, :3], attn(changed, causal=True)[:, :3])
    assert not torch.allclose(attn(x, causal=True)[:, 3:], attn(changed, causal=True)[:, 3:])


def test_cross_attention_ignores_masked_context():
    block = Block(16, 4, context_dim=8).eval()
    x, context = torch.randn(2, 3, 16), torch.randn(2, 6, 8)
    mask = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    changed = context.clone()
    changed[0, 4:] = 100.0
    out, out_changed = block(x, context=context, context_mask=mask), block(x, context=changed, context_mask=mask)
    torch.testing.assert_close(out[0], out_changed[0])


# -- temporal --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [None, 16])
@pytest.mark.parametrize("readout", ["mean", "cls"])
def test_temporal_transformer_at_init_is_mean_pooling(readout, width):
    config = TemporalConfig(kind="transformer", num_frames=4, layers=2, heads=4, readout=readout, width=width)
    model = TemporalTransformer(config, 32)
    x = torch.randn(3, 6, 32)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] + [False] * 5])
    frames, video = model(x, mask)
    expected_frames, expected_video = MeanPool()(x, mask)
    torch.testing.assert_close(frames, expected_frames)
    torch.testing.assert_close(video, expected_video)
    torch.testing.assert_close(video[1], x[1, :4].mean(0))


def _trained_like(readout: str = "mean", width: int | None = None) -> TemporalTransformer:
    """A temporal Transformer whose residual branch is no longer zero, as after training."""
    config = TemporalConfig(kind="transformer", num_frames=8, layers=2, heads=4, readout=readout, width=width)
    model = TemporalTransformer(config, 32)
    torch.nn.init.normal_(model.proj.weight, std=0.2)
    return model.eval()


@pytest.mark.parametrize("width", [None, 16])
@pytest.mark.parametrize("T", [1, 3, 8, 40])
def test_temporal_transformer_takes_any_number_of_frames(T, width):
    model = _trained_like(width=width)
    frames, video = model(torch.randn(2, T, 32))
    assert frames.shape == (2, T, 32) and video.shape == (2, 32)
    assert torch.isfinite(frames).all() and torch.isfinite(video).all()


def test_a_narrower_transformer_has_fewer_parameters_and_the_frames_keep_their_width():
    wide, narrow = _trained_like(), _trained_like(width=16)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters()) / 2
    frames, video = narrow(torch.randn(2, 5, 32))
    assert frames.shape == (2, 5, 32) and video.shape == (2, 32) and narrow.pos.shape == (8, 16)


def test_position_embeddings_are_stretched_not_cut():
    model = _trained_like()
    torch.testing.assert_close(model.positions(8), model.pos)
    stretched = model.positions(15)
    assert stretched.shape == (15, 32)
    torch.testing.assert_close(stretched[0], model.pos[0])
    torch.testing.assert_close(stretched[-1], model.pos[-1])
    torch.testing.assert_close(stretched[2], model.pos[1])  # 15 points land on every half step of 8


@pytest.mark.parametrize("width", [None, 16])
@pytest.mark.parametrize("readout", ["mean", "cls"])
def test_padding_does_not_change_real_frames_or_the_video(readout, width):
    model = _trained_like(readout, width)
    x = torch.randn(1, 6, 32)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    other = x.clone()
    other[:, 4:] = torch.randn(1, 2, 32) * 10
    frames, video = model(x, mask)
    frames2, video2 = model(other, mask)
    torch.testing.assert_close(frames[:, :4], frames2[:, :4])
    torch.testing.assert_close(video, video2)
    assert (frames[:, 4:] == 0).all()
    assert not torch.allclose(video, x[:, :4].mean(1))  # trained: no longer plain mean pooling


# -- heads -----------------------------------------------------------------------------------------


def test_retrieval_head_keeps_the_encoder_space_or_projects():
    identity = RetrievalHead(16, 16, RetrievalConfig())
    x = torch.randn(3, 16)
    assert torch.equal(identity.video_proj(x), x) and torch.equal(identity.text_proj(x), x)
    with pytest.raises(ValueError):
        RetrievalHead(16, 24, RetrievalConfig())
    projected = RetrievalHead(16, 24, RetrievalConfig(embed_dim=8, temperature=0.05))
    assert projected.video_proj(x).shape == (3, 8) and projected.text_proj(torch.randn(2, 24)).shape == (2, 8)
    assert math.isclose(projected.logit_scale.exp().item(), 20.0, rel_tol=1e-5)


def test_info_nce_rewards_matching_pairs_and_trains_the_temperature():
    head = RetrievalHead(8, 8, RetrievalConfig())
    video = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    loss_matched = info_nce(head.logits(video, video))
    loss_shuffled = info_nce(head.logits(video, video.roll(1, dims=0)))
    assert loss_matched < 0.1 < loss_shuffled
    assert math.isclose(info_nce(torch.zeros(4, 4)).item(), math.log(4), rel_tol=1e-6)
    loss_matched.backward()
    assert head.logit_scale.grad is not None


def test_qa_head_answers_and_scores_choices():
    qa = QAHead(QAConfig(answers=("yes", "no", "red"), layers=1, heads=4), dim=32, text_dim=24).eval()
    tokens, token_mask = torch.randn(5, 7, 24), torch.ones(5, 7, dtype=torch.bool)
    frames = torch.randn(5, 6, 32)
    frame_mask = torch.tensor([[True] * 6] * 4 + [[True] * 3 + [False] * 3])
    assert qa(tokens, token_mask, frames, frame_mask).shape == (5, 3)
    scores = qa.score_choices(tokens, token_mask, frames, frame_mask)
    assert scores.shape == (5,)
    other = frames.clone()
    other[4, 3:] = 50.0
    assert torch.equal(scores[4], qa.score_choices(tokens, token_mask, other, frame_mask)[4])


BOS, EOS, PAD, VOCAB = 1, 2, 0, 20


def _decoder(max_length: int = 10) -> CaptionDecoder:
    config = CaptionConfig(width=32, layers=2, heads=4, max_length=max_length)
    return CaptionDecoder(config, vocab_size=VOCAB, context_dim=16, bos=BOS, eos=EOS, pad=PAD)


def _assert_valid_captions(tokens: torch.Tensor, max_length: int) -> None:
    assert tokens.dtype == torch.long and tokens.shape[1] <= max_length - 1
    assert ((tokens >= 0) & (tokens < VOCAB)).all()
    for row in tokens.tolist():
        assert BOS not in row
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1 :])


@pytest.mark.parametrize("beam_size", [1, 3])
def test_untrained_decoder_produces_valid_token_sequences(beam_size):
    decoder = _decoder().eval()
    tokens = decoder.generate(torch.randn(3, 5, 16), torch.ones(3, 5, dtype=torch.bool), beam_size=beam_size)
    assert tokens.shape[0] == 3
    _assert_valid_captions(tokens, 10)


def test_decoder_learns_a_caption_and_greedy_and_beam_both_find_it():
    torch.manual_seed(0)
    decoder = _decoder()
    frames = torch.randn(2, 4, 16)
    captions = torch.tensor([[BOS, 5, 6, 7, EOS, PAD, PAD], [BOS, 9, 8, EOS, PAD, PAD, PAD]])
    optimiser = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    for _ in range(150):
        optimiser.zero_grad()
        decoder.loss(captions, frames).backward()
        optimiser.step()
    decoder.eval()
    for beam_size in (1, 4):
        tokens = decoder.generate(frames, beam_size=beam_size)
        _assert_valid_captions(tokens, 10)
        assert tokens[0, :4].tolist() == [5, 6, 7, EOS]
        assert tokens[1, :3].tolist() == [9, 8, EOS]


def test_decoder_loss_ignores_what_follows_eos():
    decoder = _decoder()
    frames = torch.randn(1, 4, 16)
    a = torch.tensor([[BOS, 5, EOS, PAD, PAD]])
    b = torch.tensor([[BOS, 5, EOS, 11, 12]])
    torch.testing.assert_close(decoder.loss(a, frames), decoder.loss(b, frames))


# -- config ----------------------------------------------------------------------------------------


def test_config_round_trips_through_plain_data_and_rejects_typos():
    config = ModelConfig.from_dict(
        {
            "family": "vidmm",
            "frame_encoder": {"source": "x", "preprocess": {"size": 256, "mean": [0.5, 0.5, 0.5]}},
            "temporal": {"kind": "transformer", "layers": 2},
            "qa": {"answers": ["yes", "no"]},
            "labels": ["a", "b"],
        }
    )
    assert config.frame_encoder.preprocess.mean == (0.5, 0.5, 0.5) and config.qa.answers == ("yes", "no")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="layerz"):
        ModelConfig.from_dict({"temporal": {"layerz": 2}})


def _appears_or_disappears(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n clips of 8 noisy frame features at a CNN's scale (~1 a dimension): a scene, plus an
    object's features from a random frame on (label 1, appears) or until it (label 0, disappears).
    Each clip's pair is its own reversal, so the mean over frames carries no label."""
    scene = torch.randn(n, 1, 64, generator=generator)  # (n, 1, D)
    thing = torch.randn(64, generator=generator)
    cut = torch.randint(2, 7, (n, 1), generator=generator)
    y = torch.randint(0, 2, (n,), generator=generator)
    late = torch.arange(8)[None] >= cut  # (n, 8)
    present = torch.where(y[:, None] == 1, late, ~late)
    return scene + present[..., None] * thing + 0.5 * torch.randn(n, 8, 64, generator=generator), y


def _accuracy_after_training(temporal: torch.nn.Module) -> float:
    """Few clips, few steps, as in fine-tuning on a small task (and scripts/bench_temporal.py)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x, y = _appears_or_disappears(64 + 128, generator)
    head = torch.nn.Linear(64, 2)
    optimizer = torch.optim.AdamW([*temporal.parameters(), *head.parameters()], lr=1e-3)
    for _ in range(100):
        rows = torch.randint(0, 64, (16,), generator=generator)
        loss = torch.nn.functional.cross_entropy(head(temporal(x[rows])[1]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (head(temporal(x[64:])[1]).argmax(-1) == y[64:]).float().mean().item()


def test_temporal_transformer_learns_order_where_mean_pooling_cannot():
    # With ViT's 0.02-scale positions added to unnormalised features this stayed at chance (0.52).
    torch.manual_seed(0)
    transformer = TemporalTransformer(TemporalConfig(kind="transformer", num_frames=8, layers=2, heads=4), 64)
    assert _accuracy_after_training(transformer) > 0.9
    assert _accuracy_after_training(MeanPool()) < 0.7
