import pytest
import torch

from vidmm.models.config import FrameEncoderConfig
from vidmm.models.frame_encoders import EfficientNetLite0, build_frame_encoder


def test_efficientnet_grid_readout_is_the_last_block_averaged_over_four_quadrants():
    torch.manual_seed(0)
    encoder, _ = build_frame_encoder(FrameEncoderConfig(kind="efficientnet_lite0", readout="grid2x2"), hub=None)
    pooled = EfficientNetLite0()
    pooled.load_state_dict(encoder.state_dict())
    net = encoder.eval().net
    pixels = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        x = net.bn1(net.conv_stem(pixels))
        for block in net.blocks:
            x = block(x)  # ends (2, 320, 7, 7)
        grid = encoder(pixels)
        assert encoder.dim == grid.shape[1] == 4 * 320
        # 7 rows split into 2 overlapping halves: rows 0-3 and 3-6 (likewise columns)
        halves = (slice(0, 4), slice(3, 7))
        expected = torch.stack([x[:, :, r, c].mean((2, 3)) for r in halves for c in halves], -1)  # (2, 320, 4)
        torch.testing.assert_close(grid, expected.flatten(1))
        torch.testing.assert_close(pooled.eval()(pixels), net.bn2(net.conv_head(x)).mean((2, 3)))
    with pytest.raises(ValueError, match="pooled readout"):
        encoder.classify(grid)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite0 readout"):
        EfficientNetLite0("cls")
