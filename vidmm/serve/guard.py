"""What every request passes before the app sees it: the Host it names, the token, the body's size;
and the security headers every answer carries.

One plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which buffers streamed answers such
as a video). A token is checked in constant time; the login cookie holds a value derived from the
token, not the token itself, and is HttpOnly and SameSite=Strict (another site's page can neither
read it nor send it along with a forged request).
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidmm.serve.errors import error_response

COOKIE = "vidmm_session"
PUBLIC_PATHS = ("/login", "/api/login")  # reachable without the token
PUBLIC_PREFIXES = ("/static/",)  # the web app's own code and styles: no data in them
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
]


def cookie_value(token: str) -> str:
    """What the login cookie holds: a keyed hash of the token (a leaked cookie is not the token)."""
    return hmac.new(token.encode(), b"vidmm serve session", hashlib.sha256).hexdigest()


def host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1'; '[::1]:8000' -> '::1'."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: Host check (allowed_hosts None: any), token check (token None: none), body
    size limit, security headers."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: tuple[str, ...] | None, max_body_bytes: int):
        self.app, self.token, self.allowed_hosts, self.max_body_bytes = app, token, allowed_hosts, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, _with_headers(send))
            return
        length = headers.get("content-length")
        if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > self.max_body_bytes):
            await self._too_large()(scope, receive, _with_headers(send))
            return
        await self._call_limited(scope, receive, _with_headers(send))

    def _refusal(self, scope: Scope, headers: Headers):
        """The answer to a request that may not go on, or None."""
        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in self.allowed_hosts:
            return error_response(400, "this server answers only requests addressed to this machine by a loopback name")
        path = scope["path"]
        if self.token is None or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or self._authorised(headers):
            return None
        if path.startswith("/api/") or path == "/openapi.json":
            return error_response(401, "this server needs its token: an Authorization: Bearer header, or log in at /login",
                                  {"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/login", status_code=303)

    def _authorised(self, headers: Headers) -> bool:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token.encode()):
            return True
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        return hmac.compare_digest(cookies.get(COOKIE, "").encode(), cookie_value(self.token).encode())

    def _too_large(self):
        return error_response(413, self._too_large_message())

    def _too_large_message(self) -> str:
        return f"the request body is over {self.max_body_bytes} bytes"

    async def _call_limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, cutting off a body that grows past the limit (chunked: no length given). The
        cut is an HTTPException, which FastAPI passes through its body parsing to the JSON handlers."""
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large_message())
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except HTTPException as err:
            if err.status_code != 413 or started:
                raise
            await self._too_large()(scope, receive, send)


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)

    return sending
