"""vidmm: understand video — search, caption, answer and classify.

    import vidmm
    video = vidmm.open_video("talk.mp4")
    frames = video.uniform(16, short_side=224)
"""

from vidmm.io import (
    ClipWindow,
    Frames,
    IsolatedReader,
    Video,
    VideoError,
    VideoInfo,
    open_video,
    probe,
)

__version__ = "0.1.0"

__all__ = ["ClipWindow", "Frames", "IsolatedReader", "Video", "VideoError", "VideoInfo", "open_video", "probe"]
