"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, and the body cap.

Every failure a client can cause is answered here with a 4xx: a malformed or
invalid body (400), no key (401), an oversized body (413), a full queue (429
with Retry-After), a model still warming (503). Anything else is a bug and
becomes a 500 in the same shape, without the traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from blueprint.errors import BlueprintError
from blueprint.serve.engine import Cancelled

log = logging.getLogger("blueprint.serve")

class ApiError(Exception):
    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}


def error_json(status: int, message: str, type: str, param: str | None = None, code: str | None = None,
               headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


_TYPES = {401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error",
          413: "invalid_request_error", 429: "rate_limit_error", 501: "not_implemented",
          503: "service_unavailable", 504: "timeout"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, e: ApiError):
        return error_json(e.status, e.message, e.type, e.param, e.code, e.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        param = ".".join(loc) or None
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid" or not loc and "JSON" in message:
            message = "the body is not valid JSON"
        return error_json(400, f"{param}: {message}" if param else message, "invalid_request_error", param,
                          first.get("type"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return error_json(e.status_code, str(e.detail), _TYPES.get(e.status_code, "invalid_request_error"),
                          headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_json(500, "internal server error", "server_error")


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, whether it says so in
    Content-Length or arrives chunked (counted as it streams in)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._reject(scope, receive, send)
        seen, rejected = 0, False

        async def counted():
            # Answer 413 as soon as the count passes the cap, then tell the app the client left
            # (it stops reading) and drop whatever it would still send.
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    rejected = True
                    await self._reject(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message):
            if not rejected:
                await send(message)

        await self.app(scope, counted, guarded)

    async def _reject(self, scope, receive, send):
        response = error_json(413, f"request body over {self.max_bytes} bytes", "invalid_request_error",
                              code="body_too_large")
        await response(scope, receive, send)



def job_result(job):
    """A finished job's result, or its failure as the ApiError a client should see."""
    e = job.future.exception()
    if e is None:
        return job.future.result()
    if isinstance(e, BlueprintError):  # input the route's checks let through: still the client's
        raise ApiError(400, str(e))
    if isinstance(e, Cancelled):
        raise ApiError(503, f"cancelled: {e}", "service_unavailable", code="cancelled")
    raise e
