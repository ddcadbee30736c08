"""The package layering, read from the code's own imports.

config <- worker.pipeline (pure) <- worker <- producer (contract only) <- newswire (CLI, demo)
training sits beside the worker and is never imported by it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("config", "worker", "producer", "newswire", "training")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _package_imports(package: str) -> dict[str, set[str]]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules under {package}/"
    return {str(f.relative_to(ROOT)): _imports(f) for f in files}


def _top(module: str) -> str:
    return module.split(".")[0]


def _violations(package: str, allowed: object) -> list[str]:
    return [
        f"{path} imports {module}"
        for path, modules in _package_imports(package).items()
        for module in sorted(modules)
        if not allowed(module)  # type: ignore[operator]
    ]


def test_pipeline_imports_nothing_of_ours_outside_itself_and_no_io() -> None:
    banned_third_party = {"celery", "kombu", "redis", "structlog", "logging"}

    def allowed(module: str) -> bool:
        if _top(module) in OURS:
            return module == "worker.pipeline" or module.startswith("worker.pipeline.")
        return _top(module) not in banned_third_party

    assert _violations("worker/pipeline", allowed) == []


def test_config_imports_nothing_of_ours() -> None:
    def allowed(module: str) -> bool:
        return _top(module) not in OURS or _top(module) == "config"

    assert _violations("config", allowed) == []


def test_producer_imports_only_the_contract_from_worker() -> None:
    def allowed(module: str) -> bool:
        if _top(module) == "worker":
            return module == "worker.contract"
        return _top(module) not in ("newswire", "training")

    assert _violations("producer", allowed) == []


def test_worker_imports_no_cli_demo_or_training() -> None:
    def allowed(module: str) -> bool:
        return _top(module) not in ("newswire", "producer", "training")

    assert _violations("worker", allowed) == []


@pytest.mark.parametrize("module", ["worker.app", "worker.tasks", "producer"])
def test_runtime_modules_do_not_load_training_or_the_cli(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'newswire')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The checks above pass vacuously if imports go unseen: a function-level
    # import must be found.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from worker.store import Store\n    import redis\n")
    assert {"worker.store", "redis"} <= _imports(module)
