"""Time dockaudit and its peers side by side on the same tree.

Each tool runs ``--runs`` times, alternating (A B C … A B C …) after one untimed warm-up round, so
that drift of the machine (page cache, CPU frequency, other load) spreads over all tools alike.
Every measurement is a fresh ``bench/measure.py`` process that runs the tool's command(s) and
reports wall time, CPU time (user + system) and the peak RSS of the largest process
(``getrusage(RUSAGE_CHILDREN)``). Per tool the report shows the median wall time, files per second
(files of the kinds the tool reads, as dockaudit's discovery classifies them), the fastest run, the
median CPU time, peak RSS and the ratio of its median to dockaudit's. On a busy machine the CPU
time and the fastest run are steadier than the median wall time; the load average before and
after is printed with the results.

Peers are optional: ``bash bench/setup_peers.sh`` installs them into ``bench/.venv-peers`` and
``bench/.node``; one that is missing is reported as "not installed" and skipped. All tools run
with the HTTP(S) proxy pointed at a closed loopback port and checkov's update check and downloads
switched off, so no measured run reaches the network, and with byte-code caching on
(PYTHONDONTWRITEBYTECODE removed, PYTHONPYCACHEPREFIX=bench/out/pycache), as in a normal install.

Usage (from the repository root)::

    .venv/bin/python bench/run.py                       # generate 2,000 files, 5 runs, all tools
    .venv/bin/python bench/run.py --runs 5 --markdown   # the table for the README
    .venv/bin/python bench/run.py --tree ~/src/project  # any real tree
    .venv/bin/python bench/run.py --tools dockaudit,hadolint-all --runs 3
    .venv/bin/python bench/run.py --startup             # start-up time and import-time offenders
    .venv/bin/python bench/run.py --profile             # cProfile of one dockaudit scan

Results also go to ``--json FILE``; the last run's output of each tool to ``bench/out/logs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_BIN = HERE / ".venv-peers" / "bin"
NODE_BIN = HERE / ".node" / "node_modules" / ".bin"
OUT = HERE / "out"
MEASURE = HERE / "measure.py"

#: set for every measured command: no request can leave the machine, no update checks
OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE",
    "NO_COLOR": "1", "FORCE_COLOR": "0", "PYTHONWARNINGS": "ignore",
}

#: removed from the environment of every measured command: with PYTHONDONTWRITEBYTECODE set (as
#: some CI and sandbox images do), every run of a tool installed from source (dockaudit, editable)
#: compiles all its modules again, which no normal install does; byte-code goes to
#: ``--out``/pycache instead (PYTHONPYCACHEPREFIX), so the source tree stays clean
UNSET_ENV = ("PYTHONDONTWRITEBYTECODE",)


def bench_env() -> dict[str, str]:
    """The environment of every measured command (see OFFLINE_ENV and UNSET_ENV)."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    env.update(OFFLINE_ENV)
    return env

#: a command line longer than this is split into several processes
ARG_BUDGET = 100_000

#: file kinds with a peer; the rest (dockerignore, requirements, pyproject, uv.lock, package.json)
#: only dockaudit reads
PEER_KINDS = ("dockerfile", "compose", "nginx", "env")

Files = dict[str, list[str]]


def _chunked(prefix: list[str], paths: list[str]) -> list[list[str]]:
    """``prefix + paths`` as one command, or several if the line would be too long."""
    commands: list[list[str]] = []
    current: list[str] = []
    size = 0
    for path in paths:
        if current and size + len(path) + 1 > ARG_BUDGET:
            commands.append([*prefix, *current])
            current, size = [], 0
        current.append(path)
        size += len(path) + 1
    if current:
        commands.append([*prefix, *current])
    return commands


@dataclass
class Tool:
    """One measured way of running a tool."""

    key: str
    label: str
    program: str
    kinds: tuple[str, ...]               # file kinds it reads; ("*",) for every kind dockaudit reads
    commands: Callable[[str, Files], list[list[str]]]
    ok_codes: frozenset[int] = frozenset({0, 1})
    version_args: tuple[str, ...] = ("--version",)
    shown: str = ""                      # the command as documented in the report
    note: str = ""
    path: str | None = None
    version: str = ""


