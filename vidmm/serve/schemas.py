"""The JSON the API takes and gives (and so its OpenAPI schema). Answers of the tasks are the
library's own result dataclasses (`vidmm.tasks.Caption`, ...), not copies of them.

A search hit is the library's `Hit` as a dict plus what a client needs to show it (ids and URLs);
fields the library adds to `Hit` later pass through unchanged, and declaring them here documents them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidmm.serve.options import MAX_LABELS, MAX_QUERY_CHARS

Text = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]


class ErrorOut(BaseModel):
    error: str = Field(description="The HTTP status as a word: not_found, conflict, …")
    message: str = Field(description="What went wrong, in one line.")


class HitOut(BaseModel):
    model_config = ConfigDict(extra="allow")  # new Hit fields pass through

    video_id: str
    name: str = Field(description="The file's name.")
    path: str
    start_s: float
    end_s: float
    probability: float = Field(description="That the moment shows what the query names (what 0.8 means: README).")
    score: float = Field(description="The model's raw similarity of the moment's best window to the query: for ranking.")
    gone: bool = Field(description="The file is no longer where it was indexed.")
    image: bool = Field(description="A still image (one moment), not a video.")
    thumbnail_url: str = Field(description="A JPEG of the moment's middle frame.")
    media_url: str = Field(description="The video, with byte ranges: play it from start_s.")


class SearchOut(BaseModel):
    query: str
    k: int
    min_probability: float = Field(description="Moments less likely than this are left out: no hits is 'no match'.")
    covered: bool = Field(
        description="Whether the model can judge the query (lite: it names one of ImageNet's 1,000 things); "
        "if not, its scores are about 0 everywhere: 'can't tell', not 'no match'."
    )
    hits: list[HitOut]


class VideoOut(BaseModel):
    video_id: str
    name: str
    path: str
    status: Literal["done", "failed"]
    error: str | None = Field(description="Why the file could not be indexed.")
    duration_s: float | None
    n_windows: int
    indexed_at: datetime | None
    image: bool = Field(description="A still image (one moment), not a video.")
    file: Literal["ok", "changed", "gone"] = Field(description="The file now, against the one indexed.")
    media_url: str | None = Field(description="None for a video that was not indexed.")
    thumbnail_url: str | None


class VideoPage(BaseModel):
    total: int = Field(description="Videos matching the filters, on every page.")
    offset: int
    limit: int
    items: list[VideoOut]


class WindowOut(BaseModel):
    start_s: float
    end_s: float
    score: float
    probability: float = Field(description="That the window shows what the query names.")


class TimelineOut(BaseModel):
    video_id: str
    query: str
    duration_s: float | None
    windows: list[WindowOut] = Field(description="Every window of the video, in time order.")


class FailureOut(BaseModel):
    path: str
    reason: str


class AddStateOut(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    folders: list[str]
    prune: bool
    started_at: datetime | None
    finished_at: datetime | None
    files_done: int
    files_total: int | None
    current: str | None = Field(description="The file being embedded, when it is long enough to report on.")
    current_done_s: float | None
    current_duration_s: float | None
    added: int
    skipped: int
    failed: int
    failures: list[FailureOut] = Field(description="The first failures of this add, with why.")
    pruned: int
    error: str | None = Field(description="Why the add stopped, when it failed as a whole.")


class StatusOut(BaseModel):
    db: str
    videos: int
    done: int
    failed: int
    windows: int
    auth: bool = Field(description="Whether requests need the token.")
    add: AddStateOut
    limits: dict[str, int]


class AddIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prune: bool = Field(False, description="Then forget indexed videos whose files are gone.")


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Text


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[Text] = Field(min_length=1, max_length=MAX_LABELS)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=1000)
