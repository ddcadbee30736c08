"""The HTTP API against `newswire push`: the same articles, the same worker,
side by side on one private Redis. Prints a table and writes a JSON report;
asserts nothing.

Each run clears the store, then sends the same ``--articles`` JSON records
one of two ways, and measures from the first byte sent to the last article
stored (the Redis time of the last event):

- push: `newswire push FILE.jsonl`, the CLI as a user runs it (its start-up
  included);
- api: one client POSTing ``application/x-ndjson`` bodies of ``--batch-size``
  records to `newswire serve`, one request after the other.

The two alternate (push, api, api, push, ...) for ``--repeat`` rounds: the
VM's speed drifts from minute to minute. The median run of each is
reported, with each round's api/push ratio.

    .venv/bin/python bench/api.py [--articles 3000] [--workers 2]
        [--repeat 3] [--json bench/reports/api.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.payloads import generate  # noqa: E402
from bench.throughput import Bench, machine, tree_cpu  # noqa: E402
from config.embedded import EmbeddedRedis, free_port  # noqa: E402


def records(n: int) -> list[bytes]:
    """``n`` realistic articles as JSON lines (title, body, url)."""
    lines = []
    for i, payload in enumerate(generate(n, dup_rate=0.1)):
        title, _, body = (payload.article.text or "").partition("\n")
        record = {"title": title, "body": body, "url": f"https://bench.example/{i}"}
        lines.append(json.dumps(record).encode() + b"\n")
    return lines


class ApiBench:
    def __init__(self, bench: Bench, base: str, lines: list[bytes], tmp: Path) -> None:
        self.bench = bench
        self.base = base
        self.lines = lines
        self.file = tmp / "articles.jsonl"
        self.file.write_bytes(b"".join(lines))

    def _finish(self, name: str, started: float, sent: float) -> dict[str, Any]:
        n = len(self.lines)
        self.bench.wait_until(self.bench.store.processed, n, f"{name} articles")
        done = self.bench.last_event_at(self.bench.store.keys.events)
        return {
            "articles": n,
            "throughput": n / (done - started),
            "send_rate": n / (sent - started),
            "seconds": done - started,
        }

    def push(self) -> dict[str, Any]:
        self.bench.clear_store()
        started = time.time()
        proc = self.bench.start(["-m", "newswire.cli", "push", str(self.file)], "push")
        if proc.wait() != 0:
            raise SystemExit(f"push failed: {(self.bench.tmp / 'push.log').read_text()[-2000:]}")
        return self._finish("push", started, time.time())

    def api(self, server_pid: int) -> dict[str, Any]:
        self.bench.clear_store()
        b = self.bench.args.batch_size
        cpu0 = tree_cpu(server_pid)
        with httpx.Client(base_url=self.base, timeout=60) as http:
            started = time.time()
            for i in range(0, len(self.lines), b):
                response = http.post(
                    "/v1/articles",
                    content=b"".join(self.lines[i : i + b]),
                    headers={"Content-Type": "application/x-ndjson"},
                )
                if response.status_code != 202:
                    raise SystemExit(f"POST answered {response.status_code}: {response.text}")
            sent = time.time()
        run = self._finish("api", started, sent)
        run["server_cpu_ms_per_article"] = (tree_cpu(server_pid) - cpu0) / len(self.lines) * 1e3
        return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--batch-size", type=int, default=100, help="records per message and POST")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of push and api")
    ap.add_argument("--json", type=Path, default=Path("api-report.json"))
    args = ap.parse_args()
    lines = records(args.articles)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {k: v for k, v in vars(args).items() if k != "json"},
    }
    runs: dict[str, list[dict[str, Any]]] = {"push": [], "api": []}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bench = Bench(args, stack.enter_context(EmbeddedRedis(tmp / "redis")), tmp)
        port = free_port()
        server = bench.start(["-m", "newswire.cli", "serve", "--port", str(port)], "serve")
        stack.callback(bench.stop, server)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("serve did not start")
            time.sleep(0.2)
        ab = ApiBench(bench, base, lines, tmp)
        with bench.service():
            for i in range(args.repeat):
                order = ["push", "api"] if i % 2 == 0 else ["api", "push"]
                for name in order:
                    run = ab.push() if name == "push" else ab.api(server.pid)
                    runs[name].append(run)
                    print(f"round {i + 1} {name}: {run['throughput']:.1f} articles/s", flush=True)
    for name, done in runs.items():
        report[name] = sorted(done, key=lambda r: r["throughput"])[len(done) // 2]
        report[f"{name}_runs"] = [round(r["throughput"], 1) for r in done]
    report["ratio_per_round"] = [
        round(a["throughput"] / p["throughput"], 3)
        for a, p in zip(runs["api"], runs["push"], strict=True)
    ]
    report["ratio"] = round(report["api"]["throughput"] / report["push"]["throughput"], 3)
    report["ratio_median_of_rounds"] = statistics.median(report["ratio_per_round"])
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'':8}{'articles/s':>12}{'sent/s':>10}  runs")
    for name in ("push", "api"):
        r = report[name]
        print(f"{name:8}{r['throughput']:12.1f}{r['send_rate']:10.1f}  {report[f'{name}_runs']}")
    print(f"api / push: {report['ratio']:.3f} (rounds: {report['ratio_per_round']})")
    print(f"report written to {args.json}")


if __name__ == "__main__":
    main()
