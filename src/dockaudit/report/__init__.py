"""Reporters turn an :class:`~dockaudit.audit.AuditResult` into text; they never decide the exit code."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockaudit.audit import AuditResult

MODULES = {"text": "text", "json": "jsonfmt", "sarif": "sarif", "github": "github"}


def render(fmt: str, result: AuditResult, color: bool = False, quiet: bool = False,
           show_suppressed: bool = False) -> str:
    module = importlib.import_module(f"dockaudit.report.{MODULES[fmt]}")
    return module.render(result, color=color, quiet=quiet, show_suppressed=show_suppressed)
