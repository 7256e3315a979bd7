"""Tasks on video files, each a thin layer over a model: sample → model → result with evidence.

    caption(model, "talk.mp4")                     # Caption(text, segments, evidence)
    ask(model, "talk.mp4", "is there a dog?")      # Answer(text, score, spans, evidence)
    classify(model, "talk.mp4", ["cooking", "driving"])   # Labels
    tag(model, "talk.mp4")                         # Tags
    embed(model, "talk.mp4")                       # (E,) unit vector

What each task needs from a model is in `protocol`; which frames it is shown, in `frames`. Each
task also works on an open video or a stretch of one (`caption_video`, …), which is what
`vidmm.train.evaluate` scores, so an evaluation sees what the verb would.
"""

from vidmm.tasks.ask import ask, ask_video
from vidmm.tasks.caption import caption, caption_video
from vidmm.tasks.classify import classify, classify_video
from vidmm.tasks.embed import embed, embed_video
from vidmm.tasks.protocol import UnsupportedTaskError, family_tasks, tasks_of
from vidmm.tasks.results import Answer, Caption, Evidence, Labels, LabelScore, Result, Segment, Tags, TagScore, to_dict
from vidmm.tasks.tag import tag, tag_video

__all__ = [
    "Answer",
    "Caption",
    "Evidence",
    "LabelScore",
    "Labels",
    "Result",
    "Segment",
    "TagScore",
    "Tags",
    "UnsupportedTaskError",
    "ask",
    "ask_video",
    "caption",
    "caption_video",
    "classify",
    "classify_video",
    "embed",
    "embed_video",
    "family_tasks",
    "tag",
    "tag_video",
    "tasks_of",
    "to_dict",
]
