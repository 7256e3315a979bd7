"""Preprocessing against the reference it imitates: the processors' per-image PIL resize and crop."""

import numpy as np
import pytest
import torch
from PIL import Image

from vidmm.data.photos import random_reel
from vidmm.models.config import PreprocessConfig
from vidmm.models.preprocess import preprocess

pytest.importorskip("skimage")

LITE = PreprocessConfig(size=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def photo_frames(width: int, height: int, count: int = 6) -> np.ndarray:
    """Real-content frames `(count, height, width, 3)` uint8: pans over scikit-image photos."""
    reel = random_reel(0)
    times = np.linspace(0, reel.duration_s - 0.01, count)
    return np.stack([reel(float(t), width, height) for t in times])


def pil_reference(frames: np.ndarray, config: PreprocessConfig, resample: int) -> torch.Tensor:
    """What a processor does to each frame: PIL resize (short side), centre crop, normalise."""
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        scale = config.size / min(h, w)
        size = (max(config.size, round(w * scale)), max(config.size, round(h * scale)))  # PIL: (W, H)
        image = np.asarray(Image.fromarray(frame).resize(size, resample))
        top, left = (size[1] - config.crop) // 2, (size[0] - config.crop) // 2
        out.append(image[top : top + config.crop, left : left + config.crop])
    pixels = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255
    return (pixels - torch.tensor(config.mean)[:, None, None]) / torch.tensor(config.std)[:, None, None]


@pytest.mark.parametrize(
    "width, height, interpolation, resample",
    [(398, 224, "bicubic", Image.BICUBIC), (640, 360, "bicubic", Image.BICUBIC), (398, 224, "bilinear", Image.BILINEAR)],
)
def test_preprocess_matches_pil_resize_on_real_photos(width, height, interpolation, resample):
    """Up- (224 -> 256) and downscaling (360 -> 256) of photo frames land within a level of PIL's
    uint8 result (the float resize it replaced was up to 5 levels off: it did not round between
    its two passes); on average within a hundredth of a level."""
    config = PreprocessConfig(**{**LITE.__dict__, "interpolation": interpolation})
    frames = photo_frames(width, height)
    levels = (preprocess(torch.from_numpy(frames), config) - pil_reference(frames, config, resample)).abs() * 127.5
    assert levels.max() <= 2.0 + 1e-3  # rounding of PIL's 22-bit fixed point against torch's, at a few edges
    assert levels.mean() < 0.01


def test_preprocess_returns_float_pixels_laid_out_channels_last():
    frames = torch.from_numpy(photo_frames(320, 240, count=2))
    pixels = preprocess(frames, LITE)
    assert pixels.dtype == torch.float32 and pixels.shape == (2, 3, 224, 224)
    assert pixels.is_contiguous(memory_format=torch.channels_last)
    assert -1.0 <= pixels.min() and pixels.max() <= 1.0


def test_preprocess_of_a_strided_batch_equals_that_of_a_copy():
    """A slice of a larger array (every other frame) is read as it is, without a copy first."""
    frames = torch.from_numpy(photo_frames(320, 240, count=4))
    torch.testing.assert_close(preprocess(frames[::2], LITE), preprocess(frames[::2].clone(), LITE))
