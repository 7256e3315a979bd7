"""Every error is JSON, ``{"error": "not_found", "message": "one line"}``: never a traceback page."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("vidmm.serve")


class ApiError(Exception):
    """A request the server answers with `status` and a one-line `message`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


# The `error` word of each status the API gives, fixed here (Python renames some phrases: 413).
KINDS = {
    400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 409: "conflict", 410: "gone",
    413: "too_large", 416: "range_not_satisfiable", 422: "invalid_request", 500: "internal_error", 503: "busy",
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = KINDS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return JSONResponse({"error": kind, "message": message}, status_code=status, headers=headers)


def _validation_message(err: RequestValidationError) -> str:
    """'query.k: Input should be less than or equal to 100; ...' from pydantic's list of problems."""
    parts = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Route every kind of failure to a JSON answer."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.message, err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        message = err.detail if isinstance(err.detail, str) else HTTPStatus(err.status_code).phrase
        if err.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        return error_response(err.status_code, message, getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(err))

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, f"internal error ({type(err).__name__}); the server's log has the details")
