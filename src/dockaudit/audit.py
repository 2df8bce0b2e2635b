"""The programmatic entry point: audit one or more paths and return findings.

>>> from dockaudit.audit import audit
>>> result = audit(["fixtures/listening-trainer"])          # doctest: +SKIP
>>> [f.rule for f in result.findings]                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path

from dockaudit.config import Config, ConfigError, GpuFleet, find_config, load_config
from dockaudit.findings import Finding, Related, Severity, Suppression
from dockaudit.project import Project
from dockaudit.source import SourceFile, Span


@dataclass
class Options:
    """What the command line (or a caller) asks for, on top of the config file."""

    config_file: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    fail_on: str | None = None
    gpu_driver: str | None = None
    gpu_devices: tuple[str, ...] = ()
    debug: bool = False
    jobs: int = 0


@dataclass
class AuditResult:
    findings: list[Finding]
    #: display path -> decoded source, for reporters that show the offending line
    sources: dict[str, SourceFile] = field(default_factory=dict)
    fail_on: str = "warning"
    files_scanned: int = 0

    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppression is None]

    def exit_code(self, fail_on: str | None = None) -> int:
        threshold = fail_on or self.fail_on
        if threshold == "never":
            return 0
        level = Severity.parse(threshold)
        return 1 if any(f.severity >= level for f in self.active()) else 0


def _display_prefix(root: Path) -> str:
    try:
        rel = os.path.relpath(root, Path.cwd())
    except ValueError:  # another drive on Windows
        rel = str(root)
    rel = rel.replace(os.sep, "/")
    return "" if rel == "." else rel.rstrip("/") + "/"


def _relocate(span: Span, prefix: str) -> Span:
    if not prefix or span.path.startswith("/"):
        return span
    return replace(span, path=posixpath.normpath(prefix + span.path))


def _root_relative(path: Path, root: Path) -> str:
    """``path`` relative to the scanned root (``../x.toml`` when outside it), POSIX style."""
    try:
        return os.path.relpath(path.resolve(), root).replace(os.sep, "/")
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def _configure(root: Path, options: Options) -> Config:
    if options.config_file is not None:
        if not options.config_file.is_file():
            raise ConfigError(f"config file {options.config_file} does not exist")
        table = "tool.dockaudit" if options.config_file.name == "pyproject.toml" else ""
        config = load_config(options.config_file, table, display=str(options.config_file))
        # findings about the config are positioned relative to the root, like every other span
        config.path = _root_relative(options.config_file, root)
        for finding in config.diagnostics:
            finding.span = replace(finding.span, path=config.path)
        if config.gpu.span is not None:
            config.gpu.span = replace(config.gpu.span, path=config.path)
    else:
        found = find_config(root)
        config = load_config(found[0], found[1], display=found[0].name) if found else Config()
    if options.select:
        config.select = options.select
    if options.ignore:
        config.ignore = (*config.ignore, *options.ignore)
    if options.exclude:
        config.exclude = (*config.exclude, *options.exclude)
    if options.fail_on:
        config.fail_on = options.fail_on
    if options.gpu_driver or options.gpu_devices:
        config.gpu = GpuFleet(
            driver=options.gpu_driver or config.gpu.driver,
            devices=options.gpu_devices or config.gpu.devices,
            span=config.gpu.span,
        )
    return config


def audit(paths: list[str] | tuple[str, ...] = (".",), options: Options | None = None) -> AuditResult:
    """Scan each path (a folder, or one file) and return every finding, suppressed ones included."""
    from dockaudit import engine
    from dockaudit.discover import walk
    from dockaudit.globs import compile_globs

    options = options or Options()
    findings: list[Finding] = []
    sources: dict[str, SourceFile] = {}
    fail_on = options.fail_on or "warning"
    scanned = 0
    for raw in paths or (".",):
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"path {raw} does not exist")
        only = None
        root = path
        if path.is_file():
            root = path.parent
            only = path.name
        root = root.resolve()
        config = _configure(root, options)
        if not options.fail_on:
            fail_on = config.fail_on
        tree = walk(root, config.exclude, only=only)
        project = Project(root, config, tree)
        inside = config.path and not config.path.startswith(("../", "/")) and config.path != ".."
        if inside and (root / config.path).is_file():
            project.tree.files.setdefault(config.path, (root / config.path).stat().st_size)
            project.source(config.path)
            project.kinds[config.path] = "config"
        project.parse_all()
        results = engine.run(project, config, debug=options.debug)
        ignored_by_path = {glob: compile_globs([glob]) for glob in config.per_file_ignores}
        prefix = _display_prefix(root)
        for finding in results:
            if any(matches(finding.span.path)
                   and engine._wanted_any(finding.rule, config.per_file_ignores[glob])
                   for glob, matches in ignored_by_path.items()):
                continue
            finding.span = _relocate(finding.span, prefix)
            finding.related = tuple(Related(_relocate(r.span, prefix), r.message) for r in finding.related)
            if finding.suppression is not None:
                finding.suppression = Suppression(_relocate(finding.suppression.span, prefix),
                                                  finding.suppression.reason)
            findings.append(finding)
        for relpath, source in project.sources.items():
            sources[prefix + relpath] = source
        scanned += len(project.tree.classified)
    findings.sort(key=Finding.sort_key)
    return AuditResult(findings=findings, sources=sources, fail_on=fail_on, files_scanned=scanned)
