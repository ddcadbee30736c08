"""JSON only on the wire; credentials work and never show."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from celery import Celery

from config.embedded import EmbeddedRedis
from config.settings import Settings
from tests.conftest import QUEUE, WorkerProcess, run_cli, start_worker
from worker.contract import TASK_PROCESS_BATCH
from worker.store import Store

pytestmark = pytest.mark.e2e


class Trap:
    """Unpickling this creates a file: proof that something ran our code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_pickle_message_is_refused_unopened_and_kept(
    worker: WorkerProcess, settings: Settings, store: Store, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    attacker = Celery("attacker", broker=settings.redis_url_value, set_as_current=False)
    attacker.conf.update(accept_content=["pickle"], task_serializer="pickle")
    attacker.send_task(TASK_PROCESS_BATCH, args=[Trap(marker)], queue=QUEUE, serializer="pickle")
    attacker.close()
    assert store.wait_for(1)
    [(_entry, letter)] = store.dlq()
    assert letter["reason"] == "disallowed_content_type"
    kept = json.loads(letter["payload"])
    assert kept["content_type"] == "application/x-python-serialize"
    assert str(marker).encode() in base64.b64decode(kept["body_base64"])  # raw, as sent
    assert not marker.exists()
    assert worker.alive()


def test_acl_user_and_password_work_and_never_show(tmp_path: Path) -> None:
    secret = "s3cret-Pa55word"
    server = EmbeddedRedis(
        tmp_path / "redis", appendonly=False,
        extra_args=["--requirepass", "unused-default", "--user", "newswire", "on", f">{secret}",
                    "~*", "&*", "+@all"],
    ).start()  # fmt: skip
    url = f"redis://newswire:{secret}@127.0.0.1:{server.port}/0"
    worker = start_worker(url, tmp_path / "worker.log", concurrency=1)
    try:
        page = tmp_path / "page.txt"
        page.write_text(
            "Tram Line Extension Approved - Metro Times\n"
            + "The city approved a four-kilometre extension of the tram line to the new hospital, "
            "with construction due to start in spring and the first trams running in two years.\n"
            * 2
        )
        pushed = run_cli(url, "push", str(page))
        assert pushed.returncode == 0, pushed.stderr
        article_id = pushed.stdout.split()[1]
        for _ in range(100):
            shown = run_cli(url, "show", article_id)
            if shown.returncode == 0:
                break
        assert "Metro Times" in shown.stdout
        wrong = run_cli(url.replace(secret, "not-the-password"), "stats")
        assert wrong.returncode == 1
        outputs = [pushed.stdout, pushed.stderr, shown.stdout, wrong.stdout, wrong.stderr]
        outputs.append((tmp_path / "worker.log").read_text())
        assert all(secret not in text and "not-the-password" not in text for text in outputs)
    finally:
        worker.stop()
        server.stop()
