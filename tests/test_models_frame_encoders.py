import pytest
import torch

from vidmm.models.config import FrameEncoderConfig
from vidmm.models.frame_encoders import EfficientNetLite0, build_frame_encoder


def test_efficientnet_grid_readout_is_the_final_map_averaged_over_four_quadrants():
    torch.manual_seed(0)
    encoder, _ = build_frame_encoder(FrameEncoderConfig(kind="efficientnet_lite0", readout="grid2x2"), hub=None)
    pooled = EfficientNetLite0()
    pooled.load_state_dict(encoder.state_dict())
    pixels = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        grid, fmap = encoder.eval()(pixels), encoder.net.forward_features(pixels)  # (2, 5120), (2, 1280, 7, 7)
        assert encoder.dim == grid.shape[1] == 4 * 1280
        # 7 rows split into 2 overlapping halves: rows 0-3 and 3-6 (likewise columns)
        halves = (slice(0, 4), slice(3, 7))
        expected = torch.stack([fmap[:, :, r, c].mean((2, 3)) for r in halves for c in halves], -1)  # (2, 1280, 4)
        torch.testing.assert_close(grid, expected.flatten(1))
        torch.testing.assert_close(pooled.eval()(pixels), fmap.mean((2, 3)))
    with pytest.raises(ValueError, match="pooled readout"):
        encoder.classify(grid)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite0 readout"):
        EfficientNetLite0("cls")
