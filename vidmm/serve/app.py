"""The FastAPI app: the JSON API (`api.py`), the web app's pages and files, the login, and what
guards them all (`guard.py`). The model is loaded once, here; requests never load it again."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from vidmm.index import Index
from vidmm.index.location import is_uri, normalized
from vidmm.models.hub import cache_dir
from vidmm.serve import schemas
from vidmm.serve.api import COMMON_ERRORS, Served, api_router, errors_doc
from vidmm.serve.errors import ApiError, install
from vidmm.serve.guard import COOKIE, Guard, cookie_value
from vidmm.serve.jobs import Adder
from vidmm.serve.library import Library
from vidmm.serve.options import MAX_BODY_BYTES, ServeOptions
from vidmm.serve.verbs import VerbRunner

STATIC = Path(__file__).parent / "static"
COOKIE_MAX_AGE_S = 7 * 24 * 3600


def thumbnail_folder(options: ServeOptions) -> Path:
    """Where thumbnails of this index are cached: `options.cache`, else a folder of vidmm's cache
    named after the index's absolute path."""
    if options.cache is not None:
        return Path(options.cache)
    where = options.db if is_uri(options.db) else Path(options.db).resolve()
    key = hashlib.blake2b(str(where).encode(), digest_size=8).hexdigest()
    return cache_dir() / "serve" / key / "thumbnails"


def create_app(options: ServeOptions, *, model: torch.nn.Module | None = None) -> FastAPI:
    """The app serving `options.db`, with `model` (already loaded) or the index's own, loaded now.

    Raises `ServeError` for options it cannot serve with, a `VidmmIndexError` for an index made by
    another model, and `ModelNotAvailableError` for a model that is not on this machine.
    """
    options.check()
    index = Index(options.db, model, model_name=options.model)
    loaded = index.model
    library = Library(index, thumbnail_folder(options))
    served = Served(library, Adder(normalized(options.db), loaded, options.model, options.folders, library.invalidate), VerbRunner(), loaded, options.token is not None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        served.verbs.close()

    app = FastAPI(
        title="vidmm",
        summary="Search, watch and question an indexed video library.",
        version="0.1.0",
        docs_url=None,  # FastAPI's pages load their scripts from a CDN; /docs is ours, offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.served = served
    install(app)
    app.include_router(api_router(served))
    _pages(app, options.token)
    app.add_middleware(Guard, token=options.token, allowed_hosts=options.allowed_hosts, max_body_bytes=MAX_BODY_BYTES)
    if options.cors_origins:  # outside the guard: a browser's preflight carries no token
        app.add_middleware(
            CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Range"],
        )
    return app


def _pages(app: FastAPI, token: str | None) -> None:
    """The web app (one page, its files under /static), the API reference, and the login."""

    def page(name: str):
        def serve_page() -> FileResponse:
            return FileResponse(STATIC / name, media_type="text/html", headers={"Cache-Control": "no-cache"})

        return serve_page

    app.get("/", include_in_schema=False)(page("index.html"))
    app.get("/docs", include_in_schema=False)(page("docs.html"))
    app.get("/login", include_in_schema=False)(page("login.html"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.post("/api/login", status_code=204, response_class=Response, responses=errors_doc(*COMMON_ERRORS))
    def login(body: schemas.LoginIn) -> Response:
        """Exchange the server's token for a session cookie (what the web app's login page does)."""
        answer = Response(status_code=204)
        if token is None:
            return answer  # nothing to log in to
        if not hmac.compare_digest(body.token.encode(), token.encode()):
            raise ApiError(401, "that is not this server's token")
        answer.set_cookie(COOKIE, cookie_value(token), max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict", path="/")
        return answer

    @app.post("/api/logout", status_code=204, response_class=Response, responses=errors_doc(*COMMON_ERRORS))
    def logout() -> Response:
        """Forget the session cookie."""
        answer = Response(status_code=204)
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer
