"""Coverage-guided fuzzing of dockaudit's parsers with atheris (libFuzzer for Python).

Each target feeds ``parse(from_text(path, text))`` (manifests: ``parse(source, kind)``) a text
made of a structured prefix for its kind (so that the fuzzer starts inside a valid document)
followed by the fuzzed bytes decoded as UTF-8. A parser promises never to raise: any exception,
``RecursionError`` included, is a crash that libFuzzer reports with the input that caused it.
Two helper targets cover the shell splitter and compose interpolation the same way.

atheris is optional: without it this script says so and exits 0. Set it up in its own venv::

    python -m venv bench/.venv-fuzz
    bench/.venv-fuzz/bin/pip install atheris -e .

Run one target (any libFuzzer flag may follow)::

    bench/.venv-fuzz/bin/python bench/fuzz_atheris.py compose -max_total_time=180

or every target in turn, each in its own process, with a summary of runs per target::

    bench/.venv-fuzz/bin/python bench/fuzz_atheris.py --all 180

Crash inputs are written to ``bench/out/fuzz/<target>/`` (libFuzzer's ``-artifact_prefix``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: target -> (file name the source gets, structured prefixes the fuzzer picks from)
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dockerfile": ("Dockerfile", (
        "", "FROM python:3.11-slim AS base\nRUN ", "# syntax=docker/dockerfile:1\nFROM alpine\nCOPY ",
        "# escape=`\nFROM alpine\nRUN ", "FROM alpine\nRUN <<EOF\n", "ARG A=1\nFROM ${A}\nENV ",
        "FROM alpine\nCMD [", "FROM alpine\nRUN --mount=type=cache,target=",
    )),
    "compose": ("compose.yaml", (
        "", "services:\n  app:\n    ", "services:\n  app:\n    image: ",
        "x-a: &a\n  b: 1\nservices:\n  s:\n    <<: ", "services:\n  app:\n    environment:\n      A: ${",
        "include:\n  - ", "services: {app: {build: {context: ",
    )),
    "env": (".env", ("", "A=", "export A=\"", "A='", "A=${B:-", "# c\nA=1\nB=$A")),
    "nginx": ("nginx.conf", (
        "", "events {}\nhttp {\n  server {\n    ", "http { upstream u { server ", "location ~ ",
        "http { map $a $b { ", "server { listen 80; location / { proxy_pass http://",
    )),
    "dockerignore": (".dockerignore", ("", "*\n!", "**/", "#", "node_modules\n")),
    "requirements": ("requirements.txt", ("", "-r ", "torch==", "pkg[extra]>=1; python_version < ", "-e ",
                                          "--index-url ", "x @ ")),
    "pyproject": ("pyproject.toml", ("", "[project]\ndependencies = [\"", "[tool.uv]\n", "[project]\nname = ",
                                     "[project.optional-dependencies]\ngpu = [")),
    "uvlock": ("uv.lock", ("", "version = 1\n[[package]]\nname = ",
                           "version = 1\n[[package]]\nname = \"a\"\n")),
    "packagejson": ("package.json", ("", "{\"dependencies\": {", "{\"scripts\": {\"start\": ", "[",
                                     "{\"name\": ")),
    "shell": ("", ("", "apt-get install -y ", "sh -c '", "pip install ", "cd /app && ", "bash <<EOF\n")),
    "interpolate": ("", ("", "${", "${A:-", "$", "a${B:?")),
}
MANIFEST_KINDS = ("requirements", "pyproject", "uvlock", "packagejson")


def _module_for(target: str):
    import importlib

    name = {"env": "envfile", **{kind: "manifests" for kind in MANIFEST_KINDS}}.get(target, target)
    if target == "shell":
        return importlib.import_module("dockaudit.shell")
    if target == "interpolate":
        return importlib.import_module("dockaudit.interpolate")
    return importlib.import_module(f"dockaudit.parse.{name}")


def make_test_one_input(target: str):
    """The function libFuzzer calls with each input."""
    import atheris

    filename, prefixes = TARGETS[target]
    with atheris.instrument_imports(include=["dockaudit"]):
        module = _module_for(target)
        from dockaudit.source import DecodeError, from_text

    def test_one_input(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        prefix = prefixes[provider.ConsumeIntInRange(0, len(prefixes) - 1)]
        text = prefix + provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes())
        if target == "shell":
            module.split_commands(text)
        elif target == "interpolate":
            module.interpolate(text, lambda name: None if name.startswith("U") else "v")
        else:
            try:
                source = from_text(filename, text)
            except DecodeError:  # NUL bytes: dockaudit reports the file as binary (DA002), unparsed
                return
            if target in MANIFEST_KINDS:
                module.parse(source, target)
            else:
                module.parse(source)

    return test_one_input


def fuzz(target: str, args: list[str]) -> None:
    import atheris

    artifacts = HERE / "out" / "fuzz" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [sys.argv[0], f"-artifact_prefix={artifacts}/", *args]
    atheris.Setup(argv, make_test_one_input(target))
    atheris.Fuzz()


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"#(\d+)\s+(?:pulse|NEW|REDUCE|DONE|INITED)\s+cov: (\d+)")


def run_all(seconds: int, targets: list[str]) -> list[dict]:
    """Fuzz each target for ``seconds`` in its own process; one summary per target."""
    summary = []
    for target in targets:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, __file__, target, f"-max_total_time={seconds}", "-print_final_stats=1",
             "-max_len=4096"],
            capture_output=True, text=True, errors="replace",
        )
        elapsed = time.monotonic() - start
        log = proc.stderr
        done = _DONE.search(log)
        stats = _STAT.findall(log)
        runs = int(done.group(1)) if done else (int(stats[-1][0]) if stats else 0)
        crashed = proc.returncode != 0
        entry = {
            "target": target, "seconds": round(elapsed, 1), "runs": runs,
            "runs_per_second": round(runs / elapsed) if elapsed else 0,
            "coverage": int(stats[-1][1]) if stats else None,
            "result": "crash" if crashed else "no crash",
        }
        if crashed:
            entry["log_tail"] = log[-3000:]
        summary.append(entry)
        print(json.dumps(entry), flush=True)
    return summary


def main() -> int:
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed; see the docstring of bench/fuzz_atheris.py", file=sys.stderr)
        return 0
    sys.path.insert(0, str(HERE.parent / "src"))
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        print("targets:", ", ".join(TARGETS))
        return 0
    if args[0] == "--all":
        seconds = int(args[1]) if len(args) > 1 else 60
        targets = args[2:] or list(TARGETS)
        summary = run_all(seconds, targets)
        out = HERE / "out" / "fuzz" / "summary.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return 1 if any(entry["result"] == "crash" for entry in summary) else 0
    target, rest = args[0], args[1:]
    if target not in TARGETS:
        print(f"unknown target {target!r}; targets: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONHASHSEED", "0")
    fuzz(target, rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
