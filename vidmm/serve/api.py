"""The JSON API under /api: search, videos, a video's scores along its length, its media and
thumbnails, the tasks on one video, and the index's status and background add.

Quick reads are plain functions (FastAPI runs them on its worker threads, never on the event
loop); the tasks run on their own pool (`verbs.py`), so a caption in progress never holds up a
search.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from vidmm.index import Hit, IndexedVideo
from vidmm.io import is_image
from vidmm.serve import schemas
from vidmm.serve.errors import ApiError
from vidmm.serve.jobs import Adder
from vidmm.serve.library import Library, file_state
from vidmm.serve.media import file_response
from vidmm.serve.options import MAX_BODY_BYTES, MAX_K, MAX_LABELS, MAX_PAGE, MAX_PENDING_TASKS, MAX_QUERY_CHARS, MAX_TAGS
from vidmm.serve.verbs import VerbRunner
from vidmm.tasks import Answer, Caption, Labels, Tags, ask, caption, classify, tag
from vidmm.tasks.presence import MATCH

COMMON_ERRORS = (400, 401, 413, 422, 500)  # any request: a bad Host or body, no token, too large, invalid, a bug


def errors_doc(*codes: int) -> dict:
    return {code: {"model": schemas.ErrorOut} for code in codes}


def media_url(video_id: str) -> str:
    return f"/api/videos/{video_id}/media"


def thumbnail_url(video_id: str, t: float) -> str:
    return f"/api/videos/{video_id}/thumbnail?t={t:.1f}"


def hit_json(video: IndexedVideo, hit: Hit) -> dict:
    """A search hit as the API gives it: every field of `Hit`, and what a client needs to show it."""
    return {
        **dataclasses.asdict(hit),
        "gone": hit.gone,
        "image": hit.image,
        "video_id": video.video_id,
        "name": Path(hit.path).name,
        "thumbnail_url": thumbnail_url(video.video_id, (hit.start_s + hit.end_s) / 2),
        "media_url": media_url(video.video_id),
    }


def video_json(video: IndexedVideo) -> dict:
    done = video.status == "done"
    return {
        **{f.name: getattr(video, f.name) for f in dataclasses.fields(video) if f.name != "stamp"},
        "name": Path(video.path).name,
        "image": is_image(video.path),
        "file": file_state(video),
        "media_url": media_url(video.video_id) if done else None,
        "thumbnail_url": thumbnail_url(video.video_id, (video.duration_s or 0.0) / 2) if done else None,
    }


@dataclass(frozen=True)
class Served:
    """What the API works with: the index's reading side, the add job, the task pool, the model."""

    library: Library
    adder: Adder
    verbs: VerbRunner
    model: torch.nn.Module
    auth: bool


