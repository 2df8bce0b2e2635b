"""The rule engine: a registry of rule functions, and the pass that runs them.

A rule is a function ``(project) -> Iterable[Finding]`` registered with :func:`rule` under its
catalog id. It reads the :class:`~dockaudit.project.Project` and never opens files. The engine
adds the rule id and severity, applies ``select``/``ignore``, severity overrides and in-source
suppressions, and turns a crashing rule into a finding instead of a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockaudit.catalog import RuleInfo, find_rule, load_catalog
from dockaudit.findings import Finding, Severity, Suppression
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.config import Config
    from dockaudit.project import Project

RuleFunc = Callable[["Project"], Iterable[Finding]]

#: rule id -> function; filled by importing the modules of :mod:`dockaudit.checks`.
REGISTRY: dict[str, RuleFunc] = {}

INTERNAL_ERROR = "DA000"
UNKNOWN_RULE = "DA003"


def rule(rule_id: str) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function under its catalog id."""

    def register(func: RuleFunc) -> RuleFunc:
        if rule_id in REGISTRY:
            raise RuntimeError(f"rule {rule_id} registered twice ({func.__qualname__})")
        REGISTRY[rule_id] = func
        func.rule_id = rule_id  # type: ignore[attr-defined]
        return func

    return register


_checks_loaded = False


def load_checks() -> dict[str, RuleFunc]:
    """Import every module of :mod:`dockaudit.checks` once, so their rules register."""
    global _checks_loaded
    if not _checks_loaded:
        import dockaudit.checks as package

        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
        _checks_loaded = True
    return REGISTRY


# --- in-source suppressions ------------------------------------------------------------------

PRAGMA = re.compile(
    r"(?:^|\s)#\s*dockaudit:\s*(ignore|ignore-file)\s*=\s*([A-Za-z0-9_,\- ]*?[A-Za-z0-9])(?:\s+(.*?))?\s*$"
)


@dataclass(frozen=True)
class Pragma:
    line: int
    column: int
    ids: tuple[str, ...]
    reason: str
    whole_file: bool
    own_line: bool

    def span(self, path: str, text: str) -> Span:
        return Span(path, self.line, self.column, self.line, len(text.rstrip()) + 1)


def scan_pragmas(text: str) -> list[Pragma]:
    """Every ``# dockaudit: ignore=ID[,ID] [reason]`` comment in a file."""
    found: list[Pragma] = []
    if "dockaudit:" not in text:
        return found
    for number, line in enumerate(text.split("\n"), start=1):
        if "dockaudit:" not in line:
            continue
        match = PRAGMA.search(line)
        if not match:
            continue
        ids = tuple(part.strip() for part in re.split(r"[,\s]+", match.group(2)) if part.strip())
        hash_at = line.index("#", match.start())
        found.append(Pragma(
            line=number,
            column=hash_at + 1,
            ids=ids,
            reason=(match.group(3) or "").strip(),
            whole_file=match.group(1) == "ignore-file",
            own_line=not line[:hash_at].strip(),
        ))
    return found


def _pragma_matches(pragma: Pragma, info: RuleInfo | None, rule_id: str) -> bool:
    for key in pragma.ids:
        if key.upper() == rule_id or key.lower() == "all" or (info is not None and key.lower() == info.name):
            return True
    return False


