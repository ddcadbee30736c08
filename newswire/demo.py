"""`newswire demo`: the whole service on one machine, from nothing.

A private Redis (unless one is configured), a real worker process, the example
pages shipped with the package plus a syndicated copy of one of them, then a
table of what the worker made of each.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.table import Table

from config.embedded import EmbeddedRedis
from config.settings import Settings, redact_url
from producer.client import Publisher
from producer.loader import Item, load_paths
from worker.contract import RawArticle
from worker.store import Store

__all__ = ["EXAMPLES", "run_demo"]

EXAMPLES = Path(__file__).parent / "examples"


def _syndicated_copy(items: list[Item]) -> Item | None:
    """Another outlet's copy of the first text example: same body, new title suffix."""
    for item in items:
        text = item.article.text
        if item.article.kind == "text" and text and " - " in text.splitlines()[0]:
            title, _, rest = text.partition("\n")
            headline = title.rsplit(" - ", 1)[0]
            copy = RawArticle(
                kind="text",
                text=f"{headline} - Wire Syndicate\n{rest}",
                source=f"{item.source} (syndicated copy)",
            )
            return Item(copy.source or "", copy)
    return None


def _start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "NEWSWIRE_REDIS_URL": settings.redis_url_value or "",
            "NEWSWIRE_KEY_PREFIX": settings.key_prefix,
            "NEWSWIRE_QUEUE": settings.queue,
            "NEWSWIRE_LOG_FORMAT": "json",
            "NEWSWIRE_CONCURRENCY": "1",
        }
    )
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "worker", "--quiet"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # warm shutdown: finish, ack, exit
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def demo_dir(settings: Settings) -> Path:
    """The demo's own folder, wiped at each run: NEWSWIRE_DATA_DIR/demo when
    set, else ./.newswire/demo, never the per-user folder of the private
    Redis that `newswire worker` shares (the demo runs a server of its own)."""
    if "data_dir" in settings.model_fields_set:
        return settings.data_dir / "demo"
    return Path(".newswire") / "demo"


def run_demo(settings: Settings, *, console: Console) -> None:
    data_dir = demo_dir(settings)
    items = [
        i
        for i in load_paths([str(EXAMPLES)], max_payload_bytes=settings.max_payload_bytes)
        if isinstance(i, Item)
    ]
    copy = _syndicated_copy(items)
    if copy:
        items.append(copy)

    with ExitStack() as stack:
        if settings.redis_url is None:
            shutil.rmtree(data_dir, ignore_errors=True)  # each demo starts clean
            redis_server = stack.enter_context(EmbeddedRedis(data_dir))
            settings = settings.with_redis(redis_server.url)
            console.print(
                f"[dim]private Redis at {redis_server.url}, "
                f"append-only data in {redis_server.data_dir}[/]"
            )
        else:
            # A configured Redis may be shared: keep the demo's keys and queue apart.
            settings = settings.model_copy(
                update={
                    "key_prefix": settings.key_prefix + "-demo",
                    "queue": settings.queue + "-demo",
                }
            )
            console.print(
                f"[dim]using {redact_url(settings.redis_url_value or '')}, "
                f"keys under {settings.key_prefix}:[/]"
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.from_settings(settings)
        stack.callback(store.redis.close)
        before = store.stats()
        done_before = sum(before.get(k, 0) for k in ("stored", "duplicates", "dead_lettered"))

        log_path = data_dir / "worker.log"
        worker = _start_worker(settings, log_path)
        stack.callback(_stop_worker, worker)
        console.print(f"[dim]worker started (pid {worker.pid}), logs in {log_path}[/]")

        started = time.monotonic()
        with Publisher(settings) as publisher:
            report = publisher.publish(items)
        console.print(f"pushed {len(report.queued)} pages in {len(report.batches)} batch(es)")

        deadline = time.monotonic() + 120
        while not store.wait_for(done_before + len(items), timeout=0.5):
            if worker.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise SystemExit(f"the worker exited early (code {worker.returncode}):\n{tail}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for the worker; see {log_path}")
        took = time.monotonic() - started

        events = {f["id"]: f for _, f in store.redis.xrange(store.keys.events)}
        table = Table(title="newswire demo")
        table.add_column("id", no_wrap=True)
        table.add_column("outcome")
        table.add_column("topic", no_wrap=True)
        table.add_column("outlet")
        table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=70)
        for source, article_id in report.queued:
            event = events.get(article_id, {})
            article = store.get(article_id) or {}
            outcome = {"unique": "stored", "dead_letter": "dead-lettered"}.get(
                event.get("kind", "?"), event.get("kind", "?")
            )
            if outcome == "duplicate":
                outcome = f"duplicate of {event.get('canonical')}"
            topic = f"{article['topic']} {article['confidence']:.2f}" if "topic" in article else ""
            table.add_row(
                article_id,
                outcome,
                topic,
                article.get("outlet") or "",
                article.get("title", Path(source).name),
            )
        console.print(table)
        console.print(
            f"processed in {took:.1f}s (including worker start-up); counters: {store.stats()}"
        )
