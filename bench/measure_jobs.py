"""Measure what ``--jobs`` gains, in CPU seconds per process (robust on a busy machine).

    .venv/bin/python bench/measure_jobs.py TREE [TREE2,TREE3,... for several roots] [--repeat 3]

For each path list it times, with ``jobs`` 1 and 2: the parse phase alone (``audit._parse``) and
the whole audit, as CPU seconds of this process (``time.process_time``) and of its finished
children (``RUSAGE_CHILDREN``). On an idle machine with a core per process the parallel wall time
is about the larger of the two; on a loaded one wall time says little, so it is printed only for
reference. It also checks that both give the same findings. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(function) -> dict:
    wall, cpu, kids = time.perf_counter(), time.process_time(), _children_cpu()
    value = function()
    return {"wall": time.perf_counter() - wall, "main_cpu": time.process_time() - cpu,
            "children_cpu": _children_cpu() - kids, "value": value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", help="a folder, or several separated by commas")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from dockaudit import audit as audit_module
    from dockaudit.discover import walk
    from dockaudit.project import Project

    paths = args.paths.split(",")
    audit_module.audit(paths, audit_module.Options(jobs=1))  # imports and catalog, once

    def parse_only(jobs: int):
        root = Path(paths[0]).resolve()
        config = audit_module._configure(root, audit_module.Options())
        project = Project(root, config, walk(root, config.exclude))
        return lambda: audit_module._parse(project, jobs, audit_module._Progress(False))

    def whole(jobs: int):
        return lambda: [(f.rule, str(f.span), f.message)
                        for f in audit_module.audit(paths, audit_module.Options(jobs=jobs)).findings]

    best: dict[tuple[str, int], dict] = {}
    for _ in range(args.repeat):
        for phase, make in (("parse", parse_only), ("audit", whole)):
            if phase == "parse" and len(paths) > 1:
                continue
            results = {}
            for jobs in (1, 2):
                row = _measure(make(jobs))
                results[jobs] = row.pop("value")
                key = (phase, jobs)
                # one root: one worker beside this process; several roots: ``jobs`` children
                workers = jobs if len(paths) > 1 and jobs > 1 else 1
                critical = max(row["main_cpu"], row["children_cpu"] / workers)
                if key not in best or critical < best[key]["critical_cpu"]:
                    best[key] = {**row, "critical_cpu": critical}
            if phase == "audit":
                assert results[1] == results[2], "jobs 1 and 2 gave different findings"
    for (phase, jobs), row in sorted(best.items()):
        print(json.dumps({"paths": len(paths), "phase": phase, "jobs": jobs,
                          **{k: round(v, 3) for k, v in row.items()}}))


if __name__ == "__main__":
    main()
