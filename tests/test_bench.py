"""The benchmark scripts in bench/ run on a tiny tree (dockaudit only, one run, no timing checks)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _generate_module():
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_generate_writes_the_requested_number_of_files(tmp_path: Path) -> None:
    out = tmp_path / "tree"
    done = subprocess.run([sys.executable, str(BENCH / "generate.py"), str(out), "--files", "30"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 30
    manifest = json.loads((out / "BENCH_MANIFEST.json").read_text())
    assert manifest["files"] == 30
    for kind in ("dockerfile", "compose", "nginx", "env", "dockerignore"):
        assert manifest["kinds"].get(kind), kind
    # a second run into the same folder needs --force, and only replaces a generated tree
    again = subprocess.run([sys.executable, str(BENCH / "generate.py"), str(out), "--files", "30"],
                           capture_output=True, text=True, check=False)
    assert again.returncode != 0 and "--force" in again.stderr


def test_generate_is_deterministic_and_plants_defects() -> None:
    generate = _generate_module()
    first = generate.build(files=400, seed=3)
    second = generate.build(files=400, seed=3)
    assert first.files == second.files
    assert len(first.files) == 400
    assert generate.build(files=400, seed=4).files != first.files
    manifest = json.loads(first.files[generate.MANIFEST])
    for defect in manifest["defects"]:
        assert defect["path"] in first.files
        assert defect["defect"] in generate.DEFECTS
    bigger = generate.build(services=30, seed=3, defect_rate=1.0)
    assert json.loads(bigger.files[generate.MANIFEST])["services"] == 30
    assert json.loads(bigger.files[generate.MANIFEST])["defects"]


def test_run_dockaudit_only_on_a_tiny_tree(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--files", "30", "--out", str(tmp_path), "--no-peers",
         "--runs", "1", "--warmup", "0", "--json", str(results), "--markdown", "--quiet",
         "--startup", "--startup-runs", "2"],
        capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| dockaudit (full audit, all kinds)" in done.stdout
    assert "Machine:" in done.stdout
    assert "dockaudit --version" in done.stdout
    data = json.loads(results.read_text())
    assert [r["tool"] for r in data["results"]] == ["dockaudit"]
    result = data["results"][0]
    assert result["files"] > 0 and len(result["walls"]) == 1
    # dockaudit must not stop with a usage or internal error (exit 2) on the generated tree
    assert result["ok"], f"dockaudit {result['status']}: see {tmp_path / 'logs' / 'dockaudit.log'}"
