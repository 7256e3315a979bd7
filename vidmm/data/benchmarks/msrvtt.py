"""MSR-VTT (Xu et al. 2016): text-video retrieval on the 1k-A test split, the 9k training split, and
MSRVTT-QA (Xu et al. 2017) on its videos.

Layout under the data root (CLIP4Clip's files):

    MSRVTT_JSFUSION_test.csv   key,vid_key,video_id,sentence: the 1,000 test videos, one sentence each
    MSRVTT_train.9k.csv        video_id: the 9,000 training videos
    MSRVTT_data.json           {"videos": [...], "sentences": [{"video_id", "caption", "sen_id"}, ...]}
    test_qa.json               MSRVTT-QA: [{"video_id": 7010, "question", "answer", "id"}, ...]
    videos/video0.mp4 …        the 10,000 clips (any of .mp4/.webm/.avi, subfolders allowed)
"""

from __future__ import annotations

from pathlib import Path

from vidmm.data.benchmarks.base import Benchmark, BenchmarkError, Protocol, VideoFolder, caption_text, read_csv, read_json
from vidmm.data.manifest import Example

LAYOUT = (
    "MSR-VTT: the clips from the MSR-VTT release (or CLIP4Clip's MSRVTT.zip) in DATA/videos/; "
    "MSRVTT_JSFUSION_test.csv, MSRVTT_train.9k.csv and MSRVTT_data.json from CLIP4Clip's msrvtt_data.zip "
    "(github.com/ArrowLuo/CLIP4Clip, 'Data Preparing') in DATA/; MSRVTT-QA's test_qa.json "
    "(github.com/xudejing/video-question-answering) in DATA/"
)
FRAMES = 12  # CLIP4Clip: 12 frames a clip on MSR-VTT


def _videos(root: Path) -> VideoFolder:
    return VideoFolder(root / "videos" if (root / "videos").is_dir() else root)


def read_1ka(root: Path) -> Benchmark:
    """The 1k-A test split: 1,000 videos, each with the one sentence JSFusion paired it with (the
    other 19 captions are not queries), scored as a 1,000 x 1,000 ranking."""
    rows = read_csv(root / "MSRVTT_JSFUSION_test.csv", ("video_id", "sentence"))
    videos = _videos(root)
    examples = tuple(
        Example(videos(row["video_id"]), (caption_text(row["sentence"]),), line=n, split="test")
        for n, row in enumerate(rows, 2)
    )
    protocol = Protocol(
        task="retrieval", split="1k-A test (JSFusion's 1,000 videos)", captions="one per video: JSFusion's sentence",
        headline="t2v R@1", num_frames=FRAMES, text="as written (CLIP's tokenizer lowercases)",
    )  # fmt: skip
    return Benchmark("msrvtt-1ka", protocol, examples, videos.missing, LAYOUT)


def read_9k(root: Path) -> Benchmark:
    """The 9k training split with all 20 captions of each video (for `vidmm train`)."""
    ids = [row["video_id"] for row in read_csv(root / "MSRVTT_train.9k.csv", ("video_id",))]
    captions = _captions(root)
    videos = _videos(root)
    lacking = [v for v in ids if v not in captions]
    if lacking:
        raise BenchmarkError(f"{root / 'MSRVTT_data.json'}: no sentences for {len(lacking)} training video(s), e.g. {lacking[0]}")
    examples = tuple(Example(videos(v), tuple(captions[v]), line=n, split="train") for n, v in enumerate(ids, 2))
    protocol = Protocol(task="retrieval", split="9k train", captions="all 20 per video", headline="t2v R@1", num_frames=FRAMES)
    return Benchmark("msrvtt-9k", protocol, examples, videos.missing, LAYOUT)


def read_qa(root: Path) -> Benchmark:
    """MSRVTT-QA's test set: open-ended questions, one answer word each, accuracy by exact match
    (after VQA-style normalisation)."""
    items = read_json(root / "test_qa.json")
    if not isinstance(items, list) or any(not isinstance(i, dict) or not {"video_id", "question", "answer"} <= set(i) for i in items):
        raise BenchmarkError(f"{root / 'test_qa.json'}: expected a list of objects with video_id, question, answer")
    videos = _videos(root)
    examples = tuple(
        Example(videos(f"video{item['video_id']}"), question=str(item["question"]), answer=str(item["answer"]), line=n, split="test")
        for n, item in enumerate(items, 1)
    )
    protocol = Protocol(task="qa", split="test", captions="a question and its one-word answer", headline="accuracy")
    return Benchmark("msrvtt-qa", protocol, examples, videos.missing, LAYOUT)


def _captions(root: Path) -> dict[str, list[str]]:
    """video id -> its sentences in MSRVTT_data.json, in sen_id order."""
    data = read_json(root / "MSRVTT_data.json")
    sentences = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(sentences, list):
        raise BenchmarkError(f"{root / 'MSRVTT_data.json'}: expected an object with a 'sentences' list")
    by_video: dict[str, list[tuple[int, str]]] = {}
    for s in sentences:
        by_video.setdefault(str(s["video_id"]), []).append((int(s.get("sen_id", 0)), caption_text(s["caption"])))
    return {video: [text for _, text in sorted(rows)] for video, rows in by_video.items()}
