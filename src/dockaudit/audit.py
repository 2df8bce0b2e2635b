"""The programmatic entry point: audit one or more paths and return findings.

>>> from dockaudit.audit import audit
>>> result = audit(["fixtures/listening-trainer"])          # doctest: +SKIP
>>> [f.rule for f in result.findings]                         # doctest: +SKIP

Parallel work (``--jobs``)
--------------------------
``jobs=1`` keeps everything in this process, in order. Otherwise (Linux only, from a
single-threaded process) work goes to forked children in two ways, chosen from measurements:

- several PATH roots are audited whole (parse and rules) in a pool of children that send back
  only findings and decoded sources (``jobs=0``: when they hold :data:`PARALLEL_MIN_ROOT_FILES`
  files to read or more);
- within one root, files of the kinds in :data:`PARALLEL_KINDS` are parsed by children and sent
  back pickled, while this process parses the other kinds and then helps with what is left.
  ``jobs=0`` (the default) does this only above :data:`PARALLEL_MIN_WORK`.

Measured on ``bench/out/tree-2000-seed1`` (1,990 files, 460 read) on a 2-core machine shared with
other work (load average 4-8), so CPU seconds per process are compared rather than wall time;
with a free second core the parallel wall time is the longer of the two processes:

- parsing alone: 1.7-2.2 s CPU sequentially; with ``--jobs 2`` this process 0.8-1.1 s and the
  worker 0.8-1.1 s, about 55% of the sequential time. Pickling every document and loading it
  back costs 1.1 s against 4.4 s of parsing (wall), but unevenly: (dump + load) / parse is 0.07
  for uv.lock, 0.15 compose, 0.3 pyproject, 0.45 requirements, and 1.1 Dockerfile, 1.2 nginx,
  2.7 env files (cheaper to parse again), while ``.dockerignore`` matchers do not pickle at all;
  hence the per-kind split;
- the whole audit: 3.0 s CPU sequentially; ``--jobs 2`` 2.2 s here plus 0.9 s in the worker,
  about 27% less wall time, for 3% more CPU in total;
- the same tree as 36 PATH roots (its service and stack folders): 3.1-3.6 s CPU sequentially;
  ``--jobs 2``: two children share 3.2 s (about 1.6 s each) while this process waits (0.2 s):
  about half the wall time;
- a 7-file project: forking costs 0.03 s CPU and gains nothing, hence the automatic threshold;
- the rules of one root are shared with one forked child (:mod:`dockaudit.rule_workers`): this
  process takes them from the front of the list, the child from the back, so the shared models
  (assembled compose projects, stage contents) are mostly built in one process only. Measured
  on the same tree at load average below 1: rules 1.0 s in one process, 0.57 s wall in two.
  ``jobs=0`` does this from :data:`RULE_FORK_MIN_FILES` files read.

Not done, because it does not pay: cutting one root into compose projects (rules are
cross-file: mounted nginx configs, ``.dockerignore``, env templates may live anywhere in the
root). Reproduce with ``bench/measure_jobs.py``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
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
    #: worker processes; 0 picks automatically, 1 keeps everything in this process
    jobs: int = 0
    #: show a progress bar on stderr for large scans (the CLI sets it when stderr is a terminal)
    progress: bool = False


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


@dataclass
class _RootResult:
    """What one scanned root gives (also sent back by a worker process, so it must pickle)."""

    findings: list[Finding]
    sources: dict[str, SourceFile]
    fail_on: str | None
    scanned: int
    error: str | None = None


def audit(paths: list[str] | tuple[str, ...] = (".",), options: Options | None = None) -> AuditResult:
    """Scan each path (a folder, or one file) and return every finding, suppressed ones included."""
    options = options or Options()
    targets: list[tuple[Path, str | None]] = []
    for raw in paths or (".",):
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"path {raw} does not exist")
        targets.append((path.parent.resolve(), path.name) if path.is_file() else (path.resolve(), None))
    progress = _Progress(options.progress)
    try:
        workers = _root_workers(options.jobs, targets, options)
        if workers:
            results = _audit_roots_in_parallel(targets, options, workers, progress)
        else:
            results = [_audit_root(root, only, options, progress) for root, only in targets]
    finally:
        progress.close()
    findings: list[Finding] = []
    sources: dict[str, SourceFile] = {}
    fail_on = options.fail_on or "warning"
    scanned = 0
    for result in results:
        if result.error is not None:
            raise ConfigError(result.error)
        findings.extend(result.findings)
        sources.update(result.sources)
        scanned += result.scanned
        if not options.fail_on and result.fail_on:
            fail_on = result.fail_on
    findings.sort(key=Finding.sort_key)
    return AuditResult(findings=findings, sources=sources, fail_on=fail_on, files_scanned=scanned)


def _audit_root(root: Path, only: str | None, options: Options, progress: _Progress) -> _RootResult:
    from dockaudit import engine
    from dockaudit.discover import walk
    from dockaudit.globs import compile_globs

    config = _configure(root, options)
    tree = walk(root, config.exclude, only=only)
    project = Project(root, config, tree)
    inside = config.path and not config.path.startswith(("../", "/")) and config.path != ".."
    if inside and (root / config.path).is_file():
        project.tree.files.setdefault(config.path, (root / config.path).stat().st_size)
        project.source(config.path)
        project.kinds[config.path] = "config"
    progress.start(len(tree.classified))
    fork_rules = _fork_rules(options.jobs, project)
    _parse(project, options.jobs, progress, meanwhile=_prepare_rules if fork_rules else None)
    results = engine.run(project, config, debug=options.debug, on_rule=progress.rule, fork=fork_rules)
    ignored_by_path = {glob: compile_globs([glob]) for glob in config.per_file_ignores}
    prefix = _display_prefix(root)
    findings: list[Finding] = []
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
    sources = {prefix + relpath: source for relpath, source in project.sources.items()}
    return _RootResult(findings, sources, config.fail_on, len(project.tree.classified))


# --- parallel work (--jobs) ----------------------------------------------------------------------

#: kinds parsed in worker processes: their documents pickle in a fraction of their parse time.
#: Measured on bench/out/tree-2000-seed1, (pickle + unpickle) / parse: uv.lock 0.1, pyproject
#: 0.3, requirements 0.3, compose 0.3 (with libyaml; 0.15 with the pure-Python parser);
#: Dockerfiles 0.45, nginx 0.5, env files 1.4; .dockerignore matchers do not pickle at all.
#: This process parses the other kinds meanwhile, so the split is kept where the worker is done
#: first: on a noisy 2-core machine moving Dockerfiles and nginx configs over measured no gain.
PARALLEL_KINDS = {"compose": 1.0, "pyproject": 0.3, "requirements": 0.4, "uvlock": 0.05}
#: weighted bytes of such files (compose bytes count 1) below which the automatic mode stays
#: sequential: a fork and the pickling cost more than they save on small projects
PARALLEL_MIN_WORK = 30_000


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _can_fork() -> bool:
    """Workers are forked children (they inherit the parsed project): only on Linux (macOS and
    Windows start children with spawn, which would re-import everything), and only from a
    single-threaded process (forking next to other threads can deadlock the child)."""
    import sys
    import threading

    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


#: files to read, over all PATH roots, below which the automatic mode audits them one by one
PARALLEL_MIN_ROOT_FILES = 100


def _root_workers(jobs: int, targets: list[tuple[Path, str | None]], options: Options) -> int:
    """Processes to audit several roots at once (0: one after the other, in this process)."""
    if jobs == 1 or len(targets) < 2 or not _can_fork():
        return 0
    if jobs == 0:
        from dockaudit.discover import walk

        # a walk is cheap next to parsing: count the files to read before paying for processes
        files = 0
        for root, only in targets:
            try:
                files += len(walk(root, _configure(root, options).exclude, only=only).classified)
            except ConfigError:
                return 0  # reported, in order, by the sequential path
            if files >= PARALLEL_MIN_ROOT_FILES:
                break
        if files < PARALLEL_MIN_ROOT_FILES:
            return 0
        jobs = _usable_cpus()
    return max(0, min(jobs, len(targets)))


def _parse_workers(jobs: int, project: Project) -> int:
    """Worker processes for parsing, besides this one (0: parse sequentially)."""
    if jobs == 1:
        return 0
    if jobs == 0:
        work = sum(project.tree.files.get(relpath, 0) * PARALLEL_KINDS[kind]
                   for relpath, kind in project.tree.classified.items() if kind in PARALLEL_KINDS)
        if work < PARALLEL_MIN_WORK:
            return 0
        jobs = _usable_cpus()
    if not _can_fork():
        return 0
    return max(0, jobs - 1)


#: files read below which the automatic mode runs the rules in this process alone: a fork and
#: the second process building shared models again cost more than they save on small projects
RULE_FORK_MIN_FILES = 60


def _fork_rules(jobs: int, project: Project) -> bool:
    """Share the rules with a forked child (see :mod:`dockaudit.rule_workers`)?"""
    if jobs == 1 or not _can_fork():
        return False
    if jobs == 0:
        return len(project.tree.classified) >= RULE_FORK_MIN_FILES and _usable_cpus() > 1
    return True


def _prepare_rules() -> None:
    """Import the rule modules once, before the rules are shared with a child that inherits them.

    (The knowledge tables are left to the rules: the parse phase is this process's, and a table
    only one half of the rules needs is then read in that process alone.)
    """
    from dockaudit import engine

    engine.load_checks()


def _parse(project: Project, jobs: int, progress: _Progress,
           meanwhile: Callable[[], None] | None = None) -> None:
    """Parse every discovered file, in worker processes when it pays (see :data:`PARALLEL_KINDS`).

    ``meanwhile`` is work for this process while the workers parse (after its own files).
    """
    workers = _parse_workers(jobs, project)
    remote = sorted(((relpath, kind) for relpath, kind in project.tree.classified.items()
                     if kind in PARALLEL_KINDS),
                    key=lambda item: -project.tree.files.get(item[0], 0))
    if not workers or len(remote) < 2:
        for relpath, kind in sorted(project.tree.classified.items()):
            project.document(relpath, kind)
            progress.advance()
        if meanwhile is not None:
            meanwhile()
        return
    local = sorted((relpath, kind) for relpath, kind in project.tree.classified.items()
                   if kind not in PARALLEL_KINDS)
    _parse_forked(project, remote, local, min(workers, len(remote)), progress, meanwhile)
    # the same order of diagnostics as a sequential parse: by file, then as each file gave them
    order = {relpath: index for index, relpath in enumerate(sorted(project.tree.classified))}
    project.diagnostics.sort(key=lambda finding: order.get(finding.span.path, len(order)))


def _parse_forked(project: Project, remote: list[tuple[str, str]], local: list[tuple[str, str]],
                  workers: int, progress: _Progress, meanwhile: Callable[[], None] | None = None) -> None:
    """Forked workers and this process take files of ``remote`` from a shared counter (largest
    first); this process parses ``local`` first and then helps. A worker that dies or fails only
    loses its files to this process, which parses whatever did not come back."""
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("fork")
    counter = context.Value("i", 0)
    pipes, processes = [], []
    for _ in range(workers):
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_parse_worker, args=(project, remote, counter, writer), daemon=True)
        process.start()
        writer.close()
        pipes.append(reader)
        processes.append(process)
    done: set[int] = set()

    def receive(block: bool) -> None:
        while pipes:
            ready = wait(pipes, None if block else 0)
            if not ready:
                return
            for reader in ready:
                try:
                    message = reader.recv()
                except (EOFError, OSError):  # finished (or died): nothing more from it
                    pipes.remove(reader)
                    continue
                index, source, document, diagnostics = message
                relpath, kind = remote[index]
                project.adopt(relpath, kind, source, document, diagnostics)
                done.add(index)
                progress.advance()
            if not block:
                return

    try:
        for relpath, kind in local:
            project.document(relpath, kind)
            progress.advance()
            receive(block=False)
        if meanwhile is not None:
            meanwhile()
            receive(block=False)
        while True:  # help with what the workers have not taken yet
            index = _take(counter)
            if index >= len(remote):
                break
            relpath, kind = remote[index]
            project.document(relpath, kind)
            done.add(index)
            progress.advance()
            receive(block=False)
        receive(block=True)
    finally:
        for reader in pipes:
            reader.close()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    for index, (relpath, kind) in enumerate(remote):
        if index not in done:  # a worker failed on it: parse it here (a crash becomes DA000)
            project.document(relpath, kind)
            progress.advance()


def _take(counter) -> int:  # counter: a multiprocessing.Value
    """The next task index (a huge one, meaning "stop", if a dead worker left the lock held)."""
    lock = counter.get_lock()
    if not lock.acquire(timeout=10):
        return 1 << 30
    try:
        index = counter.value
        counter.value = index + 1
    finally:
        lock.release()
    return index


def _parse_worker(project: Project, remote: list[tuple[str, str]], counter, writer) -> None:
    """In a forked child: parse the files the counter hands out and send each result back."""
    import pickle

    try:
        while True:
            index = _take(counter)
            if index >= len(remote):
                return
            relpath, kind = remote[index]
            before = len(project.diagnostics)
            try:
                document = project.document(relpath, kind)
                payload = pickle.dumps((index, project.sources.get(relpath), document,
                                        project.diagnostics[before:]), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # not picklable, or a parser bug: the parent parses it again
                continue
            writer.send_bytes(payload)
    except (KeyboardInterrupt, BrokenPipeError, OSError):
        return
    finally:
        writer.close()


def _audit_roots_in_parallel(targets: list[tuple[Path, str | None]], options: Options, workers: int,
                             progress: _Progress) -> list[_RootResult]:
    """Each root audited whole (parse and rules) in a forked child that sends back its findings."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    progress.start(len(targets), "paths", minimum=8)
    with context.Pool(workers) as pool:
        results = []
        for result in pool.imap(_audit_root_in_child, [(root, only, options) for root, only in targets]):
            results.append(result)
            progress.advance()
    return results