def tools_table() -> list[Tool]:
    return [
        Tool("dockaudit", "dockaudit (full audit, all kinds)", "dockaudit", ("*",),
             lambda exe, f: [[exe, ".", "--format", "json"]],
             shown="dockaudit . --format json"),
        Tool("hadolint-each", "hadolint, 1 process per Dockerfile", "hadolint", ("dockerfile",),
             lambda exe, f: [[exe, "--no-color", p] for p in f["dockerfile"]],
             shown="hadolint --no-color FILE   (once per Dockerfile)",
             note="as pre-commit style hooks call it file by file"),
        Tool("hadolint-all", "hadolint, 1 process, all Dockerfiles", "hadolint", ("dockerfile",),
             lambda exe, f: _chunked([exe, "--no-color"], f["dockerfile"]),
             shown="hadolint --no-color FILE...   (all Dockerfiles as arguments)"),
        Tool("checkov", "checkov --framework dockerfile", "checkov", ("dockerfile",),
             lambda exe, f: [[exe, "-d", ".", "--framework", "dockerfile", "--quiet", "--compact",
                              "--skip-download"]],
             shown="checkov -d . --framework dockerfile --quiet --compact --skip-download",
             note="walks the tree itself"),
        Tool("compose-lint", "compose-lint", "compose-lint", ("compose",),
             lambda exe, f: _chunked([exe, "check"], f["compose"]),
             ok_codes=frozenset({0, 1, 2}),
             shown="compose-lint check FILE...   (all compose files)",
             note="exit 2 = a file it could not parse (partial coverage)"),
        Tool("dclint", "dclint", "dclint", ("compose",),
             lambda exe, f: _chunked([exe, "--color", "false"], f["compose"]),
             shown="dclint --color false FILE...   (all compose files)"),
        Tool("gixy", "gixy-ng", "gixy", ("nginx",),
             lambda exe, f: _chunked([exe], f["nginx"]),
             shown="gixy FILE...   (all nginx configs, snippets and templates)"),
        Tool("dotenv-linter", "dotenv-linter", "dotenv-linter", ("env",),
             lambda exe, f: _chunked([exe, "lint"], f["env"]),
             shown="dotenv-linter lint FILE...   (all env files)"),
    ]


# --- discovery and environment -------------------------------------------------------------------


def classify_tree(tree: Path) -> Files:
    """Files of each kind under ``tree``, as dockaudit's own discovery classifies them."""
    try:
        from dockaudit.discover import walk
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))
        from dockaudit.discover import walk
    files: Files = {}
    for relpath, kind in sorted(walk(tree).classified.items()):
        files.setdefault(kind, []).append(relpath)
    return files


def find_program(name: str, dockaudit: str | None = None) -> str | None:
    if name == "dockaudit":
        if dockaudit:
            return dockaudit if Path(dockaudit).is_file() else shutil.which(dockaudit)
        beside = Path(sys.executable).with_name("dockaudit")
        return str(beside) if beside.is_file() else shutil.which("dockaudit")
    for folder in (PEERS_BIN, NODE_BIN):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def interpreter_of(script: str) -> str:
    """The Python that runs a console script (its shebang), else this interpreter."""
    try:
        with open(script, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError:
        return sys.executable
    if first.startswith("#!") and "python" in first:
        candidate = first[2:].split()[0]
        if Path(candidate).is_file():
            return candidate
    return sys.executable


def tool_version(tool: Tool) -> str:
    assert tool.path is not None
    try:
        done = subprocess.run([tool.path, *tool.version_args], capture_output=True, text=True, timeout=120,
                              env=bench_env(), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout or done.stderr).strip().splitlines()
    match = re.search(r"\d+\.\d+(?:\.\d+)?(?:[.\w+-]*)", text[0] if text else "")
    return match.group(0) if match else (text[0][:30] if text else "?")


def machine_line(python: str) -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    try:
        version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, timeout=60, check=False).stdout.strip()
    except OSError:
        version = platform.python_version()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{model}, {cores} cores{memory}, {platform.system()} {platform.release()}, "
            f"Python {version or platform.python_version()}")


# --- measuring -----------------------------------------------------------------------------------


