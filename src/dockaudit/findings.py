"""What rules produce: findings with a primary position and the other places involved."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockaudit.source import Span


class Severity(enum.IntEnum):
    """Ordered so that a threshold comparison is a plain ``>=``."""

    NOTE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            levels = {"note": cls.NOTE, "info": cls.NOTE, "warning": cls.WARNING, "error": cls.ERROR}
            return levels[text.lower()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use error, warning or note)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Related:
    """Another place a cross-file finding involves (SARIF ``relatedLocations``)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a finding is silenced: an in-source pragma, with its reason."""

    span: Span
    reason: str = ""


@dataclass(slots=True)
class Finding:
    """One problem at one place.

    Rules create findings with ``span``, ``message`` and optionally ``related`` and ``fix``; the
    engine fills in ``rule`` and ``severity`` from the catalog and config, and ``suppression``
    when a pragma silences it. ``severity`` set by a rule overrides the catalog default for this
    one finding (for rules whose certainty varies case by case).
    """

    span: Span
    message: str
    related: tuple[Related, ...] = ()
    fix: str | None = None
    severity: Severity | None = None
    rule: str = ""
    suppression: Suppression | None = field(default=None)

    def sort_key(self) -> tuple:
        return (self.span.path, self.span.line, self.span.column, self.rule, self.message)
