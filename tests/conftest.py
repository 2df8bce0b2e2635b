"""Shared helpers: build a small project in a temporary folder and audit it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockaudit.audit import AuditResult, Options, audit


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def scan_tree(root: Path, files: dict[str, str | bytes] | None = None, **options) -> AuditResult:
    """Write ``files`` under ``root`` and audit it; paths in findings are relative to ``root``."""
    if files:
        write_tree(root, files)
    old = Path.cwd()
    import os

    os.chdir(root)
    try:
        return audit(["."], Options(**options))
    finally:
        os.chdir(old)


@pytest.fixture
def scan(tmp_path):
    """``scan(files, **options)`` -> AuditResult for a project made of ``files``."""

    def run(files: dict[str, str | bytes], **options) -> AuditResult:
        return scan_tree(tmp_path, files, **options)

    return run