def measure(commands: list[list[str]], cwd: Path, log: Path | None, timeout: float) -> dict:
    spec = {"commands": commands, "cwd": str(cwd), "env": bench_env(), "log": str(log) if log else None,
            "timeout": timeout}
    done = subprocess.run([sys.executable, str(MEASURE)], input=json.dumps(spec), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"measure.py failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


@dataclass
class Result:
    tool: Tool
    files: int
    processes: int
    runs: list[dict] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [r["wall"] for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(r["cpu"] for r in self.runs)

    @property
    def rss_mib(self) -> float:
        return max(r["maxrss_kib"] for r in self.runs) / 1024

    @property
    def codes(self) -> list[int]:
        return sorted({c for r in self.runs for c in r["codes"]})

    @property
    def ok(self) -> bool:
        return all(c in self.tool.ok_codes for c in self.codes) and not any(r["timeout"] for r in self.runs)

    @property
    def status(self) -> str:
        if any(r["timeout"] for r in self.runs):
            return "timeout"
        codes = ",".join(str(c) for c in self.codes)
        return f"ok (exit {codes})" if self.ok else f"FAILED (exit {codes})"

    def as_dict(self) -> dict:
        return {"tool": self.tool.key, "label": self.tool.label, "version": self.tool.version,
                "command": self.tool.shown, "kinds": list(self.tool.kinds), "files": self.files,
                "processes": self.processes, "walls": self.walls, "median": self.median,
                "files_per_second": self.files / self.median if self.median else None,
                "cpu": self.cpu, "peak_rss_mib": self.rss_mib, "exit_codes": self.codes, "ok": self.ok,
                "status": self.status}


def run_benchmark(tree: Path, tools: list[Tool], files: Files, runs: int, warmup: int, timeout: float,
                  logs: Path, quiet: bool = False) -> list[Result]:
    logs.mkdir(parents=True, exist_ok=True)
    all_kinds = sum(len(v) for v in files.values())
    plans: list[tuple[Result, list[list[str]]]] = []
    for tool in tools:
        assert tool.path is not None
        count = all_kinds if tool.kinds == ("*",) else sum(len(files.get(k, [])) for k in tool.kinds)
        commands = tool.commands(tool.path, {k: files.get(k, []) for k in (*PEER_KINDS, *files)})
        plans.append((Result(tool, count, len(commands)), commands))
    total = warmup + runs
    for round_index in range(total):
        timed = round_index >= warmup
        for result, commands in plans:
            log = logs / f"{result.tool.key}.log"
            measured = measure(commands, tree, log, timeout)
            if timed:
                result.runs.append(measured)
            if not quiet:
                label = f"run {round_index - warmup + 1}/{runs}" if timed else "warm-up"
                sys.stderr.write(f"  {label:>9}  {result.tool.key:<14} {measured['wall']:8.3f} s"
                                 f"  exit {','.join(map(str, sorted(set(measured['codes']))))}\n")
    return [result for result, _ in plans]


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "?"


# --- reporting -----------------------------------------------------------------------------------


def _rate(files: int, seconds: float) -> str:
    if not seconds:
        return "-"
    rate = files / seconds
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"


def _ratio(value: float, base: Result | None) -> str:
    if base is None or not base.ok or not base.median:
        return "n/a"
    return f"{value / base.median:.2f}×"


def table_rows(results: list[Result]) -> tuple[list[str], list[list[str]]]:
    base = next((r for r in results if r.tool.key == "dockaudit"), None)
    header = ["tool", "reads", "files", "procs", "median s", "min s", "files/s", "CPU s", "peak RSS MiB",
              "vs dockaudit", "status"]
    rows = []
    for r in results:
        kinds = "all kinds" if r.tool.kinds == ("*",) else ", ".join(r.tool.kinds)
        rows.append([f"{r.tool.label} {r.tool.version}".strip(), kinds, str(r.files), str(r.processes),
                     f"{r.median:.3f}", f"{min(r.walls):.3f}", _rate(r.files, r.median), f"{r.cpu:.2f}",
                     f"{r.rss_mib:.0f}", _ratio(r.median, base) if r is not base else "1.00×", r.status])
    peer_set = fastest_peer_set(results)
    if peer_set:
        chosen, wall, cpu, rss, count = peer_set
        rows.append(["peer set: fastest peer per kind, summed", ", ".join(PEER_KINDS),
                     str(count), "-", f"{wall:.3f}", "-", _rate(count, wall), f"{cpu:.2f}",
                     f"{rss:.0f}", _ratio(wall, base), " + ".join(chosen)])
    return header, rows


def fastest_peer_set(results: list[Result]) -> tuple[list[str], float, float, float, int] | None:
    """The quickest successful peer for each kind a peer covers, summed (one linter per kind)."""
    chosen: list[str] = []
    wall = cpu = rss = 0.0
    count = 0
    for kind in PEER_KINDS:
        candidates = [r for r in results if r.tool.key != "dockaudit" and r.ok and kind in r.tool.kinds]
        if not candidates:
            continue
        best = min(candidates, key=lambda r: r.median)
        chosen.append(best.tool.key)
        wall += best.median
        cpu += best.cpu
        rss = max(rss, best.rss_mib)
        count += best.files
    return (chosen, wall, cpu, rss, count) if len(chosen) > 1 else None


def render_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6, 7, 8, 9}
    lines = []
    for cells in [header, *rows]:
        lines.append("  ".join(c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                               for i, c in enumerate(cells)).rstrip())
        if cells is header:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def render_markdown(header: list[str], rows: list[list[str]]) -> str:
    align = ["---" if i in (0, 1, 10) else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def describe_tree(tree: Path, files: Files) -> str:
    total = sum(1 for _ in _all_files(tree))
    read = sum(len(v) for v in files.values())
    kinds = ", ".join(f"{k} {len(v)}" for k, v in sorted(files.items()))
    return f"{total} files, {read} of them config files dockaudit reads ({kinds})"


def _all_files(tree: Path):
    for _dirpath, _dirnames, filenames in os.walk(tree):
        yield from filenames


# --- start-up and profile ------------------------------------------------------------------------


def startup_report(dockaudit: str, tree: Path, runs: int, logs: Path) -> str:
    python = interpreter_of(dockaudit)
    out = [f"start-up ({runs} runs each, median):"]
    for label, command in [("python -c pass", [python, "-c", "pass"]),
                           ("python -c 'import dockaudit.cli'", [python, "-c", "import dockaudit.cli"]),
                           ("dockaudit --version", [dockaudit, "--version"]),
                           ("dockaudit --help", [dockaudit, "--help"])]:
        measured = measure([command] * runs, tree, None, 600)
        walls = measured["walls"]
        if len(walls) < runs or any(c != 0 for c in measured["codes"]):
            out.append(f"  {label:<36} failed (exit {sorted(set(measured['codes']))})")
            continue
        out.append(f"  {label:<36} {statistics.median(walls) * 1000:7.1f} ms   "
                   f"(min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f})")
    out.append("")
    out.append(importtime_report(python, tree, logs))
    return "\n".join(out)


def importtime_report(python: str, tree: Path, logs: Path, top: int = 15) -> str:
    """``python -X importtime`` of a normal scan, summarised by package and by module."""
    # one untimed scan first, so that byte-code caches are written and not counted
    subprocess.run([python, "-m", "dockaudit", ".", "--format", "json"], cwd=tree, capture_output=True,
                   env=bench_env(), check=False)
    done = subprocess.run([python, "-X", "importtime", "-m", "dockaudit", ".", "--format", "json"], cwd=tree,
                          capture_output=True, text=True, env=bench_env(), check=False)
    (logs / "importtime.txt").write_text(done.stderr, encoding="utf-8")
    entries = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if match:
            entries.append((int(match.group(1)), int(match.group(2)), len(match.group(3)), match.group(4)))
    if not entries:
        return f"importtime: no data (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    total = sum(e[0] for e in entries)
    by_package: dict[str, int] = {}
    for self_us, _cum, _depth, name in entries:
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us
    out = [f"python -X importtime -m dockaudit . --format json  (exit {done.returncode}): "
           f"{len(entries)} modules, {total / 1000:.1f} ms of imports in total",
           f"  by top-level package (sum of self time), top {top}:"]
    for package, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"    {us / 1000:8.1f} ms  {package}")
    out.append(f"  by module (cumulative, incl. what it imports), top {top}:")
    for _self_us, cum, depth, name in sorted(entries, key=lambda e: -e[1])[:top]:
        out.append(f"    {cum / 1000:8.1f} ms  {'  ' * max(0, depth // 2 - 1)}{name}")
    out.append(f"  (full list: {logs / 'importtime.txt'})")
    return "\n".join(out)


def phases_report(python: str, tree: Path) -> str:
    """The phases of a scan, per file kind, timed in-process by ``bench/phases.py`` (no profiler)."""
    done = subprocess.run([python, str(HERE / "phases.py"), str(tree)], capture_output=True, text=True,
                          env=bench_env(), check=False)
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return f"phases: no data (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    first, second = data["first"]["phases"], data["second"]["phases"]
    out = ["phases of one scan, in-process (bench/phases.py; the 2nd scan reuses the 1st one's imports):",
           f"  {'phase':<28}{'files':>7}{'1st ms':>10}{'2nd ms':>10}{'2nd ms/file':>13}"]
    for name, entry in first.items():
        again = second.get(name, {})
        if "error" in entry or "error" in again:
            out.append(f"  {name:<28}  error: {entry.get('error') or again.get('error')}")
            continue
        files = entry.get("files")
        per_file = f"{again['seconds'] * 1000 / files:.2f}" if files and "seconds" in again else ""
        out.append(f"  {name:<28}{files if files is not None else '':>7}{entry['seconds'] * 1000:>10.1f}"
                   f"{again.get('seconds', 0) * 1000:>10.1f}{per_file:>13}")
    out.append(f"  {'total':<28}{'':>7}{data['first']['total'] * 1000:>10.1f}"
               f"{data['second']['total'] * 1000:>10.1f}")
    rules = data["second"].get("rules") or {}
    if rules:
        slow = sorted(rules.items(), key=lambda kv: -kv[1])[:10]
        out.append(f"  slowest rules, each run alone after the pass ({len(rules)} rules, "
                   f"{sum(rules.values()) * 1000:.0f} ms in all): "
                   + ", ".join(f"{rid} {sec * 1000:.0f} ms" for rid, sec in slow))
    first_pass = data["first"].get("rules_first_pass") or {}
    if first_pass:
        slow = sorted(first_pass.items(), key=lambda kv: -kv[1])[:12]
        out.append("  slowest rules in the 1st scan (with the imports and shared models they are first to "
                   "need): " + ", ".join(f"{rid} {sec * 1000:.0f} ms" for rid, sec in slow))
    return "\n".join(out)


def profile_report(dockaudit: str, tree: Path, logs: Path, top: int = 25) -> str:
    python = interpreter_of(dockaudit)
    phases = phases_report(python, tree)
    profile = logs / "dockaudit.prof"
    done = subprocess.run([python, "-m", "cProfile", "-o", str(profile), "-m", "dockaudit", ".", "--format",
                           "json"], cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=bench_env(), check=False)
    if not profile.is_file():
        return f"profile: no data (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    out = [phases, "", f"cProfile of `python -m dockaudit . --format json`; stats in {profile} "
           "(open with `python -m pstats`); the profiler slows pure-Python code about 3×"]
    for key in ("cumulative", "tottime"):
        stream = StringIO()
        stats = pstats.Stats(str(profile), stream=stream)
        stats.strip_dirs().sort_stats(key).print_stats(top if key == "cumulative" else 15)
        text = stream.getvalue()
        start = text.find("   ncalls")
        out.append(f"\n-- top {top if key == 'cumulative' else 15} by {key} --")
        header = [ln for ln in text.splitlines() if "function calls" in ln]
        if header:
            out.append(header[0].strip())
        out.append(text[start:].rstrip() if start >= 0 else text.rstrip())
    return "\n".join(out)