def _audit_root_in_child(task: tuple[Path, str | None, Options]) -> _RootResult:
    root, only, options = task
    try:
        return _audit_root(root, only, replace(options, jobs=1), _Progress(False))
    except ConfigError as exc:
        return _RootResult([], {}, None, 0, error=str(exc))


# --- progress ---------------------------------------------------------------------------------

#: files below which no progress bar is shown, however long the scan takes
PROGRESS_MIN_FILES = 300


class _Progress:
    """A transient rich progress bar on stderr, for large scans in a terminal; otherwise nothing.

    The caller decides whether a bar is wanted (``Options.progress``: the CLI asks for one only
    when stderr is a terminal and ``CI`` is not set); it appears only past
    :data:`PROGRESS_MIN_FILES` files.
    """

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted
        self._bar = None
        self._task = None
        self._rules_task = None
        self._refreshed = 0.0

    def start(self, total: int, what: str = "files", minimum: int = PROGRESS_MIN_FILES) -> None:
        """A new bar of ``total`` steps (replacing the previous one), if the scan is large enough."""
        if not self.wanted or total < minimum:
            self._task = None
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            # no refresh thread (auto_refresh=False): worker processes are forked, and a fork
            # next to a running thread can deadlock; advance() refreshes at most ten times a second
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                                 auto_refresh=False)
            self._bar.start()
        for task in (self._task, self._rules_task):
            if task is not None:
                self._bar.update(task, visible=False)
        self._rules_task = None
        self._task = self._bar.add_task(f"parsing {what}" if what == "files" else f"auditing {what}",
                                        total=total)

    def advance(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
            self._refresh()

    def _refresh(self, force: bool = False) -> None:
        import time

        now = time.monotonic()
        if force or now - self._refreshed >= 0.1:
            self._refreshed = now
            self._bar.refresh()

    def rule(self, rule_id: str, total: int) -> None:
        if self._bar is None or self._task is None:
            return
        if self._rules_task is None:
            self._bar.update(self._task, visible=False)
            self._rules_task = self._bar.add_task("checking rules", total=total)
        self._bar.update(self._rules_task, advance=1, description=f"checking {rule_id}")
        self._refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
