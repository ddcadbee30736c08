"""`newswire classify - --json` end to end: lines per second of the real command.

Builds JSON lines ``{"title", "body"}`` from the shared corpora (the seven
corpora mixed: headlines, snippets, summaries), then from full BBC articles
with teasers (the throughput benchmark's pages), pipes each set into a fresh
``newswire classify - --json`` process and times it from start to exit:
interpreter start, model load and every line answered. No Redis, no worker.
Prints figures; asserts nothing.

    .venv/bin/python bench/classify_cli.py [--lines 10000] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import scraped_pages
from training import load_corpora

ROOT = Path(__file__).resolve().parents[1]
CORPORA_DIR = ROOT.parent / "shared" / "corpora"
NEWSWIRE = ROOT / ".venv" / "bin" / "newswire"


def corpus_lines(n: int, seed: int) -> list[bytes]:
    """n JSON lines of corpus items: the first line as title, the rest as body."""
    if not CORPORA_DIR.is_dir():
        raise SystemExit(f"this benchmark needs the shared corpora at {CORPORA_DIR}")
    items = load_corpora(CORPORA_DIR)
    random.Random(seed).shuffle(items)
    lines = []
    for item in (items * (n // len(items) + 1))[:n]:
        title, _, body = item.text.partition("\n")
        lines.append(json.dumps({"title": title, "body": body}).encode())
    return lines


def page_lines(n: int, seed: int) -> list[bytes]:
    """n JSON lines of full articles (the throughput benchmark's pages)."""
    lines = []
    for page in scraped_pages(n, seed=seed):
        title, _, body = page.partition("\n")
        lines.append(json.dumps({"title": title, "body": body}).encode())
    return lines


def run_once(payload: bytes, n: int) -> dict[str, float]:
    """One `newswire classify - --json` process over ``payload``: its wall time."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(NEWSWIRE), "classify", "-", "--json"],
        input=payload,
        capture_output=True,
        check=False,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - start
    answered = done.stdout.count(b"\n")
    if done.returncode != 0 or answered != n:
        raise SystemExit(
            f"classify exited {done.returncode} with {answered} of {n} lines answered:\n"
            + done.stderr.decode(errors="replace")[-2000:]
        )
    return {"seconds": elapsed, "lines_per_s": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="report", type=Path, help="Write the figures here.")
    args = parser.parse_args()

    sets = {
        "corpus items (headlines, snippets, summaries)": corpus_lines(args.lines, args.seed),
        "full articles (BBC pages with teasers)": page_lines(args.lines, args.seed),
    }
    report: dict[str, object] = {
        "command": "newswire classify - --json",
        "lines": args.lines,
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "sets": {},
    }
    for name, lines in sets.items():
        payload = b"\n".join(lines) + b"\n"
        warm = lines[: max(1, args.lines // 20)]
        run_once(b"\n".join(warm) + b"\n", len(warm))  # warm the file cache
        runs = [run_once(payload, args.lines) for _ in range(args.repeat)]
        rates = sorted(r["lines_per_s"] for r in runs)
        median = statistics.median(rates)
        print(
            f"{name}: {args.lines} lines, {len(payload) / args.lines:,.0f} bytes a line: "
            f"{median:,.0f} lines/s (runs {rates[0]:,.0f}-{rates[-1]:,.0f}), "
            "process start and model load included"
        )
        report["sets"][name] = {  # type: ignore[index]
            "bytes_per_line": round(len(payload) / args.lines),
            "median_lines_per_s": round(median),
            "runs": [round(r["lines_per_s"]) for r in runs],
        }
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
