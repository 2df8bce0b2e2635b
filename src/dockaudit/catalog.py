"""The rule catalog: one TOML file per rule under ``rules/``, shipped inside the wheel.

``dockaudit rules``, ``dockaudit explain``, SARIF rule metadata and the example tests all read
this catalog; nothing restates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dockaudit import _toml
from dockaudit.findings import Severity


def rules_dir() -> Path:
    """The catalog folder: inside the installed package, or ``rules/`` of a source checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "_rules"
    if installed.is_dir():
        return installed
    return here.parent.parent / "rules"


@dataclass(frozen=True)
class Example:
    """A small project (file name → text) on which a rule must (``fail``) or must not (``pass``) fire."""

    kind: str
    files: dict[str, str]
    lines: tuple[int, ...] = ()
    path: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RuleInfo:
    id: str
    name: str
    severity: Severity
    kinds: tuple[str, ...]
    summary: str
    description: str
    rationale: str
    fix: str
    certainty: str = "certain"
    references: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: "rule" (a function in dockaudit.checks), "parser" (emitted while loading files) or "internal"
    emitted_by: str = "rule"
    examples: tuple[Example, ...] = field(default=(), repr=False)
    source: str = ""

    @property
    def failing(self) -> list[Example]:
        return [e for e in self.examples if e.kind == "fail"]

    @property
    def passing(self) -> list[Example]:
        return [e for e in self.examples if e.kind == "pass"]


class CatalogError(Exception):
    pass


def _rule_from(data: dict, source: str) -> RuleInfo:
    try:
        examples = tuple(
            Example(
                kind=e["kind"],
                files=dict(e["files"]),
                lines=tuple(e.get("lines", ())),
                path=e.get("path"),
                note=e.get("note", ""),
            )
            for e in data.get("examples", ())
        )
        return RuleInfo(
            id=data["id"],
            name=data["name"],
            severity=Severity.parse(data["severity"]),
            kinds=tuple(data.get("kinds", ())),
            summary=data["summary"].strip(),
            description=data.get("description", "").strip(),
            rationale=data.get("rationale", "").strip(),
            fix=data.get("fix", "").strip(),
            certainty=data.get("certainty", "certain"),
            references=tuple(data.get("references", ())),
            peers=tuple(data.get("peers", ())),
            tags=tuple(data.get("tags", ())),
            emitted_by=data.get("emitted_by", "rule"),
            examples=examples,
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{source}: bad catalog entry ({exc})") from None


@cache
def load_catalog() -> dict[str, RuleInfo]:
    """All catalog entries by id, sorted by id."""
    folder = rules_dir()
    rules: dict[str, RuleInfo] = {}
    for path in sorted(folder.glob("DA*.toml")):
        try:
            data = _toml.loads(path.read_text(encoding="utf-8"))
        except _toml.TOMLDecodeError as exc:
            raise CatalogError(f"{path.name}: {exc}") from None
        info = _rule_from(data, path.name)
        if info.id in rules:
            raise CatalogError(f"{path.name}: rule id {info.id} is used twice")
        rules[info.id] = info
    return rules


def find_rule(key: str) -> RuleInfo | None:
    """A rule by id (case-insensitive) or name."""
    catalog = load_catalog()
    upper = key.upper()
    if upper in catalog:
        return catalog[upper]
    lowered = key.lower()
    for info in catalog.values():
        if info.name == lowered:
            return info
    return None


@cache
def load_table(name: str) -> dict:
    """A knowledge table ``rules/knowledge/<name>.toml``."""
    path = rules_dir() / "knowledge" / f"{name}.toml"
    return _toml.loads(path.read_text(encoding="utf-8"))
