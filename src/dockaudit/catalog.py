"""The rule catalog: one TOML file per rule under ``rules/``, shipped inside the wheel.

``dockaudit rules``, ``dockaudit explain``, SARIF rule metadata and the example tests all read
this catalog; nothing restates it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
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


#: a catalog file name: ``DA501-command-not-in-image.toml`` (the id, then the rule's name)
_ENTRY_NAME = re.compile(r"(DA\d{3})-([a-z0-9][a-z0-9-]*)\.toml")
#: where the examples begin in an entry (they come last and make up half of its text)
_EXAMPLES_START = re.compile(r"^\[\[examples\]\]", re.MULTILINE)


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
    source: str = ""
    #: the folder the entry was read from
    folder: Path | None = field(default=None, repr=False, compare=False)

    @cached_property
    def examples(self) -> tuple[Example, ...]:
        """The entry's examples, read on first use (only tests, ``explain`` and SARIF need them)."""
        if not self.source:
            return ()
        text = ((self.folder or rules_dir()) / self.source).read_text(encoding="utf-8")
        try:
            return _examples_from(_toml.loads(text), self.source)
        except _toml.TOMLDecodeError as exc:
            raise CatalogError(f"{self.source}: {exc}") from None

    @property
    def failing(self) -> list[Example]:
        return [e for e in self.examples if e.kind == "fail"]

    @property
    def passing(self) -> list[Example]:
        return [e for e in self.examples if e.kind == "pass"]


class CatalogError(Exception):
    pass


def _examples_from(data: dict, source: str) -> tuple[Example, ...]:
    try:
        return tuple(
            Example(
                kind=e["kind"],
                files=dict(e["files"]),
                lines=tuple(e.get("lines", ())),
                path=e.get("path"),
                note=e.get("note", ""),
            )
            for e in data.get("examples", ())
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{source}: bad example ({exc})") from None


def _rule_from(data: dict, source: str, folder: Path | None = None) -> RuleInfo:
    try:
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
            source=source,
            folder=folder,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{source}: bad catalog entry ({exc})") from None


class Catalog(Mapping[str, RuleInfo]):
    """The catalog entries by id, sorted by id; each entry is read on first use.

    The ids and names come from the file names, so selecting rules by name and listing them
    reads no file; a scan reads only the entries of the rules that found something.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, str] = {}
        #: rule name → id and id → name, from the file names
        self.names: dict[str, str] = {}
        self._name_of: dict[str, str] = {}
        for path in sorted(folder.glob("DA*.toml")):
            match = _ENTRY_NAME.fullmatch(path.name)
            if match is None:
                raise CatalogError(f"{path.name}: a catalog file is named DA<3 digits>-<rule-name>.toml")
            rule_id, name = match.groups()
            if rule_id in self.files:
                raise CatalogError(f"{path.name}: rule id {rule_id} is used twice")
            self.files[rule_id] = path.name
            self.names[name] = rule_id
            self._name_of[rule_id] = name
        self._entries: dict[str, RuleInfo] = {}

    def __getitem__(self, rule_id: str) -> RuleInfo:
        info = self._entries.get(rule_id)
        if info is None:
            source = self.files[rule_id]
            text = (self.folder / source).read_text(encoding="utf-8")
            start = _EXAMPLES_START.search(text)
            try:
                data = _toml.loads(text[:start.start()] if start else text)
            except _toml.TOMLDecodeError as exc:
                raise CatalogError(f"{source}: {exc}") from None
            info = _rule_from(data, source, self.folder)
            if (info.id, info.name) != (rule_id, self._name_of[rule_id]):
                raise CatalogError(f"{source}: the file name does not match id {info.id} "
                                   f"and name {info.name}")
            self._entries[rule_id] = info
        return info

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self.files

    def name_of(self, rule_id: str) -> str:
        """A rule's name, without reading its entry."""
        return self._name_of[rule_id]


@cache
def load_catalog() -> Catalog:
    """All catalog entries by id, sorted by id (read lazily, see :class:`Catalog`)."""
    return Catalog(rules_dir())


def find_rule(key: str) -> RuleInfo | None:
    """A rule by id (case-insensitive) or name."""
    catalog = load_catalog()
    upper = key.upper()
    if upper in catalog:
        return catalog[upper]
    rule_id = catalog.names.get(key.lower())
    return catalog[rule_id] if rule_id is not None else None


@cache
def load_table(name: str) -> dict:
    """A knowledge table ``rules/knowledge/<name>.toml``."""
    path = rules_dir() / "knowledge" / f"{name}.toml"
    return _toml.loads(path.read_text(encoding="utf-8"))
