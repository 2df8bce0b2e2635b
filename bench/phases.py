"""Time the phases of a dockaudit scan in one process, per file kind.

Run with dockaudit's own Python (``bench/run.py --profile`` does)::

    .venv/bin/python bench/phases.py TREE

The scan is done twice in the same process: the first includes the lazy imports each parser and
rule module does on first use, the second shows the steady cost. Phases: reading the config,
discovery (one walk), decoding each file, parsing it (per kind), linking (compose projects), the
rules (``engine.run``), and rendering the JSON report. Prints one JSON object.

This reaches into dockaudit's internals (``Project.source``/``document``, ``engine.run``) on
purpose; a phase whose API has changed is reported as an error instead of stopping the script.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _timed(phases: dict, name: str, function, *args):
    start = time.perf_counter()
    try:
        value = function(*args)
    except Exception as exc:  # internals move while the tool is being built
        phases[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return None
    phases[name] = {"seconds": time.perf_counter() - start}
    return value


def scan(root: Path) -> dict:
    phases: dict = {}
    start = time.perf_counter()
    from dockaudit import audit as audit_module
    from dockaudit import engine
    from dockaudit.discover import walk
    from dockaudit.project import Project

    phases["import core"] = {"seconds": time.perf_counter() - start}
    options = audit_module.Options()
    config = _timed(phases, "config", audit_module._configure, root, options)
    if config is None:
        from dockaudit.config import Config

        config = Config()
    tree = _timed(phases, "discover", walk, root, config.exclude)
    if tree is None:
        return {"phases": phases}
    phases["discover"]["files"] = len(tree.files)
    project = Project(root, config, tree)
    decode: dict[str, float] = {}
    parse: dict[str, float] = {}
    counts: dict[str, int] = {}
    for relpath, kind in sorted(tree.classified.items()):
        counts[kind] = counts.get(kind, 0) + 1
        t0 = time.perf_counter()
        project.source(relpath)
        t1 = time.perf_counter()
        project.document(relpath, kind)
        t2 = time.perf_counter()
        decode[kind] = decode.get(kind, 0.0) + t1 - t0
        parse[kind] = parse.get(kind, 0.0) + t2 - t1
    phases["decode"] = {"seconds": sum(decode.values()), "files": sum(counts.values())}
    for kind in sorted(parse):
        phases[f"parse {kind}"] = {"seconds": parse[kind], "files": counts[kind]}
    _timed(phases, "link (compose projects)", lambda: project.compose_projects)
    first_pass: dict[str, float] = {}
    marks: list[tuple[str, float]] = []

    def on_rule(rule_id: str, _total: int) -> None:
        now = time.perf_counter()
        if marks:
            first_pass[marks[-1][0]] = now - marks[-1][1]
        marks.append((rule_id, now))

    findings = _timed(phases, "rules (engine.run)", engine.run, project, config, False, on_rule)
    if marks:  # the last rule ends where the engine's own sorting and suppression begin
        first_pass[marks[-1][0]] = time.perf_counter() - marks[-1][1]
    if findings is not None:
        phases["rules (engine.run)"]["findings"] = len(findings)
        from dockaudit.report import render

        result = audit_module.AuditResult(findings=list(findings), sources=dict(project.sources),
                                          files_scanned=len(tree.classified))
        _timed(phases, "report (json)", render, "json", result)
    total = time.perf_counter() - start
    return {"phases": phases, "total": total, "rules": _per_rule(engine, project),
            "rules_first_pass": first_pass}


def _per_rule(engine, project) -> dict[str, float]:
    """Seconds each registered rule takes on its own, run again after the full pass (caches warm)."""
    registry = getattr(engine, "REGISTRY", None)
    if not isinstance(registry, dict):
        return {}
    seconds: dict[str, float] = {}
    for rule_id, function in sorted(registry.items()):
        start = time.perf_counter()
        try:
            for _finding in function(project) or ():
                pass
        except Exception:  # a rule's own bug is the engine's business, not the benchmark's
            pass
        seconds[rule_id] = time.perf_counter() - start
    return seconds


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: phases.py TREE\n")
        return 2
    root = Path(args[0]).resolve()
    first = scan(root)
    second = scan(root)
    json.dump({"first": first, "second": second}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
