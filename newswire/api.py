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
from datetime import datetime
from typing import Annotated, Any

import orjson
import redis
import redis.asyncio
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from kombu.exceptions import OperationalError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from config.settings import Settings, redact_url
from newswire import metrics, sse
from newswire.classify import classify_records
from newswire.dlq import check_entries, is_entry_id
from newswire.dlq import replay as replay_entries
from producer.client import NotConfirmed, Publisher, PushReport
from producer.loader import Item, Refusal, load_bytes
from worker.backlog import Backlog
from worker.listing import ArticleFilter, InvalidCursor, Order, Page, decode_cursor, epoch_seconds
from worker.model import load_model
from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import ModelError
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


class DlqSelection(BaseModel):
    """Which dead letters: the entries named, every one with a reason, or all."""

    model_config = ConfigDict(extra="forbid")

    entries: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=100_000
    )
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    all: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> DlqSelection:
        if (self.entries is not None) + (self.reason is not None) + self.all != 1:
            raise ValueError('name "entries", or give a "reason", or "all": true')
        return self


class Replayed(BaseModel):
    entry: str
    id: str


class Skipped(BaseModel):
    entry: str
    reason: str


class ReplayAnswer(BaseModel):
    """Each entry queued again (with its article id), each one skipped (why)."""

    replayed: list[Replayed]
    skipped: list[Skipped]


class Purged(BaseModel):
    purged: int
    missing: int


class Classified(BaseModel):
    """One text's topic, its probability and every label's (POST /v1/classify)."""

    topic: str
    confidence: float
    scores: dict[str, float]
    model_version: str


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


# A dead-letter selection's body: 100,000 entry ids fit.
SELECTION_MAX_BYTES = 4 * 1024 * 1024


async def _selection(request: Request) -> DlqSelection:
    """The body as a ``DlqSelection``; any body that is not one (not JSON,
    not UTF-8, whatever its Content-Type says) is a 422 with the reason."""
    body = await _body(request, SELECTION_MAX_BYTES, "a dead-letter selection")
    try:
        return DlqSelection.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise HTTPException(422, f"{where + ': ' if where else ''}{first['msg']}") from None


_SELECTION_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DlqSelection.model_json_schema()}},
    }
}


