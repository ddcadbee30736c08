"""`newswire serve`: the HTTP API other systems push to and read from.

Thin by design: a POST does what `newswire push` does with a file of the
same kind (``producer.loader.load_bytes``, then ``producer.client.Publisher``)
and answers once the messages are in Redis; the reads are ``worker.store.Store``'s.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from kombu.exceptions import OperationalError
from pydantic import BaseModel

from config.settings import Settings, redact_url
from producer.client import NotConfirmed, Publisher, PushReport
from producer.loader import Item, Refusal, load_bytes
from worker.backlog import Backlog
from worker.store import Store

__all__ = ["KINDS", "RETRY_AFTER_SECONDS", "SOURCE", "make_api"]

# Media type -> the loader's kind: what `push` makes of a file with that suffix.
KINDS = {
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "text/html": "html",
    "text/plain": "text",
}
# A JSON lines body may hold many records, each held to the limit (as push).
JSONL_FACTOR = 64
# What a client told to come back (429, 503) waits, in seconds.
RETRY_AFTER_SECONDS = 5
# The ``source`` of what arrives over HTTP; a record's line or index follows.
SOURCE = "api"


class Queued(BaseModel):
    source: str
    id: str


class Refused(BaseModel):
    source: str
    reason: str


class Accepted(BaseModel):
    """202: every item queued (its article id) and every one refused (why)."""

    queued: list[Queued]
    refused: list[Refused]
    batches: list[str]


class NothingQueued(BaseModel):
    """422: nothing in the body could be queued."""

    detail: str
    refused: list[Refused]


_bearer = HTTPBearer(auto_error=False, description="NEWSWIRE_API_TOKEN, when set")


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        {"detail": reason},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _body(request: Request, cap: int, limit_name: str) -> bytes:
    """The request's body, or a 413 as soon as it is known to exceed ``cap``."""
    too_large = HTTPException(413, f"body over the {cap} byte limit ({limit_name})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def make_api(settings: Settings) -> FastAPI:
    """The app; ``settings`` must name a Redis (``resolve_redis`` first)."""
    url = settings.require_redis_url()
    token = settings.api_token.get_secret_value().encode() if settings.api_token else None
    store = Store.from_settings(settings)
    backlog = Backlog(settings, store.redis, every=1.0)
    publisher = Publisher(settings)
    # One Celery producer shared by the request threads: one send at a time.
    publishing = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        publisher.close()
        store.redis.close()

    api = FastAPI(
        title="newswire",
        summary="Push news payloads to the queue; read what the workers stored.",
        lifespan=lifespan,
    )

    @api.exception_handler(redis.RedisError)
    @api.exception_handler(OperationalError)
    async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
        return _unavailable(f"Redis unavailable at {redact_url(url)}: {type(exc).__name__}")

    @api.exception_handler(NotConfirmed)
    async def _refused(_: Request, exc: Exception) -> JSONResponse:
        # RabbitMQ refused a batch (publisher confirms): retry later.
        return _unavailable(str(exc))

    def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if token is None:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, token):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    v1 = [Depends(authorized)]

    def publish(body: bytes, kind: str) -> PushReport | list[Refusal]:
        found = list(
            load_bytes(SOURCE, body, kind, settings.max_payload_bytes, require_json_body=True)
        )
        if not any(isinstance(item, Item) for item in found):
            return [item for item in found if isinstance(item, Refusal)]
        with publishing:
            return publisher.publish(found)

    @api.post(
        "/v1/articles",
        status_code=202,
        response_model=Accepted,
        dependencies=v1,
        responses={
            413: {"description": "Over NEWSWIRE_MAX_PAYLOAD_BYTES (64x for JSON lines)"},
            415: {"description": f"Not one of {', '.join(KINDS)}"},
            422: {"model": NothingQueued, "description": "Nothing in the body can be queued"},
            429: {"description": "The queue holds over NEWSWIRE_MAX_QUEUED messages"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {media: {"schema": {"type": "string"}} for media in KINDS},
            }
        },
    )
    async def post_articles(request: Request) -> Accepted | JSONResponse:
        """One JSON record or a list of them, JSON lines, an HTML page or a
        scraped text page: queued as `newswire push` queues such a file."""
        kind = KINDS.get(_media_type(request))
        if kind is None:
            raise HTTPException(415, f"Content-Type must be one of {', '.join(KINDS)}")
        queued = await run_in_threadpool(backlog.queued)
        if queued > settings.max_queued:
            raise HTTPException(
                429,
                f"{queued} messages wait in the queue (NEWSWIRE_MAX_QUEUED: "
                f"{settings.max_queued}): retry later",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if kind == "jsonl":
            limit_name = f"{JSONL_FACTOR} x NEWSWIRE_MAX_PAYLOAD_BYTES for JSON lines"
            body = await _body(request, JSONL_FACTOR * settings.max_payload_bytes, limit_name)
        else:
            body = await _body(request, settings.max_payload_bytes, "NEWSWIRE_MAX_PAYLOAD_BYTES")
        result = await run_in_threadpool(publish, body, kind)
        if isinstance(result, list):
            refused = [Refused(source=r.source, reason=r.reason) for r in result]
            nothing = NothingQueued(
                detail=f"nothing queued: {refused[0].reason}" if refused else "nothing queued",
                refused=refused,
            )
            return JSONResponse(nothing.model_dump(), status_code=422)
        return Accepted(
            queued=[Queued(source=s, id=i) for s, i in result.queued],
            refused=[Refused(source=s, reason=r) for s, r in result.refused],
            batches=result.batches,
        )

    @api.get("/v1/articles/{article_id}", dependencies=v1)
    def get_article(article_id: str) -> dict[str, Any]:
        """One stored article, as `newswire show --json` prints it."""
        article = store.get(article_id)
        if article is None:
            raise HTTPException(404, f"no article {article_id}")
        return article

    @api.get("/v1/stats", dependencies=v1)
    def get_stats() -> dict[str, int]:
        """The counters, as `newswire stats --json` prints them."""
        counters = store.stats()
        counters["queued_batches"] = backlog.queued()
        return counters

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        """200 while the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", responses={503: {"description": "Redis does not answer"}})
    def readyz() -> dict[str, str]:
        """200 when Redis answers PING, else 503 with the reason."""
        store.redis.ping()  # a RedisError is answered 503 by _redis_down
        return {"status": "ready"}

    return api
