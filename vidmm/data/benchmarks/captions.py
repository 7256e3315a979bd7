"""Caption datasets: MSVD and paragraph-to-video DiDeMo and ActivityNet Captions (retrieval), and
VATEX (captioning).

Layouts under the data root:

    MSVD         AllVideoDescriptions.txt (the corpus' English descriptions: "<video> <caption>" a line),
                 test_list.txt (CLIP4Clip's 670 test videos) or youtube_mapping.txt ("<video> vid<N>":
                 vid1301-vid1970 are the test split), YouTubeClips/<video>.avi
    DiDeMo       test_data.json ([{"video", "description", "times", …}]), videos/
    ActivityNet  val_1.json ({"v_<id>": {"duration", "timestamps", "sentences"}}), videos/v_<id>.mp4
    VATEX        vatex_public_test_english_v1.1.json (or vatex_validation_v1.0.json):
                 [{"videoID", "enCap": [10 captions]}], videos/<videoID>.mp4
"""

from __future__ import annotations

from pathlib import Path

from vidmm.data.benchmarks.base import (
    Benchmark,
    BenchmarkError,
    Protocol,
    VideoFolder,
    caption_text,
    first_file,
    read_json,
    read_lines,
)
from vidmm.data.manifest import Example

PARAGRAPH_FRAMES = 64  # CLIP4Clip on DiDeMo and ActivityNet: up to 64 frames (1 a second)
MSVD_TEST = range(1301, 1971)  # the standard split: vid1-1200 train, 1201-1300 val, 1301-1970 test


def read_msvd(root: Path) -> Benchmark:
    """MSVD's 670 test videos; every English description is a query (about 40 a video), and a video
    is found (v2t) at the rank of its best description."""
    descriptions: dict[str, list[str]] = {}
    for line in read_lines(root / "AllVideoDescriptions.txt"):
        if line.startswith("#"):
            continue
        video, _, text = line.partition(" ")
        if text.strip():
            descriptions.setdefault(video, []).append(caption_text(text))
    test = _msvd_test(root)
    lacking = [v for v in test if v not in descriptions]
    if lacking:
        raise BenchmarkError(f"{root / 'AllVideoDescriptions.txt'}: no description of {len(lacking)} test video(s), e.g. {lacking[0]}")
    videos = VideoFolder(root / "YouTubeClips")
    examples = tuple(Example(videos(v), tuple(descriptions[v]), line=n, split="test") for n, v in enumerate(test, 1))
    protocol = Protocol(
        task="retrieval", split="test (670 videos)", captions="all English descriptions; each a query",
        headline="t2v R@1", num_frames=12,
    )  # fmt: skip
    layout = (
        "MSVD: YouTubeClips.tar (the Microsoft Research Video Description Corpus) into DATA/YouTubeClips/, "
        "AllVideoDescriptions.txt and youtube_mapping.txt (or CLIP4Clip's test_list.txt) in DATA/"
    )
    return Benchmark("msvd", protocol, examples, videos.missing, layout)


def _msvd_test(root: Path) -> list[str]:
    if (root / "test_list.txt").is_file():
        return read_lines(root / "test_list.txt")
    mapping = dict(reversed(line.split()[:2]) for line in read_lines(first_file(root, ["youtube_mapping.txt"])))
    return [mapping[f"vid{n}"] for n in MSVD_TEST if f"vid{n}" in mapping]


def read_didemo(root: Path) -> Benchmark:
    """DiDeMo's test split as paragraph-to-video retrieval: each video's descriptions, in file order,
    joined into one paragraph that is its one query (CLIP4Clip's protocol)."""
    path = root / "test_data.json"
    items = read_json(path)
    if not isinstance(items, list) or any(not isinstance(i, dict) or not {"video", "description"} <= set(i) for i in items):
        raise BenchmarkError(f"{path}: expected a list of objects with video and description")
    paragraphs: dict[str, list[str]] = {}
    for item in items:
        paragraphs.setdefault(Path(item["video"]).stem, []).append(caption_text(item["description"]))
    videos = VideoFolder(root / "videos")
    examples = tuple(Example(videos(v), (" ".join(texts),), line=n, split="test") for n, (v, texts) in enumerate(paragraphs.items(), 1))
    protocol = Protocol(
        task="retrieval", split="test", captions="one paragraph a video: its descriptions joined",
        headline="t2v R@1", num_frames=PARAGRAPH_FRAMES,
    )  # fmt: skip
    layout = "DiDeMo: test_data.json (github.com/LisaAnne/LocalizingMoments, data/) in DATA/, the videos in DATA/videos/"
    return Benchmark("didemo", protocol, examples, videos.missing, layout)


def read_activitynet(root: Path) -> Benchmark:
    """ActivityNet Captions val1 as paragraph-to-video retrieval: each video's sentences joined (in
    time order, as the file lists them) into its one query."""
    path = root / "val_1.json"
    data = read_json(path)
    if not isinstance(data, dict) or any(not isinstance(v, dict) or "sentences" not in v for v in data.values()):
        raise BenchmarkError(f"{path}: expected an object of videos, each with sentences")
    videos = VideoFolder(root / "videos")
    examples = []
    for n, (video, item) in enumerate(data.items(), 1):
        bare = video.removeprefix("v_")  # some downloads drop the v_ prefix
        stem = bare if video not in videos.by_stem and bare in videos.by_stem else video
        paragraph = " ".join(caption_text(s) for s in item["sentences"])
        examples.append(Example(videos(stem), (paragraph,), line=n, split="val_1"))
    protocol = Protocol(
        task="retrieval", split="val_1", captions="one paragraph a video: its sentences joined",
        headline="t2v R@1", num_frames=PARAGRAPH_FRAMES,
    )  # fmt: skip
    layout = "ActivityNet Captions: val_1.json (cs.stanford.edu/people/ranjaykrishna/densevid) in DATA/, the videos in DATA/videos/"
    return Benchmark("activitynet-val1", protocol, tuple(examples), videos.missing, layout)


def read_vatex(root: Path) -> Benchmark:
    """VATEX captioning: each video's 10 English captions are its references (CIDEr-D over the split)."""
    path = first_file(root, ["vatex_public_test_english_v1.1.json", "vatex_validation_v1.0.json"])
    items = read_json(path)
    if not isinstance(items, list) or any(not isinstance(i, dict) or not {"videoID", "enCap"} <= set(i) for i in items):
        raise BenchmarkError(f"{path}: expected a list of objects with videoID and enCap")
    videos = VideoFolder(root / "videos")
    split = "public test" if "public_test" in path.name else "validation"
    examples = tuple(
        Example(videos(item["videoID"]), tuple(caption_text(c) for c in item["enCap"]), line=n, split=split)
        for n, item in enumerate(items, 1)
    )
    protocol = Protocol(task="caption", split=split, captions="the 10 English captions are the references", headline="CIDEr")
    layout = "VATEX: vatex_public_test_english_v1.1.json (eric-xw.github.io/vatex-website) in DATA/, the clips as DATA/videos/<videoID>.mp4"
    return Benchmark("vatex", protocol, examples, videos.missing, layout)
