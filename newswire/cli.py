"""The `newswire` command: push, run workers, read results, train, demo."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from config.resolve import NoRedisConfigured, resolve_redis
from config.settings import Settings, redact_url
from newswire import views
from newswire.views import plain

if TYPE_CHECKING:
    from worker.listing import Order
    from worker.store import Store

# Piped output is not cut to 80 columns: ids and titles stay whole for grep.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # One line a problem: the variable, what is wrong, what to write.
        lines = [
            "".join(f"NEWSWIRE_{str(part).upper()}: " for part in e["loc"][:1])
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        text = f" {lines[0]}" if len(lines) == 1 else "\n  " + "\n  ".join(lines)
        raise click.ClickException(f"invalid configuration:{text}") from None


def _connected() -> Settings:
    try:
        return resolve_redis(_settings())
    except NoRedisConfigured as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _store() -> Iterator[Store]:
    import redis

    from worker.store import Store

    settings = _connected()
    store = Store.from_settings(settings)
    try:
        yield store
    except redis.ConnectionError as exc:
        url = redact_url(settings.redis_url_value or "")
        raise click.ClickException(f"cannot reach Redis at {url}: {exc}") from None
    finally:
        store.redis.close()


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newswire")
def main() -> None:
    """newswire: push news payloads, process them with Celery workers, read results."""


# -- push --------------------------------------------------------------------


def _hidden_files(paths: Iterable[str]) -> int:
    """Files skipped in the directories ``paths`` name: producer.loader walks
    a directory without the entries whose name starts with "."."""
    return sum(
        not child.is_dir()
        for p in paths
        if p != "-" and Path(p).is_dir()
        for child in Path(p).rglob(".*")
    )


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--batch-size", type=click.IntRange(1, 1000), help="Articles per message.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def push(paths: tuple[str, ...], batch_size: int | None, as_json: bool) -> None:
    """Queue files (.txt .html .json .jsonl), directories, or - for stdin."""
    from kombu.exceptions import OperationalError

    from producer import Publisher, load_paths
    from producer.client import NotConfirmed

    settings = _connected()
    if batch_size:
        settings = settings.model_copy(update={"batch_size": batch_size})
    items = list(load_paths(paths, max_payload_bytes=settings.max_payload_bytes))
    hidden = _hidden_files(paths)
    show_bar = len(items) > 20 and err.is_terminal and not as_json
    progress = Progress(
        TextColumn("pushing"), BarColumn(), MofNCompleteColumn(), console=err, disable=not show_bar
    )
    task = progress.add_task("push", total=len(items))
    try:
        with progress, Publisher(settings) as publisher:
            report = publisher.publish(items, on_item=lambda _: progress.advance(task))
    except OperationalError as exc:
        url = redact_url(settings.broker_url_value or "")
        raise click.ClickException(f"cannot reach the broker at {url}: {exc}") from None
    except NotConfirmed as exc:
        # The batches before it were queued (and confirmed): say so.
        raise click.ClickException(f"{exc}; the batches before it were queued") from None
    if as_json:
        _print_json(
            {
                "queued": [{"source": s, "id": i} for s, i in report.queued],
                "refused": [{"source": s, "reason": r} for s, r in report.refused],
                "batches": len(report.batches),
                "hidden_skipped": hidden,
            }
        )
    else:
        for source, article_id in report.queued[:20]:
            out.print(Text.assemble(("queued", "green"), f"  {article_id}  ", plain(source)))
        if len(report.queued) > 20:
            out.print(f"        ... and {len(report.queued) - 20} more")
        for source, reason in report.refused:
            err.print(Text.assemble(("refused", "red"), " ", plain(source), ": ", plain(reason)))
        summary = (
            f"{len(report.queued)} queued in {len(report.batches)} batch(es), "
            f"{len(report.refused)} refused"
        )
        if hidden:
            summary += f", {hidden} hidden file{'' if hidden == 1 else 's'} skipped"
        out.print(summary)
    if report.refused:
        sys.exit(1)


# -- worker ------------------------------------------------------------------


def _check_workers() -> None:
    """`newswire worker --check`: exit 0 if a worker of this host beats, else
    1; one line either way, for a container's healthcheck."""
    import socket

    import redis

    from worker.heartbeat import worker_beats
    from worker.keys import Keys

    host = socket.gethostname()
    try:
        settings = resolve_redis(_settings())
    except NoRedisConfigured as exc:
        _unhealthy(f"no worker on {host}: {exc}")
    url = redact_url(settings.redis_url_value or "")
    try:
        client = redis.Redis.from_url(
            settings.require_redis_url(),
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        with client:
            beats = worker_beats(client, Keys(settings.key_prefix))
    except redis.RedisError as exc:
        _unhealthy(f"cannot reach Redis at {url}: {type(exc).__name__}: {exc}")
    here = [b for b in beats if b.host == host]
    live = [b for b in here if b.alive]
    if live:
        names = ", ".join(f"{b.node} (beat {b.age:.0f}s ago)" for b in live)
        click.echo(f"ok: {len(live)} live worker{'s' if len(live) > 1 else ''} on {host}: {names}")
        return
    if here:
        last = here[0]
        _unhealthy(
            f"no live worker on {host}: {last.node} last beat {last.age:.0f}s ago "
            f"(dead after {settings.dead_after:g}s)"
        )
    others = sum(b.alive for b in beats)
    _unhealthy(f"no worker heartbeat from {host} in {url} ({others} live on other hosts)")


def _unhealthy(reason: str) -> NoReturn:
    click.echo(f"unhealthy: {reason}", err=True)
    sys.exit(1)


@main.command()
@click.option("-c", "--concurrency", type=click.IntRange(1, 256), help="Worker processes.")
@click.option("--quiet/--banner", default=None, help="Celery's start-up banner (off when piped).")
@click.option(
    "--check",
    is_flag=True,
    help="Start nothing: exit 0 if a worker of this host sends heartbeats, else 1 "
    "(a container healthcheck).",
)
def worker(concurrency: int | None, quiet: bool | None, check: bool) -> None:
    """Run a Celery worker (starts a private Redis if none is configured)."""
    if check:
        _check_workers()
        return
    from celery import signals

    from config.embedded import start_shared
    from worker.app import consumed_queues, make_celery
    from worker.logging import configure_logging, get_logger
    from worker.pipeline.errors import ModelError

    settings = _settings()
    if concurrency:
        settings = settings.model_copy(update={"concurrency": concurrency})
    configure_logging(settings)
    log = get_logger("newswire.cli")
    private = settings.redis_url is None
    if private:
        # Shared by every worker of this user, and not stopped with this one:
        # see config/embedded.py.
        url, started = start_shared(settings.data_dir)
        event = "embedded_redis.started" if started else "embedded_redis.joined"
        log.info(event, url=url, data_dir=str(settings.data_dir))
        settings = settings.with_redis(url)
    app = make_celery(settings)
    log.info(
        "worker.starting",
        redis=redact_url(settings.redis_url_value or ""),
        broker=redact_url(settings.broker_url_value or ""),
        queue=settings.queue,
        concurrency=app.conf.worker_concurrency,  # the effective one: per core by default
    )
    try:
        app.newswire_runtime()
    except ModelError as exc:
        raise click.ClickException(f"cannot start the worker: {exc}") from None

    def _second_ctrl_c_is_at_once(sig: str = "", **_: Any) -> None:
        # Celery: a first Ctrl-C lets running batches finish and makes the
        # next one a cold shutdown, which would first wait out
        # worker_soft_shutdown_timeout. A second Ctrl-C means now: its
        # unacknowledged batches go back to the queue, as after a kill.
        # SIGQUIT keeps the soft wait.
        if sig == "SIGINT":
            app.conf.worker_soft_shutdown_timeout = 0

    signals.worker_shutting_down.connect(_second_ctrl_c_is_at_once, weak=False)
    if quiet is None:
        quiet = not sys.stdout.isatty()
    # Workers coordinate through Redis only: mingle and gossip would add a
    # second of start-up and broker chatter for nothing. A name of its own
    # (Celery's default is celery@host for all): several on one host.
    argv = [
        "worker",
        "-Q",
        ",".join(consumed_queues(settings)),
        "--loglevel",
        settings.log_level,
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"newswire-{os.getpid()}@%h",
    ]
    if quiet:
        argv.insert(0, "--quiet")  # a global option of the celery command
    code = _run_celery(app, argv)
    if private:
        log.info("embedded_redis.left_running", url=url, stop_with="newswire redis stop")
    if code:
        log.error("worker.stopped", exit_code=code)
        sys.exit(code)


def _run_celery(app: Any, argv: list[str]) -> int:
    """Run the `celery` command on ``app`` and return its exit code. Celery's
    own app.start and worker_main drop it, and a worker that stopped on an
    error must exit non-zero for a restart policy to act."""
    from celery.bin.celery import celery as celery_command

    celery_command.params[0].default = app  # what app.start does, too
    try:
        code = celery_command.main(args=argv, standalone_mode=False)
    finally:
        celery_command.params[0].default = None
    return code if isinstance(code, int) else 0


# -- the private Redis -------------------------------------------------------


@main.group(name="redis", invoke_without_command=True)
@click.pass_context
def redis_group(ctx: click.Context) -> None:
    """The private Redis of `newswire worker`: status (default), stop."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(redis_status)


def _private_url(settings: Settings) -> str:
    from config.embedded import running_url
    from config.resolve import where_looked

    url = running_url(settings.data_dir)
    if url is None:
        raise click.ClickException(
            f"no private Redis is running (looked in {where_looked(settings.data_dir)})"
        )
    return url


@redis_group.command("status")
def redis_status() -> None:
    """Where the private Redis runs, and its data folder."""
    settings = _settings()
    out.print(f"private Redis at {_private_url(settings)}, data in {settings.data_dir}")


@redis_group.command("stop")
@click.option("--force", is_flag=True, help="Stop it even while workers use it.")
def redis_stop(force: bool) -> None:
    """Stop the private Redis, which outlives the workers that use it."""
    from config.embedded import stop_shared
    from producer import Publisher

    settings = _settings()
    url = _private_url(settings)
    if not force:
        with Publisher(settings.with_redis(url)) as client:
            workers = sorted(
                name for reply in client.app.control.ping(timeout=1.0) for name in reply
            )
        if workers:
            raise click.ClickException(
                f"workers still use the private Redis at {url}: {', '.join(workers)}; "
                "stop them first, or use --force"
            )
    stop_shared(settings.data_dir)
    out.print(f"stopped the private Redis at {url}; its data stays in {settings.data_dir}")


# -- read --------------------------------------------------------------------


# Names people reach for that mean one of the model's topics; the topics
# themselves are the model's labels (worker.pipeline.classify.DEFAULT_LABELS).
TOPIC_SYNONYMS = {
    "sports": "sport",
    "politics": "geopolitics",
    "world": "geopolitics",
    "culture": "entertainment",
    "arts": "entertainment",
    "showbiz": "entertainment",
}


def topic_name(asked: str, topics: Sequence[str]) -> str:
    """The one of ``topics`` that ``asked`` means: itself in any case, else
    a synonym's; a ValueError naming them all when there is none."""
    by_key = {t.casefold(): t for t in topics}
    key = asked.strip().casefold()
    found = by_key.get(key) or by_key.get(TOPIC_SYNONYMS.get(key, ""))
    if found is None:
        raise ValueError(f"{asked!r} is not a topic; use one of {', '.join(topics)}")
    return found


def _topics(store: Store) -> list[str]:
    """The model's labels, and any other topic stored (a model trained on
    other labels)."""
    from worker.pipeline.classify import DEFAULT_LABELS

    stored = {name.removeprefix("topic:") for name in store.stats() if name.startswith("topic:")}
    return [*DEFAULT_LABELS, *sorted(stored - set(DEFAULT_LABELS))]


@main.command()
@click.option(
    "--topic",
    help="Only this topic, in any case; also understood: "
    f"{', '.join(TOPIC_SYNONYMS)}. An unknown name is refused with the list.",
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    help="Only articles whose extraction confidence reaches this (the gate halves it "
    "for pages it stored in doubt).",
)
@click.option(
    "--order",
    type=click.Choice(["desc", "asc"]),
    default="desc",
    show_default=True,
    help="desc: newest first; asc: oldest first.",
)
@click.option("--cursor", help="Continue where the page that printed it stopped.")
@click.option("--json", "as_json", is_flag=True)
def results(
    topic: str | None,
    limit: int,
    min_confidence: float | None,
    order: Order,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Latest processed articles, newest first, a page at a time."""
    from worker.listing import ArticleFilter, InvalidCursor, decode_cursor

    try:
        after = decode_cursor(cursor) if cursor is not None else None
    except InvalidCursor as exc:
        click.echo(f"invalid --cursor: {exc}", err=True)
        sys.exit(2)
    with _store() as store:
        topic = _topic_option(store, topic)
        page = store.page(
            topic=topic,
            after=after,
            order=order,
            limit=limit,
            where=ArticleFilter(min_confidence=min_confidence),
        )
    if as_json:
        _print_json(page.articles)
    else:
        views.render_results(out, page.articles)
    # On stderr: --json output stays one JSON document.
    if page.next_cursor is not None:
        err.print(f"next page: --cursor {page.next_cursor}", highlight=False)


def _topic_option(store: Store, topic: str | None) -> str | None:
    if topic is None:
        return None
    try:
        return topic_name(topic, _topics(store))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--topic'") from None


class _When(click.ParamType[float]):
    """A time: ISO 8601 (UTC when it names no zone) or epoch seconds."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from datetime import datetime

        from pydantic import TypeAdapter

        from worker.listing import epoch_seconds

        if isinstance(value, float):
            return value
        try:
            return epoch_seconds(TypeAdapter(datetime).validate_python(value.strip()))
        except ValidationError:
            self.fail(
                f"{value!r} is not a time (2026-12-01, 2026-12-01T08:00:00Z, or epoch seconds)"
            )


@main.command()
@click.option("--since", type=_When(), help="Stored at or after this time.")
@click.option("--until", type=_When(), help="Stored at or before this time.")
@click.option("--topic", help="Only this topic (as for results).")
def export(since: float | None, until: float | None, topic: str | None) -> None:
    """Every stored article, oldest first, as JSON lines (no cap)."""
    with _store() as store:
        topic = _topic_option(store, topic)
        try:
            for article in store.iter_articles(topic=topic, since=since, until=until):
                sys.stdout.write(json.dumps(article, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped (| head): not an error. Python would report
            # the flush of the closed pipe at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@main.command()
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True)
def show(article_id: str, as_json: bool) -> None:
    """One article, whole."""
    with _store() as store:
        article = store.get(article_id)
        if article is None:
            raise click.ClickException(f"no article {article_id}")
        copies = store.copies(article.get("duplicate_of") or article_id)
    if as_json:
        _print_json(article)
        return
    views.render_article(out, article, copies)


@main.command()
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True)
def story(article_id: str, as_json: bool) -> None:
    """Every copy of an article's story."""
    with _store() as store:
        canonical, copies = store.story(article_id)
    if canonical is None:
        raise click.ClickException(f"no article {article_id}")
    if as_json:
        _print_json({"canonical": canonical, "copies": copies})
        return
    views.render_story(out, canonical, copies)


@main.command()
@click.option("--json", "as_json", is_flag=True)
def stats(as_json: bool) -> None:
    """Counters: stored, duplicates, dead-lettered, per topic."""
    with _store() as store:
        counters = store.stats()
        from worker.backlog import Backlog

        counters["queued_batches"] = Backlog(_connected(), store.redis).queued()
    if as_json:
        _print_json(counters)
        return
    table = Table("counter", "value")
    for name, value in counters.items():
        table.add_row(plain(name), str(value))
    out.print(table)


@main.group(invoke_without_command=True)
@click.pass_context
def dlq(ctx: click.Context) -> None:
    """Dead-lettered payloads: list (default), show, replay, purge."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(dlq_list)


@dlq.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--reason", help="Only entries with this reason.")
@click.option("--json", "as_json", is_flag=True)
def dlq_list(limit: int = 20, reason: str | None = None, as_json: bool = False) -> None:
    """Dead letters with their reasons, newest first."""
    with _store() as store:
        entries = store.dlq(limit=limit, reason=reason)
    if as_json:
        _print_json([{"entry": e, **fields} for e, fields in entries])
        return
    views.render_dlq_list(out, entries)


def _check_entries(entries: Iterable[str]) -> None:
    from newswire.dlq import check_entries

    try:
        check_entries(entries)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@dlq.command("show")
@click.argument("entry")
@click.option("--json", "as_json", is_flag=True)
def dlq_show(entry: str, as_json: bool) -> None:
    """One dead letter, with its raw payload."""
    _check_entries([entry])
    with _store() as store:
        fields = store.dlq_entry(entry)
    if fields is None:
        raise click.ClickException(
            f"no dead letter {entry} (replayed or purged already?); see `newswire dlq list`"
        )
    if as_json:
        _print_json({"entry": entry, **fields})
        return
    views.render_dlq_entry(out, fields)


def _select(
    store: Store, entries: tuple[str, ...], reason: str | None, everything: bool
) -> list[str]:
    if bool(entries) + (reason is not None) + everything != 1:
        raise click.UsageError("name entries, or give --reason REASON, or --all")
    if entries:
        _check_entries(entries)
        return list(entries)
    return [e for e, _ in reversed(store.dlq(limit=None, reason=reason))]


@dlq.command("replay")
@click.argument("entries", nargs=-1)
@click.option("--reason", help="Every entry with this reason.")
@click.option("--all", "everything", is_flag=True, help="Every entry.")
def dlq_replay(entries: tuple[str, ...], reason: str | None, everything: bool) -> None:
    """Queue dead-lettered payloads again (after a fix); idempotent."""
    from newswire.dlq import replay
    from producer import Publisher

    with _store() as store, Publisher(_connected()) as publisher:
        report = replay(store, publisher, _select(store, entries, reason, everything))
    for entry, article_id in report.replayed:
        out.print(Text.assemble(("replayed", "green"), f" {entry} as {article_id}"))
    for entry, why in report.skipped:
        err.print(Text.assemble(("skipped", "yellow"), f"  {entry}: ", plain(why)))
    out.print(f"{len(report.replayed)} replayed, {len(report.skipped)} skipped")
    if report.skipped:
        sys.exit(1)


@dlq.command("purge")
@click.argument("entries", nargs=-1)
@click.option("--reason", help="Every entry with this reason.")
@click.option("--all", "everything", is_flag=True, help="Every entry.")
def dlq_purge(entries: tuple[str, ...], reason: str | None, everything: bool) -> None:
    """Delete dead letters for good."""
    with _store() as store:
        removed = store.dlq_delete(_select(store, entries, reason, everything))
    out.print(f"{removed} purged")
    missing = len(set(entries)) - removed
    if missing > 0:
        raise click.ClickException(
            f"{missing} of the entries named were not there (replayed or purged already?); "
            "see `newswire dlq list`"
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--from-start", is_flag=True, help="Replay the stream from its beginning.")
def watch(as_json: bool, from_start: bool) -> None:
    """Follow processed articles live (Ctrl-C to stop)."""
    with _store() as store:
        try:
            for entry, fields in store.follow(last_id="0" if from_start else "$"):
                if as_json:
                    click.echo(json.dumps({"entry": entry, **fields}, ensure_ascii=False))
                else:
                    views.render_event(out, fields)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass


# -- serve -------------------------------------------------------------------

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the HTTP API: push payloads and read results over HTTP (docs at /docs)."""
    settings = _settings()
    if settings.api_token is None and host not in LOOPBACK:
        click.echo(
            f"refusing to listen on {host} without NEWSWIRE_API_TOKEN: "
            "set a token, or serve on 127.0.0.1",
            err=True,
        )
        sys.exit(2)
    import uvicorn

    from newswire.api import make_api

    uvicorn.run(make_api(_connected()), host=host, port=port, log_level="info")


# -- model -------------------------------------------------------------------


@main.command()
@click.option(
    "--corpora",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("../shared/corpora"),
    show_default=True,
)
@click.option(
    "--jsonl",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Train on your own labeled JSONL ({'text':..., 'label':...} a line).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Artifact to write (default: the shipped model).",
)
@click.option("--seed", default=13, show_default=True)
@click.option(
    "--guide", is_flag=True, help="Corpora: relabel by the labelling guide's rules first."
)
def train(corpora: Path, jsonl: Path | None, out_path: Path | None, seed: int, guide: bool) -> None:
    """Rebuild the topic model, reproducibly, from labeled data."""
    import training
    from worker.model import DEFAULT_ARTIFACT

    if jsonl is not None:
        model, report = training.train_jsonl(jsonl, seed=seed)
    else:
        if not corpora.is_dir():
            raise click.ClickException(f"no corpora folder at {corpora}")
        model, report = training.train(corpora, seed=seed, guide=guide)
    target = out_path or DEFAULT_ARTIFACT
    training.write_artifact(model, target)
    _print_json(report)
    out.print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")


def _load_model(path: Path | None) -> Any:
    """The topic model ``path`` names, else NEWSWIRE_MODEL_PATH's, else the shipped one."""
    from worker.model import load_model
    from worker.pipeline.errors import ModelError

    try:
        return load_model(path or _settings().model_path)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("source", default="-", type=click.File("rb"))
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Model artifact (default: NEWSWIRE_MODEL_PATH, else the shipped model).",
)
def classify(source: Any, as_json: bool, model_path: Path | None) -> None:
    """Topic of each line of SOURCE (a file, or - for stdin): plain text, or JSON
    with title/body/text. Needs no Redis or worker."""
    import orjson

    from newswire.classify import CHUNK, Refused, classify_lines, describe, result_dict

    model = _load_model(model_path)
    refused = 0
    # Typed at a terminal: answer each line as it comes.
    chunk = 1 if source.isatty() else CHUNK
    write = sys.stdout.buffer.write
    try:
        for number, result in classify_lines(model, source, chunk):
            if isinstance(result, Refused):
                refused += 1
                sys.stdout.flush()
                click.echo(f"line {number}: {result.reason}", err=True)
            elif as_json:
                write(orjson.dumps({"line": number, **result_dict(result)}) + b"\n")
            else:
                write(f"{number}\t{describe(result)}\n".encode())
            if chunk == 1:
                sys.stdout.flush()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (| head): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        raise click.ClickException(f"cannot read {source.name}: {exc}") from None
    if refused:
        click.echo(f"{refused} line(s) refused", err=True)
        sys.exit(1)


@main.command()
@click.option(
    "--since",
    help="Only articles ingested from then: an ISO date or date-time (UTC unless it "
    "says) or an age: 30m, 12h, 7d, 2w.",
)
@click.option("--topic", help="Only articles stored under this topic (as for `results`).")
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Model artifact (default: NEWSWIRE_MODEL_PATH, else the shipped model).",
)
@click.option(
    "--batch",
    default=200,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Articles per round trip to Redis.",
)
def reclassify(since: str | None, topic: str | None, model_path: Path | None, batch: int) -> None:
    """Run the current topic model over stored articles, updating each one's
    topic, scores, indexes and counters atomically; safe to stop and run again.
    Prints a JSON summary."""
    from newswire.reclassify import parse_since
    from newswire.reclassify import reclassify as run
    from worker.relabel import Relabeller

    try:
        start = None if since is None else parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--since'") from None
    model = _load_model(model_path)
    with _store() as store:
        if topic is not None:
            try:
                topic = topic_name(topic, _topics(store))
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="'--topic'") from None
        relabeller = Relabeller(store.redis, store.keys)
        progress = Progress(
            TextColumn("reclassifying"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        task = progress.add_task("reclassify", total=relabeller.count(start))
        with progress:
            summary = run(
                relabeller,
                model,
                since=start,
                topic=topic,
                page_size=batch,
                on_page=lambda n: progress.advance(task, n),
            )
    _print_json(summary.as_dict())
    if summary.interrupted:
        sys.exit(130)


@main.command(name="eval")
@click.option(
    "--corpora",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("../shared/corpora"),
    show_default=True,
)
@click.option("--heldout/--no-heldout", default=True, help="The held-out split of all corpora.")
@click.option("--loco/--no-loco", default=True, help="Leave each corpus out (a fit each: slow).")
@click.option(
    "--out-of-time/--no-out-of-time",
    default=True,
    help="Fit on the corpora dated before 2015, score those of 2018-2021 (one fit).",
)
@click.option(
    "--corpus",
    "left_out",
    multiple=True,
    help="Leave out only this corpus (repeatable; default: each in turn).",
)
@click.option("--seed", default=13, show_default=True)
@click.option(
    "--guide",
    is_flag=True,
    help="Leave-one-out and out-of-time: train and score on the labelling guide's labels.",
)
def evaluate(
    corpora: Path,
    heldout: bool,
    loco: bool,
    out_of_time: bool,
    left_out: tuple[str, ...],
    seed: int,
    guide: bool,
) -> None:
    """Score the training procedure on held-out items and on corpora left out (JSON)."""
    import training

    if not corpora.is_dir():
        raise click.ClickException(f"no corpora folder at {corpora}")
    try:
        only = training.corpus_names(left_out) if left_out else None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    report: dict[str, Any] = {}
    if heldout:
        report["heldout"] = training.heldout_report(corpora, seed=seed)
    if loco:
        report["loco"] = training.evaluate_loco(corpora, seed=seed, only=only, guide=guide)
        report["loco_summary"] = training.loco_summary(report["loco"])
    if out_of_time:
        report["out_of_time"] = training.evaluate_out_of_time(corpora, seed=seed, guide=guide)
    _print_json(report)


# -- demo --------------------------------------------------------------------


@main.command()
def demo() -> None:
    """Start a private Redis and a worker, push the example pages, show results."""
    from newswire.demo import run_demo

    run_demo(_settings(), console=out)


if __name__ == "__main__":
    main()
