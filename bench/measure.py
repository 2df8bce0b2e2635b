"""Run commands one after another and report their wall time, CPU time and peak memory.

``bench/run.py`` starts this script once per measurement, so the numbers cover the measured
commands only: the wall clock starts right before the first command and stops right after the last,
and ``resource.getrusage(RUSAGE_CHILDREN)`` is read in a process that has run nothing else.
``ru_maxrss`` of the children is the peak resident set of the largest single process among them
(Linux reports KiB, macOS bytes); it is a maximum, not a sum, which is why every measurement
needs a fresh process rather than deltas in a long-lived one.

Input (JSON on stdin)::

    {"commands": [["hadolint", "Dockerfile"], ...], "cwd": "...", "env": {...} (the whole
     environment; null: this process's), "log": "path or null", "timeout": 600}

Output (JSON on stdout)::

    {"wall": 1.23, "walls": [...], "cpu": 1.1, "maxrss_kib": 51234, "codes": [0, 1], "timeout": false}
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time


def main() -> int:
    spec = json.load(sys.stdin)
    env = dict(spec["env"]) if spec.get("env") is not None else dict(os.environ)
    log_path = spec.get("log")
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    deadline = spec.get("timeout") or None
    walls: list[float] = []
    codes: list[int] = []
    timed_out = False
    start = time.perf_counter()
    try:
        for command in spec["commands"]:
            before = time.perf_counter()
            remaining = None if deadline is None else max(0.1, deadline - (before - start))
            try:
                process = subprocess.Popen(command, cwd=spec.get("cwd"), env=env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=log, start_new_session=True)
            except OSError as exc:
                codes.append(127)
                if log_path:
                    log.write(f"measure: cannot run {command[0]}: {exc}\n".encode())
                break
            try:
                codes.append(process.wait(timeout=remaining))
            except subprocess.TimeoutExpired:
                # the command and everything it started (its own session) go; then stop measuring
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                timed_out = True
                codes.append(-9)
                break
            walls.append(time.perf_counter() - before)
    finally:
        wall = time.perf_counter() - start
        if log_path:
            log.close()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    maxrss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    json.dump({"wall": wall, "walls": walls, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": maxrss,
               "codes": codes, "timeout": timed_out}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
