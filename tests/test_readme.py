"""The README is the user's entry point: its commands, rule list and CI recipe must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from dockaudit.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_first_lines_give_install_and_test_commands():
    head = "\n".join(README.splitlines()[:15])
    assert "pip install . && dockaudit fixtures/listening-trainer" in head
    assert "pip install -e '.[test]' && ruff check . && python -m pytest -q" in head


def test_ci_script_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"TEST_COMMAND='([^']+)'", script).group(1)
    assert command in README


def test_every_rule_is_listed():
    missing = [rule_id for rule_id in load_catalog() if f"| {rule_id} |" not in README]
    assert not missing, f"README lacks {missing}; regenerate the table with `python tools/update_readme.py`"


def test_demo_fixture_exists():
    assert (ROOT / "fixtures" / "listening-trainer" / "Dockerfile").is_file()