def _no_dead_letter(entry: str) -> str:
    return f"no dead letter {entry!r} (replayed or purged already?); see GET /v1/dlq"


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
    keepalive_ms = max(1, int(settings.sse_keepalive * 1000))
    # The event streams' own client: a blocking XREAD each, awaited, so that
    # waiting for events holds neither a thread nor the event loop.
    events_client: Any = redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=settings.sse_keepalive + 10,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        publisher.close()
        store.redis.close()
        await events_client.aclose()

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

    @api.get(
        "/v1/articles",
        dependencies=v1,
        response_model=Page,
        responses={422: {"description": "A parameter out of range, or a cursor not ours"}},
    )
    def list_articles(
        topic: str | None = None,
        outlet: Annotated[str | None, Query(description="Exact, in any case")] = None,
        language: Annotated[str | None, Query(description="e.g. en")] = None,
        since: Annotated[datetime | None, Query(description="Stored at or after")] = None,
        until: Annotated[datetime | None, Query(description="Stored at or before")] = None,
        min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
        order: Order = "desc",
        cursor: Annotated[str | None, Query(description="next_cursor of a page")] = None,
    ) -> Page:
        """Unique articles, newest first (or oldest first with order=asc), a
        page at a time: pass a page's next_cursor to get the next one."""
        try:
            after = decode_cursor(cursor) if cursor is not None else None
        except InvalidCursor as exc:
            raise HTTPException(422, str(exc)) from None
        return store.page(
            topic=topic.strip().lower() if topic else None,
            since=epoch_seconds(since),
            until=epoch_seconds(until),
            after=after,
            order=order,
            limit=limit,
            where=ArticleFilter(outlet=outlet, language=language, min_confidence=min_confidence),
        )

    @api.get("/v1/stats", dependencies=v1)
    def get_stats() -> dict[str, int]:
        """The counters, as `newswire stats --json` prints them."""
        counters = store.stats()
        counters["queued_batches"] = backlog.queued()
        return counters

    @api.get("/v1/stories/{article_id}", dependencies=v1)
    def get_story(article_id: str) -> dict[str, Any]:
        """An article's story: its canonical article and the copies, as
        `newswire story --json` prints it."""
        canonical, copies = store.story(article_id)
        if canonical is None:
            raise HTTPException(404, f"no article {article_id}")
        return {"canonical": canonical, "copies": copies}

    @api.get("/v1/dlq", dependencies=v1)
    def list_dead_letters(
        limit: Annotated[int, Query(ge=1, le=100_000)] = 20,
        reason: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[dict[str, str]]:
        """Dead letters, newest first, as `newswire dlq list --json` prints them."""
        return [{"entry": e, **fields} for e, fields in store.dlq(limit=limit, reason=reason)]

    @api.get("/v1/dlq/{entry}", dependencies=v1)
    def get_dead_letter(entry: str) -> dict[str, str]:
        """One dead letter with its raw payload, as `newswire dlq show --json`."""
        fields = store.dlq_entry(entry) if is_entry_id(entry) else None
        if fields is None:
            raise HTTPException(404, _no_dead_letter(entry))
        return {"entry": entry, **fields}

    def replay(entries: list[str]) -> ReplayAnswer:
        with publishing:
            report = replay_entries(store, publisher, entries)
        return ReplayAnswer(
            replayed=[Replayed(entry=e, id=i) for e, i in report.replayed],
            skipped=[Skipped(entry=e, reason=why) for e, why in report.skipped],
        )

    def selected(selection: DlqSelection) -> list[str]:
        if selection.entries is not None:
            try:
                check_entries(selection.entries)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            return list(dict.fromkeys(selection.entries))
        # Oldest first, as `newswire dlq replay --reason/--all` goes.
        return [e for e, _ in reversed(store.dlq(limit=None, reason=selection.reason))]

    @api.post("/v1/dlq/replay", dependencies=v1, openapi_extra=_SELECTION_BODY)
    def replay_dead_letters(
        selection: Annotated[DlqSelection, Depends(_selection)],
    ) -> ReplayAnswer:
        """Queue dead letters again (after a fix), as `newswire dlq replay`:
        idempotent, each entry removed once queued; the absent are skipped."""
        return replay(selected(selection))

    @api.post(
        "/v1/dlq/{entry}/replay",
        dependencies=v1,
        responses={404: {"description": "No such entry (replayed or purged already?)"}},
    )
    def replay_dead_letter(entry: str) -> ReplayAnswer:
        """Queue one dead letter again; 404 once it was replayed or purged,
        422 when its payload cannot be replayed (kept truncated, a whole message)."""
        if not is_entry_id(entry) or store.dlq_entry(entry) is None:
            raise HTTPException(404, _no_dead_letter(entry))
        answer = replay([entry])
        if not answer.replayed:
            why = answer.skipped[0].reason if answer.skipped else "not replayed"
            status = 404 if why.startswith("no such entry") else 422
            raise HTTPException(status, f"dead letter {entry}: {why}")
        return answer

    @api.post("/v1/dlq/purge", dependencies=v1, openapi_extra=_SELECTION_BODY)
    def purge_dead_letters(selection: Annotated[DlqSelection, Depends(_selection)]) -> Purged:
        """Delete dead letters for good, as `newswire dlq purge`; ``missing``
        counts the named entries that were not there."""
        entries = selected(selection)
        removed = store.dlq_delete(entries)
        named = len(entries) if selection.entries is not None else removed
        return Purged(purged=removed, missing=named - removed)

    @api.delete("/v1/dlq/{entry}", status_code=204, dependencies=v1)
    def delete_dead_letter(entry: str) -> Response:
        """Delete one dead letter for good; 404 when it is not there."""
        if not is_entry_id(entry) or store.dlq_delete([entry]) == 0:
            raise HTTPException(404, _no_dead_letter(entry))
        return Response(status_code=204)

    @api.get(
        "/v1/events",
        dependencies=v1,
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        last_event_id: Annotated[str | None, Header(max_length=64)] = None,
        from_start: bool = False,
    ) -> StreamingResponse:
        """The events stream (`newswire watch`) as Server-Sent Events: an
        event's ``id`` is its stream entry; reconnecting with ``Last-Event-ID``
        resumes right after it; ``from_start=true`` replays the whole stream."""
        if last_event_id is not None and not is_entry_id(last_event_id.strip()):
            raise HTTPException(422, f"Last-Event-ID {last_event_id!r} is not an event id")
        after = last_event_id.strip() if last_event_id else ("0-0" if from_start else None)
        start = await sse.start_id(events_client, store.keys.events, after)
        body = sse.stream_events(events_client, store.keys.events, start, keepalive_ms=keepalive_ms)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            # No caching; nginx and its kind would otherwise buffer the stream.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @api.get(
        "/metrics",
        dependencies=v1,
        response_class=PlainTextResponse,
        responses={200: {"content": {metrics.CONTENT_TYPE: {}}}},
    )
    def get_metrics() -> PlainTextResponse:
        """Counters, gauges and histograms in Prometheus' text format, read
        from Redis: the same from every API process (docs/api.md, "Metrics")."""
        pipe = store.redis.pipeline(transaction=True)
        pipe.hgetall(store.keys.stats)
        pipe.hgetall(store.keys.histograms)
        pipe.llen(settings.queue)
        pipe.xlen(store.keys.dlq)
        stats, histograms, queued, kept = pipe.execute()
        snap = metrics.snapshot(
            {k: int(v) for k, v in stats.items()},
            {k: float(v) for k, v in histograms.items()},
            queued_messages=int(queued),
            dead_letters_kept=int(kept),
        )
        text = metrics.render(snap, live_workers=len(store.live_workers()))
        return PlainTextResponse(text, media_type=metrics.CONTENT_TYPE)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        """200 while the process answers."""
        return {"status": "ok"}

    @api.get(
        "/readyz",
        responses={503: {"description": "Redis does not answer, or no worker sends heartbeats"}},
        response_model=None,
    )
    def readyz() -> dict[str, Any] | JSONResponse:
        """200 when Redis answers and a worker's heartbeat is fresh, else 503
        with the reason."""
        # A RedisError is answered 503 by _redis_down.
        live = store.live_workers()
        if not live:
            return _unavailable(
                "no live worker: none has sent a heartbeat within its NEWSWIRE_DEAD_AFTER"
            )
        return {"status": "ready", "workers": len(live)}

    # POST /v1/classify: the topic model, loaded on first use (the other routes
    # never need it), shared by the request threads: it is read-only.
    models: list[TopicModel] = []
    loading = threading.Lock()

    def model() -> TopicModel:
        with loading:
            if not models:
                models.append(load_model(settings.model_path))
            return models[0]

    def classify_body(body: bytes, kind: str) -> Classified | list[Classified]:
        if kind == "text":
            try:
                records: object = {"text": body.decode("utf-8")}
            except UnicodeDecodeError as exc:
                raise HTTPException(422, f"the body is not UTF-8 (byte {exc.start})") from None
        else:
            try:
                records = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HTTPException(
                    422, f"not valid JSON ({exc.msg} at character {exc.pos + 1})"
                ) from None
        many = isinstance(records, list)
        items = records if isinstance(records, list) else [records]
        if not items or len(items) > settings.max_batch_articles:
            raise HTTPException(
                422,
                f"a list of 1 to {settings.max_batch_articles} items is needed "
                f"(NEWSWIRE_MAX_BATCH_ARTICLES), got {len(items)}",
            )
        try:
            found = [Classified(**r) for r in classify_records(model(), items)]
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        except ModelError as exc:
            raise HTTPException(500, f"the topic model cannot be loaded: {exc}") from None
        return found if many else found[0]

    @api.post(
        "/v1/classify",
        response_model=Classified | list[Classified],
        dependencies=v1,
        responses={
            413: {"description": "Over NEWSWIRE_MAX_PAYLOAD_BYTES"},
            415: {"description": "Not application/json or text/plain"},
            422: {"description": "Not JSON, not UTF-8, or an item with nothing to classify"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_classify(request: Request) -> Classified | list[Classified]:
        """The topic of a JSON object with title/body/text, of each object of a
        list of them, or of a plain text; nothing is stored or queued."""
        kind = KINDS.get(_media_type(request))
        if kind not in ("json", "text"):
            raise HTTPException(415, "Content-Type must be application/json or text/plain")
        body = await _body(request, settings.max_payload_bytes, "NEWSWIRE_MAX_PAYLOAD_BYTES")
        return await run_in_threadpool(classify_body, body, kind)

    return api
