"""The `newswire` command: push, run workers, read results, train, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from config.resolve import NoRedisConfigured, resolve_redis
from config.settings import Settings, redact_url

if TYPE_CHECKING:
    from worker.store import Store

# Piped output is not cut to 80 columns: ids and titles stay whole for grep.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  NEWSWIRE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise click.ClickException("invalid configuration:\n" + "\n".join(lines)) from None


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


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--batch-size", type=click.IntRange(1, 1000), help="Articles per message.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def push(paths: tuple[str, ...], batch_size: int | None, as_json: bool) -> None:
    """Queue files (.txt .html .json .jsonl), directories, or - for stdin."""
    from kombu.exceptions import OperationalError

    from producer import Publisher, load_paths

    settings = _connected()
    if batch_size:
        settings = settings.model_copy(update={"batch_size": batch_size})
    items = list(load_paths(paths, max_payload_bytes=settings.max_payload_bytes))
    show_bar = len(items) > 20 and err.is_terminal and not as_json
    progress = Progress(
        TextColumn("pushing"), BarColumn(), MofNCompleteColumn(), console=err, disable=not show_bar
    )
    task = progress.add_task("push", total=len(items))
    try:
        with progress, Publisher(settings) as publisher:
            report = publisher.publish(items, on_item=lambda _: progress.advance(task))
    except OperationalError as exc:
        url = redact_url(settings.redis_url_value or "")
        raise click.ClickException(f"cannot reach the broker at {url}: {exc}") from None
    if as_json:
        _print_json(
            {
                "queued": [{"source": s, "id": i} for s, i in report.queued],
                "refused": [{"source": s, "reason": r} for s, r in report.refused],
                "batches": len(report.batches),
            }
        )
    else:
        for source, article_id in report.queued[:20]:
            out.print(f"[green]queued[/]  {article_id}  {source}")
        if len(report.queued) > 20:
            out.print(f"        ... and {len(report.queued) - 20} more")
        for source, reason in report.refused:
            err.print(f"[red]refused[/] {source}: {reason}")
        out.print(
            f"{len(report.queued)} queued in {len(report.batches)} batch(es), "
            f"{len(report.refused)} refused"
        )
    if report.refused:
        sys.exit(1)


# -- worker ------------------------------------------------------------------


@main.command()
@click.option("-c", "--concurrency", type=click.IntRange(1, 256), help="Worker processes.")
@click.option("--quiet/--banner", default=None, help="Celery's start-up banner (off when piped).")
def worker(concurrency: int | None, quiet: bool | None) -> None:
    """Run a Celery worker (starts a private Redis if none is configured)."""
    from config.embedded import EmbeddedRedis, running_url
    from worker.app import make_celery
    from worker.logging import configure_logging, get_logger
    from worker.pipeline.errors import ModelError

    settings = _settings()
    if concurrency:
        settings = settings.model_copy(update={"concurrency": concurrency})
    configure_logging(settings)
    log = get_logger("newswire.cli")
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        url = running_url(settings.data_dir)
        if url is None:
            embedded = EmbeddedRedis(settings.data_dir).start()
            url = embedded.url
            log.info("embedded_redis.started", url=url, data_dir=str(embedded.data_dir))
        settings = settings.with_redis(url)
    log.info(
        "worker.starting",
        redis=redact_url(settings.redis_url_value or ""),
        queue=settings.queue,
        concurrency=settings.concurrency,
    )
    app = make_celery(settings)
    try:
        app.newswire_runtime()
    except ModelError as exc:
        if embedded is not None:
            embedded.stop()
        raise click.ClickException(f"cannot start the worker: {exc}") from None
    if quiet is None:
        quiet = not sys.stdout.isatty()
    # Workers coordinate through Redis only: mingle and gossip would add a
    # second of start-up and broker chatter for nothing.
    argv = [
        "worker",
        "-Q",
        settings.queue,
        "--loglevel",
        settings.log_level,
        "--without-mingle",
        "--without-gossip",
    ]
    if quiet:
        argv.insert(0, "--quiet")  # a global option of the celery command
    try:
        code = _run_celery(app, argv)
    finally:
        if embedded is not None:
            embedded.stop()
            log.info("embedded_redis.stopped")
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


# -- read --------------------------------------------------------------------


def _topic_cell(a: dict[str, Any]) -> str:
    return f"{a.get('topic', '?')} {a.get('confidence', 0):.2f}"


@main.command()
@click.option("--topic", help="Only this topic (geopolitics, sport, entertainment, other).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def results(topic: str | None, limit: int, as_json: bool) -> None:
    """Latest processed articles, newest first."""
    with _store() as store:
        rows = store.results(topic=topic, limit=limit)
    if as_json:
        _print_json(rows)
        return
    table = Table()
    for name in ("id", "topic", "outlet"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=70)
    table.add_column("ingested", no_wrap=True)
    for a in rows:
        table.add_row(
            a["id"],
            _topic_cell(a),
            a.get("outlet") or "",
            a["title"][:70],
            str(a.get("ingested_at", ""))[:19],
        )
    out.print(table)


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
    if article.get("duplicate_of"):
        out.print(
            f"[yellow]{article_id} is a duplicate of {article['duplicate_of']}[/] "
            f"(outlet {article.get('outlet')}, url {article.get('url')})"
        )
        out.print(f"see: newswire show {article['duplicate_of']}")
        return
    out.print(f"[bold]{article['title']}[/]")
    meta = [
        ("id", article["id"]),
        ("outlet", article.get("outlet")),
        ("url", article.get("url")),
        ("published", article.get("published")),
        ("language", article.get("language")),
        ("topic", _topic_cell(article)),
        ("scores", ", ".join(f"{k} {v:.2f}" for k, v in article["scores"].items())),
        ("copies", copies),
        ("words", article.get("word_count")),
        ("source", article.get("source")),
    ]
    for name, value in meta:
        if value not in (None, ""):
            out.print(f"[dim]{name:>9}[/] {value}")
    out.print()
    for paragraph in article["paragraphs"]:
        out.print(paragraph + "\n")
    if article.get("related"):
        out.print(f"[bold]related[/] ({len(article['related'])})")
        for r in article["related"]:
            out.print(f"  - {r['title']}: [dim]{r.get('teaser', '')}[/]")


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
    table = Table("id", "role", "similarity", "outlet", "url", "title")
    for record, role in [(canonical, "canonical"), *((c, "copy") for c in copies)]:
        similarity = record.get("similarity", 1.0) if role == "copy" else None
        exactness = "exact" if record.get("verdict", "duplicate") == "duplicate" else "near"
        table.add_row(
            record["id"],
            role if role == "canonical" else f"{exactness} copy",
            "" if similarity is None else f"{similarity:.2f}",
            record.get("outlet") or "",
            record.get("url") or "",
            record["title"][:60],
        )
    out.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True)
def stats(as_json: bool) -> None:
    """Counters: stored, duplicates, dead-lettered, per topic."""
    with _store() as store:
        counters = store.stats()
        # kombu keeps a Redis queue as a list named after it
        counters["queued_batches"] = int(store.redis.llen(_connected().queue))
    if as_json:
        _print_json(counters)
        return
    table = Table("counter", "value")
    for name, value in counters.items():
        table.add_row(name, str(value))
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
    table = Table("entry", "reason", "source", "message")
    for entry, fields in entries:
        table.add_row(entry, fields.get("reason", ""), fields.get("source", ""),
                      fields.get("message", "")[:100])  # fmt: skip
    out.print(table)


@dlq.command("show")
@click.argument("entry")
@click.option("--json", "as_json", is_flag=True)
def dlq_show(entry: str, as_json: bool) -> None:
    """One dead letter, with its raw payload."""
    with _store() as store:
        fields = store.dlq_entry(entry)
    if fields is None:
        raise click.ClickException(f"no dead letter {entry}")
    if as_json:
        _print_json({"entry": entry, **fields})
        return
    for name in ("reason", "message", "source", "batch_id", "article_id", "at"):
        if fields.get(name):
            out.print(f"[dim]{name:>10}[/] {fields[name]}")
    out.print("[dim]   payload[/]")
    click.echo(fields.get("payload", ""))


def _select(
    store: Store, entries: tuple[str, ...], reason: str | None, everything: bool
) -> list[str]:
    if bool(entries) + (reason is not None) + everything != 1:
        raise click.UsageError("name entries, or give --reason REASON, or --all")
    if entries:
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
        out.print(f"[green]replayed[/] {entry} as {article_id}")
    for entry, why in report.skipped:
        err.print(f"[yellow]skipped[/]  {entry}: {why}")
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
                elif fields.get("kind") == "dead_letter":
                    out.print(f"[red]dead-letter[/] {fields.get('reason')}  (newswire dlq)")
                else:
                    kind = fields.get("kind", "")
                    dup = f" of {fields['canonical']}" if kind == "duplicate" else ""
                    out.print(
                        f"{fields.get('id')}  {kind}{dup}  {fields.get('topic')}  "
                        f"{fields.get('title', '')}"
                    )
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass


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
def train(corpora: Path, jsonl: Path | None, out_path: Path | None, seed: int) -> None:
    """Rebuild the topic model, reproducibly, from labeled data."""
    import training
    from worker.model import DEFAULT_ARTIFACT

    if jsonl is not None:
        model, report = training.train_jsonl(jsonl, seed=seed)
    else:
        if not corpora.is_dir():
            raise click.ClickException(f"no corpora folder at {corpora}")
        model, report = training.train(corpora, seed=seed)
    target = out_path or DEFAULT_ARTIFACT
    training.write_artifact(model, target)
    _print_json(report)
    out.print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")


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
    "--corpus",
    "left_out",
    multiple=True,
    help="Leave out only this corpus (repeatable; default: each in turn).",
)
@click.option("--seed", default=13, show_default=True)
def evaluate(
    corpora: Path, heldout: bool, loco: bool, left_out: tuple[str, ...], seed: int
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
        report["loco"] = training.evaluate_loco(corpora, seed=seed, only=only)
    _print_json(report)


# -- demo --------------------------------------------------------------------


@main.command()
def demo() -> None:
    """Start a private Redis and a worker, push the example pages, show results."""
    from newswire.demo import run_demo

    run_demo(_settings(), console=out)


if __name__ == "__main__":
    main()