class Suppressor:
    """Decides whether a finding is silenced by a pragma in its own file."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._pragmas: dict[str, dict[int, Pragma]] = {}
        self._file_pragmas: dict[str, list[Pragma]] = {}

    def _load(self, path: str) -> dict[int, Pragma]:
        if path not in self._pragmas:
            source = self.project.sources.get(path)
            commented = source is not None and self.project.has_comments(path)
            pragmas = scan_pragmas(source.text) if commented else []
            self._pragmas[path] = {p.line: p for p in pragmas if not p.whole_file}
            self._file_pragmas[path] = [p for p in pragmas if p.whole_file]
        return self._pragmas[path]

    def check(self, finding: Finding, info: RuleInfo | None) -> Suppression | None:
        path = finding.span.path
        by_line = self._load(path)
        source = self.project.sources.get(path)
        for pragma in self._file_pragmas.get(path, ()):
            if _pragma_matches(pragma, info, finding.rule):
                return Suppression(pragma.span(path, source.line_text(pragma.line)), pragma.reason)
        if not by_line:
            return None
        for anchor in self.project.anchor_lines(path, finding.span.line):
            pragma = by_line.get(anchor)
            if pragma is not None and _pragma_matches(pragma, info, finding.rule):
                return Suppression(pragma.span(path, source.line_text(pragma.line)), pragma.reason)
            above = anchor - 1
            while above >= 1:
                pragma = by_line.get(above)
                if pragma is not None and pragma.own_line:
                    if _pragma_matches(pragma, info, finding.rule):
                        return Suppression(pragma.span(path, source.line_text(pragma.line)), pragma.reason)
                    above -= 1
                    continue
                break
        return None

    def unknown_ids(self) -> Iterator[Finding]:
        """Pragmas that name no rule of the catalog."""
        for path in self.project.sources:
            self._load(path)
            source = self.project.sources[path]
            for pragma in [*self._pragmas[path].values(), *self._file_pragmas[path]]:
                for key in pragma.ids:
                    if key.lower() == "all" or find_rule(key) is not None:
                        continue
                    yield Finding(
                        span=pragma.span(path, source.line_text(pragma.line)),
                        message=f"suppression names unknown rule {key!r}; see `dockaudit rules` for the ids",
                        rule=UNKNOWN_RULE,
                    )


# --- running ---------------------------------------------------------------------------------


def _wanted_any(rule_id: str, patterns: Iterable[str]) -> bool:
    """Does any of ``patterns`` (ids, names, id prefixes such as ``DA1``, or ``all``) name the rule?"""
    catalog = load_catalog()
    keys = {rule_id.lower()}
    if rule_id in catalog:
        keys.add(catalog.name_of(rule_id))
    for pattern in patterns:
        p = pattern.lower()
        if p in keys or p == "all" or (len(p) < len(rule_id) and rule_id.lower().startswith(p)):
            return True
    return False


def _run_rule(project: Project, rule_id: str, func: RuleFunc, debug: bool) -> list[Finding]:
    """The findings of one rule; a rule that crashes gives one DA000 finding instead."""
    found: list[Finding] = []
    try:
        for finding in func(project):
            finding.rule = rule_id
            found.append(finding)
    except Exception as exc:  # a rule must never take the whole run down
        if debug:
            raise
        return [Finding(
            span=Span.whole_file(project.display_root),
            message=f"rule {rule_id} failed on this project ({type(exc).__name__}: {exc}); "
                    "please report it, run with --debug for the traceback",
            rule=INTERNAL_ERROR,
        )]
    return found


def _wanted(rule_id: str, config: Config) -> bool:
    if config.select and not _wanted_any(rule_id, config.select):
        return False
    return not _wanted_any(rule_id, config.ignore)


def run(project: Project, config: Config, debug: bool = False,
        on_rule: Callable[[str, int], None] | None = None, fork: bool = False) -> list[Finding]:
    """Run every selected rule over ``project``; returns findings sorted by position.

    ``on_rule(rule_id, total)`` is called before each selected rule runs (a progress display).
    ``fork``: share the rules with a forked child process (see :mod:`dockaudit.rule_workers`).
    """
    catalog = load_catalog()
    registry = load_checks()
    raw: list[Finding] = list(project.diagnostics)
    selected = [(rule_id, func) for rule_id, func in registry.items() if _wanted(rule_id, config)]

    def run_one(rule_id: str, func: RuleFunc) -> list[Finding]:
        return _run_rule(project, rule_id, func, debug)

    if fork and not debug and len(selected) > 1:
        from dockaudit.rule_workers import run_in_two_processes

        for found in run_in_two_processes(selected, run_one, on_rule):
            raw.extend(found)
    else:
        for rule_id, func in selected:
            if on_rule is not None:
                on_rule(rule_id, len(selected))
            raw.extend(run_one(rule_id, func))
    suppressor = Suppressor(project)
    raw.extend(suppressor.unknown_ids())
    raw.extend(config.diagnostics)

    results: list[Finding] = []
    seen: set[tuple] = set()
    for finding in raw:
        if finding.rule not in (INTERNAL_ERROR,) and not _wanted(finding.rule, config):
            continue
        info = catalog.get(finding.rule)
        key = (finding.rule, finding.span, finding.message)
        if key in seen:
            continue
        seen.add(key)
        override = config.severity.get(finding.rule) or (info and config.severity.get(info.name))
        if override is not None:
            finding.severity = override
        elif finding.severity is None:
            finding.severity = info.severity if info is not None else Severity.ERROR
        finding.suppression = suppressor.check(finding, info)
        results.append(finding)
    results.sort(key=Finding.sort_key)
    return results
