"""How a server is set up: the index it serves, where it listens, who may ask, and its limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from vidmm.index.location import is_uri

# Limits on what one request may ask (all refused with a JSON 413 or 422 past them).
MAX_BODY_BYTES = 64 * 1024  # a request body: questions and label lists are small
MAX_K = 100  # moments per search
MAX_QUERY_CHARS = 500  # a search query, a question, a label
MAX_PAGE = 200  # videos per page of the library
MAX_LABELS = 50  # labels per classify request
MAX_TAGS = 50  # tags asked of one video
MAX_PENDING_TASKS = 8  # caption/ask/classify/tag waiting for the model; more are refused (503)
MIN_TOKEN_CHARS = 16  # a token short enough to guess protects nothing

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ServeError(Exception):
    """The server cannot start as asked: a usage or environment problem, said in one line."""


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@dataclass(frozen=True)
class ServeOptions:
    """What `vidmm serve` was asked for.

    db: the index folder. model: a registered name the index must have been made with (default:
    the index's own). token: every request must carry it (bearer header, or the cookie the login
    page sets); required to listen anywhere but loopback. folders: what the add endpoint indexes
    (a client never names a path). cache: where thumbnails are kept (default: under vidmm's cache).
    cors_origins: web origins allowed to call the API from a browser (default: none).
    """

    db: Path | str  # a folder, or a URI on object storage (s3://bucket/prefix/x.vidmm)
    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None
    token: str | None = None
    folders: tuple[Path, ...] = ()
    cache: Path | None = None
    cors_origins: tuple[str, ...] = ()

    def check(self) -> None:
        """Raise `ServeError` unless the server may start as asked (before anything is loaded)."""
        if not is_loopback(self.host) and not self.token:
            raise ServeError(
                f"listening on {self.host} lets other machines in: give a --token (or set VIDMM_TOKEN), "
                "or leave --host at 127.0.0.1"
            )
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise ServeError(
                f"the token is {len(self.token)} characters; use at least {MIN_TOKEN_CHARS} "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe())")'
            )
        if not (0 <= self.port <= 65535):
            raise ServeError(f"port {self.port} is not between 0 and 65535")
        if not is_uri(self.db) and not Path(self.db).is_dir() and not self.folders:
            raise ServeError(f"{self.db}: no index here; make one with `vidmm index VIDEOS --db {self.db}`, or pass --folder")

    @property
    def allowed_hosts(self) -> tuple[str, ...] | None:
        """Host names a request may address: on loopback only loopback names, so a web page whose
        name resolves to 127.0.0.1 (DNS rebinding) cannot read the API; elsewhere any (the token guards)."""
        return LOOPBACK_HOSTS if is_loopback(self.host) else None
