"""Tasks on video files, each a thin layer over a model: sample → model → result with evidence."""

from vidmm.tasks.ask import ask
from vidmm.tasks.caption import caption
from vidmm.tasks.classify import classify, embed, tag
from vidmm.tasks.results import Answer, Caption, Evidence, Labels, LabelScore, Result, Segment, Tags, TagScore, to_dict

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
    "ask",
    "caption",
    "classify",
    "embed",
    "tag",
    "to_dict",
]