def api_router(served: Served) -> APIRouter:
    """The /api routes over `served`."""
    library, adder, verbs, model = served.library, served.adder, served.verbs, served.model
    router = APIRouter(prefix="/api", responses=errors_doc(*COMMON_ERRORS))
    query_text = Query(min_length=1, max_length=MAX_QUERY_CHARS, description="What to find, e.g. 'a traffic light'.")

    @router.get("/search", response_model=schemas.SearchOut)
    def search(
        response: Response,
        q: str = query_text,
        k: int = Query(10, ge=1, le=MAX_K, description="How many moments (at most one a video)."),
        path: str | None = Query(None, max_length=MAX_QUERY_CHARS, description="Only videos whose path holds this."),
        from_s: float | None = Query(None, ge=0, allow_inf_nan=False, description="Only moments overlapping from here…"),
        to_s: float | None = Query(None, ge=0, allow_inf_nan=False, description="…to here (seconds into each video)."),
        all: bool = Query(False, description="List the best moments even where no match is likely."),
    ) -> dict:
        """The moments that show what the query names, best first, at most one per video; none is
        "no match" (see `all`), or "can't tell" where the model does not cover the query (`covered`)."""
        begun = time.perf_counter()
        least = 0.0 if all else MATCH
        found = library.search(q, k, path=path or None, from_s=from_s, to_s=to_s, min_probability=least)
        # The search's own time, so a client can tell it from what HTTP and JSON add (bench_serve.py).
        response.headers["Server-Timing"] = f"search;dur={1000 * (time.perf_counter() - begun):.2f}"
        hits = [hit_json(video, hit) for video, hit in found]
        return {"query": q, "k": k, "min_probability": least, "covered": library.covers(q), "hits": hits}

    @router.get("/videos", response_model=schemas.VideoPage)
    def videos(
        offset: int = Query(0, ge=0, le=10**9),
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        status: Literal["done", "failed"] | None = Query(None, description="Only videos indexed (done) or not (failed)."),
        name: str | None = Query(None, max_length=MAX_QUERY_CHARS, description="Only videos whose path holds this."),
    ) -> dict:
        """A page of the index's videos, in path order, with their status and, for failures, why."""
        total, page = library.page(offset, limit, status, name)
        return {"total": total, "offset": offset, "limit": limit, "items": [video_json(v) for v in page]}

    @router.get("/videos/{video_id}", response_model=schemas.VideoOut, responses=errors_doc(404))
    def video(video_id: str) -> dict:
        """One video: its file, status, duration and URLs."""
        return video_json(library.video(video_id))

    @router.get("/videos/{video_id}/scores", response_model=schemas.TimelineOut, responses=errors_doc(404, 409))
    def scores(video_id: str, q: str = query_text) -> dict:
        """The query's score of every window of one video: where along it the query matches."""
        found = library.video(video_id)
        windows = [{"start_s": a, "end_s": b, "score": s, "probability": p} for a, b, s, p in library.timeline(found, q)]
        return {"video_id": video_id, "query": q, "duration_s": found.duration_s, "windows": windows}

    @router.get(
        "/videos/{video_id}/media",
        response_class=Response,
        responses={
            200: {"content": {"video/*": {}}, "description": "The whole file."},
            206: {"content": {"video/*": {}}, "description": "The byte range asked for."},
            **errors_doc(404, 409, 410, 416),
        },
    )
    def media(video_id: str, request: Request) -> Response:
        """The video file, only if the index recorded it and it is unchanged; honours Range."""
        found = library.video(video_id)
        return file_response(library.open_file(found), found.path, request.headers.get("range"), request.headers.get("if-range"))

    @router.get(
        "/videos/{video_id}/thumbnail",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}, "description": "A JPEG."}, **errors_doc(404, 409, 410)},
    )
    def thumbnail(video_id: str, t: float = Query(0.0, ge=0, allow_inf_nan=False, description="Seconds into the video.")) -> FileResponse:
        """The frame on screen at t (clamped into the video), 360 px on its short side, cached on disk."""
        jpeg = library.thumbnail(library.video(video_id), t)
        return FileResponse(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    async def run_task(video_id: str, name: str, args: tuple, call) -> object:
        """`call(path)` on the pool, keyed by the file's version and the task's arguments."""
        found = await run_in_threadpool(library.video, video_id)
        path = await run_in_threadpool(library.checked_path, found)
        return await verbs.run((name, video_id, found.stamp, args), lambda: call(path))

    @router.get("/videos/{video_id}/caption", response_model=Caption, responses=errors_doc(404, 409, 410, 503))
    async def caption_video(video_id: str):
        """A caption of the whole video and one per shot, with times."""
        return await run_task(video_id, "caption", (), lambda path: caption(model, path))

    @router.get("/videos/{video_id}/tags", response_model=Tags, responses=errors_doc(404, 409, 410, 503))
    async def tag_video(video_id: str, top: int = Query(5, ge=1, le=MAX_TAGS, description="At most this many tags.")):
        """The concepts the video shows, with where."""
        return await run_task(video_id, "tag", (top,), lambda path: tag(model, path, top_k=top))

    @router.post("/videos/{video_id}/ask", response_model=Answer, responses=errors_doc(404, 409, 410, 503))
    async def ask_video(video_id: str, body: schemas.AskIn):
        """Answer a question about the video, with where the answer is seen."""
        return await run_task(video_id, "ask", (body.question,), lambda path: ask(model, path, body.question))

    @router.post("/videos/{video_id}/classify", response_model=Labels, responses=errors_doc(404, 409, 410, 503))
    async def classify_video(video_id: str, body: schemas.ClassifyIn):
        """Rank free-text labels for the video (zero-shot), with where each fits."""
        labels = tuple(body.labels)
        return await run_task(video_id, "classify", labels, lambda path: classify(model, path, list(labels)))

    @router.get("/status", response_model=schemas.StatusOut)
    def status() -> dict:
        """The index at a glance, and the background add."""
        videos = library.snapshot().videos
        done = [v for v in videos if v.status == "done"]
        limits = {
            "max_k": MAX_K, "max_query_chars": MAX_QUERY_CHARS, "max_page": MAX_PAGE, "max_labels": MAX_LABELS, "max_tags": MAX_TAGS,
            "max_body_bytes": MAX_BODY_BYTES, "max_pending_tasks": MAX_PENDING_TASKS,
        }
        return {
            "db": str(library.index.path), "videos": len(videos), "done": len(done), "failed": len(videos) - len(done),
            "windows": sum(v.n_windows for v in done), "auth": served.auth, "add": adder.state.to_dict(), "limits": limits,
        }

    @router.get("/index/add", response_model=schemas.AddStateOut)
    def add_state() -> dict:
        """How far the background add got."""
        return adder.state.to_dict()

    @router.post("/index/add", status_code=202, response_model=schemas.AddStateOut, responses=errors_doc(409))
    def add(body: schemas.AddIn | None = None) -> dict:
        """Index the server's folders in the background (new and changed files; unchanged ones are
        skipped). One add at a time: 409 while one runs, here or in another process."""
        return adder.start(prune=body.prune if body is not None else False).to_dict()

    return router