# --- main ----------------------------------------------------------------------------------------


def prepare_tree(args: argparse.Namespace) -> Path:
    if args.tree is not None:
        tree = args.tree.resolve()
        if not tree.is_dir():
            raise SystemExit(f"run: {tree} is not a folder")
        return tree
    sys.path.insert(0, str(HERE))
    import generate

    tree = (args.out / f"tree-{args.files}-seed{args.seed}").resolve()
    built = generate.build(files=args.files, seed=args.seed)
    generate.write(built, tree, force=True)
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="benchmark this folder instead of a generated one")
    parser.add_argument("--files", type=int, default=2000, help="size of the generated tree (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated tree (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--tools", help="comma-separated tool keys (default: all); "
                        "keys: " + ", ".join(t.key for t in tools_table()))
    parser.add_argument("--no-peers", action="store_true", help="dockaudit only")
    parser.add_argument("--dockaudit", help="the dockaudit executable (default: beside this Python)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per measurement (default 900)")
    parser.add_argument("--out", type=Path, default=OUT, help="generated trees and logs (default bench/out)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (README)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--startup", action="store_true",
                        help="also: start-up time (median of --startup-runs) and import-time offenders")
    parser.add_argument("--startup-runs", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also: cProfile of one dockaudit scan")
    parser.add_argument("--check", action="store_true", help="exit 1 if a measured tool failed")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    wanted = None
    if args.no_peers:
        wanted = {"dockaudit"}
    elif args.tools:
        wanted = {t.strip() for t in args.tools.split(",") if t.strip()}
        unknown = wanted - {t.key for t in tools_table()}
        if unknown:
            parser.error(f"unknown tool(s): {', '.join(sorted(unknown))}")

    tree = prepare_tree(args)
    OFFLINE_ENV["PYTHONPYCACHEPREFIX"] = str((args.out / "pycache").resolve())
    logs = (args.out / "logs").resolve()
    logs.mkdir(parents=True, exist_ok=True)
    files = classify_tree(tree)

    tools: list[Tool] = []
    skipped: list[str] = []
    for tool in tools_table():
        if wanted is not None and tool.key not in wanted:
            continue
        tool.path = find_program(tool.program, args.dockaudit)
        if tool.path is None:
            hint = "" if tool.key == "dockaudit" else " (bash bench/setup_peers.sh)"
            sys.stdout.write(f"{tool.key}: not installed{hint}; skipped\n")
            skipped.append(f"{tool.key}: not installed")
            continue
        if tool.kinds != ("*",) and not any(files.get(k) for k in tool.kinds):
            sys.stdout.write(f"{tool.key}: no {'/'.join(tool.kinds)} files in the tree; skipped\n")
            skipped.append(f"{tool.key}: no files")
            continue
        tool.version = tool_version(tool)
        tools.append(tool)

    dockaudit = next((t for t in tools if t.key == "dockaudit"), None)
    python = interpreter_of(dockaudit.path) if dockaudit and dockaudit.path else sys.executable
    machine = machine_line(python)
    tree_text = describe_tree(tree, files)
    if not args.quiet:
        sys.stderr.write(f"tree: {tree}\n  {tree_text}\nmachine: {machine}\n")

    load_before = _load()
    results = []
    if tools:
        results = run_benchmark(tree, tools, files, args.runs, args.warmup, args.timeout, logs, args.quiet)
    load = f"load average {load_before} before, {_load()} after (other work on the machine skews timings)"
    header, rows = table_rows(results)
    shown_tree = "generated: " + f"`python bench/generate.py OUT --files {args.files} --seed {args.seed}`" \
        if args.tree is None else str(args.tree)
    if args.markdown:
        out = [f"Tree: {shown_tree} — {tree_text}.", "",
               f"Machine: {machine}; {load}. Median of {args.runs} alternating runs after {args.warmup} "
               "warm-up round(s); peak RSS is the largest single process.", ""]
        out.append(render_markdown(header, rows) if rows else "(no tool ran)\n")
        out += ["Commands (run in the tree's root):", ""]
        out += [f"- {r.tool.key}: `{r.tool.shown}`" + (f" — {r.tool.note}" if r.tool.note else "")
                for r in results]
        if skipped:
            out += ["", "Skipped: " + "; ".join(skipped)]
        sys.stdout.write("\n".join(out) + "\n")
    else:
        sys.stdout.write(f"tree: {tree} ({tree_text})\nmachine: {machine}\n{load}\n"
                         f"median of {args.runs} alternating runs after {args.warmup} warm-up round(s)\n\n")
        sys.stdout.write(render_text(header, rows) if rows else "(no tool ran)\n")
    failed = [r for r in results if not r.ok]
    for r in failed:
        sys.stdout.write(f"\n{r.tool.key} {r.status}; its output: {logs / (r.tool.key + '.log')}\n")

    extra: dict[str, str] = {}
    if args.startup and dockaudit and dockaudit.path:
        extra["startup"] = startup_report(dockaudit.path, tree, args.startup_runs, logs)
        sys.stdout.write("\n" + extra["startup"] + "\n")
    if args.profile and dockaudit and dockaudit.path:
        extra["profile"] = profile_report(dockaudit.path, tree, logs)
        sys.stdout.write("\n" + extra["profile"] + "\n")
    if args.json:
        args.json.write_text(json.dumps({"tree": str(tree), "tree_summary": tree_text, "machine": machine,
                                         "load": load,
                                         "runs": args.runs, "warmup": args.warmup,
                                         "files": {k: len(v) for k, v in files.items()},
                                         "results": [r.as_dict() for r in results], "skipped": skipped,
                                         **extra}, indent=2) + "\n", encoding="utf-8")
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
