"""`vidmm serve`: an HTTP API and a web app over an index, on the library's own calls.

    from vidmm.serve import ServeOptions, create_app, serve
    app = create_app(ServeOptions(db=Path("x.vidmm")))      # a FastAPI app (the model loaded once)
    serve(ServeOptions(db=Path("x.vidmm"), port=8000))      # runs it with uvicorn until Ctrl-C

Loopback only unless given a token; ids in URLs, never paths; media only for the files the index
recorded, unchanged. Needs the `serve` extra (``pip install "vidmm[serve]"``).
"""

from __future__ import annotations

import socket
from typing import Callable

from vidmm.serve.app import create_app
from vidmm.serve.options import ServeError, ServeOptions

__all__ = ["ServeError", "ServeOptions", "create_app", "serve"]


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; `ServeError` when it cannot be (in use, no
    such address), before anything slow is loaded."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


def serve(options: ServeOptions, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve `options.db` until interrupted; ready(url) once the app is loaded and listening.

    Raises `ServeError` for options it cannot serve with (checked first), and what `create_app` raises.
    """
    import uvicorn

    options.check()
    sock = listen(options.host, options.port)
    with sock:
        app = create_app(options)
        host, port = sock.getsockname()[:2]
        if ready is not None:
            ready(f"http://{f'[{host}]' if ':' in host else host}:{port}/")
        config = uvicorn.Config(app, log_level="info", server_header=False, proxy_headers=False, timeout_graceful_shutdown=3)
        uvicorn.Server(config).run(sockets=[sock])
