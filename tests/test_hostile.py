"""Hostile inputs: dockaudit must never crash, hang, balloon, read outside the root or let a file
drive the terminal (issue 5, "impossible to crash").

Each case writes a project into ``<tmp>/proj`` next to ``<tmp>/outside`` (which holds files with a
canary string that must never be read) and audits it through the real entry point
(:func:`dockaudit.audit.audit`, then every reporter), checking that:

* no finding is DA000 (internal error) and the exit code is 0 or 1;
* what is broken gets its finding (``expect``: rule ids, each with the file it must be on);
* every file or folder opened, read or listed resolves inside the scanned root (``builtins.open``,
  ``io.open``, ``os.open``, ``Path.open/read_bytes/read_text``, ``os.scandir`` and ``os.listdir``
  are recorded); nothing runs a process or opens a socket; the canary appears in no output;
* the case finishes within :data:`TIME_LIMIT` seconds (a guard against hangs, not a speed test)
  and the process's peak memory grows by less than :data:`MEMORY_LIMIT_MB`.

A few cases also run as ``python -m dockaudit`` subprocesses: under ``RLIMIT_AS`` (alias bombs,
deep nesting), and with colour forced to check that nothing from a file reaches the terminal as a
control sequence. Run this module directly (``python tests/test_hostile.py``) for a table of what
each case produced.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockaudit.audit import AuditResult, Options, audit
from dockaudit.report import MODULES, render
from dockaudit.source import MAX_FILE_BYTES

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

#: seconds a case may take before it counts as a hang (generous: CI machines are slow)
TIME_LIMIT = 20
#: growth of the peak resident set a case may cause
MEMORY_LIMIT_MB = 600
#: address-space limit of the subprocess runs
SUBPROCESS_AS_LIMIT = 1536 * 1024 * 1024

CANARY = "CANARY-5e3b1f-never-read-me"
SRC = Path(__file__).resolve().parents[1] / "src"

#: case name -> builder(root) returning the findings that must appear: [(rule, path), ...]
CASES: dict[str, Callable[[Path], list[tuple[str, str]]]] = {}


def case(func: Callable[[Path], list[tuple[str, str]]]) -> Callable[[Path], list[tuple[str, str]]]:
    CASES[func.__name__] = func
    return func


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))


def symlink(root: Path, name: str, target: str) -> bool:
    try:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)
    except (OSError, NotImplementedError):
        return False
    return True


NGINX_COMPOSE = """\
services:
  proxy:
    image: nginx:1.27
    volumes:
      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
      - ./nginx/conf.d:/etc/nginx/conf.d:ro
"""

# --- YAML / JSON / TOML bombs and nesting -----------------------------------------------------------


@case
def compose_billion_laughs(root: Path) -> list[tuple[str, str]]:
    lines = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"x{level}: &x{level} [{', '.join([f'*x{level - 1}'] * 10)}]")
    text = "\n".join(lines) + "\nservices:\n  app:\n    image: alpine\n    command: *x9\n"
    write(root, {"compose.yaml": text})
    return [("DA001", "compose.yaml")]


@case
def compose_merge_key_bomb(root: Path) -> list[tuple[str, str]]:
    lines = ["x-0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for level in range(1, 12):
        lines.append(f"x-{level}: &m{level} [{', '.join([f'*m{level - 1}'] * 8)}]")
    text = "\n".join(lines) + "\nservices:\n  app:\n    image: alpine\n    labels: *m11\n"
    write(root, {"compose.yaml": text})
    return [("DA001", "compose.yaml")]


@case
def compose_deep_flow_5000(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "compose.yaml": "services:\n  app:\n    image: alpine\n    command: "
                        + "[" * 5000 + "]" * 5000 + "\n",
        "sub/compose.yaml": "x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    })
    return [("DA001", "compose.yaml"), ("DA001", "sub/compose.yaml")]


@case
def compose_deep_block_5000(root: Path) -> list[tuple[str, str]]:
    mapping = "".join(" " * depth + "a:\n" for depth in range(2000)) + " " * 2000 + "b: 1\n"
    write(root, {
        "compose.yaml": "x-deep: " + "- " * 5000 + "x\nservices:\n  app:\n    image: alpine\n",
        "sub/docker-compose.yml": mapping,
    })
    return [("DA001", "compose.yaml"), ("DA001", "sub/docker-compose.yml")]


@case
def json_deep_5000(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "package.json": '{"name": "x", "deep": ' + "[" * 5000 + "]" * 5000 + "}",
        "a/package.json": '{"name": "x", "dependencies": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
        "b/package.json": "[" * 100_000 + "]" * 100_000,
    })
    return [("DA001", "package.json"), ("DA001", "a/package.json"), ("DA001", "b/package.json")]


@case
def toml_deep_5000(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "pyproject.toml": '[project]\nname = "x"\ndeep = ' + "[" * 5000 + "]" * 5000 + "\n",
        "a/pyproject.toml": "[project]\nx = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
        "uv.lock": "version = 1\ndeep = " + "[" * 5000 + "]" * 5000 + "\n",
    })
    return [("DA001", "pyproject.toml"), ("DA001", "a/pyproject.toml"), ("DA001", "uv.lock")]


@case
def nginx_deep_blocks(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "nginx/nginx.conf": "events {}\nhttp {\n" + "location / {\n" * 5000 + "}\n" * 5000 + "}\n",
        "compose.yaml": NGINX_COMPOSE,
    })
    return [("DA001", "nginx/nginx.conf")]


@case
def deep_shell_and_interpolation(root: Path) -> list[tuple[str, str]]:
    nested = "echo $(" * 3000 + "true" + ")" * 3000
    quoted = 'echo "$(' * 3000 + "x" + ')"' * 3000
    interp = "${A:-" * 3000 + "x" + "}" * 3000
    write(root, {
        "Dockerfile": f"FROM alpine\nRUN {nested}\nRUN {quoted}\nCMD " + "[" * 5000 + "]" * 5000 + "\n",
        "compose.yaml": f"services:\n  app:\n    build: .\n    environment:\n      X: \"{interp}\"\n",
        ".env": f"A={interp}\nB=" + "$(" * 3000 + "\n",
    })
    return []


# --- undecodable content -----------------------------------------------------------------------

KINDS_BY_NAME = ("Dockerfile", "compose.yaml", ".env", "nginx.conf", "requirements.txt", "package.json",
                 "pyproject.toml", "uv.lock", ".dockerignore")


@case
def binary_files(root: Path) -> list[tuple[str, str]]:
    rng = random.Random(5)
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(rng.getrandbits(8) for _ in range(4096))
    high = bytes(rng.choice(range(0x80, 0x100)) for _ in range(4096))  # no NUL, not UTF-8
    files: dict[str, str | bytes] = {name: elf for name in KINDS_BY_NAME}
    files.update({f"high/{name}": high for name in KINDS_BY_NAME})
    write(root, files)
    return [("DA002", name) for name in KINDS_BY_NAME] + [("DA002", f"high/{name}") for name in KINDS_BY_NAME]


@case
def gbk_chinese(root: Path) -> list[tuple[str, str]]:
    texts = {
        "Dockerfile": "FROM python:3.11-slim\n# 安装依赖（中文注释）\nRUN pip install -r requirements.txt\n",
        "compose.yaml": "services:\n  app:\n    # 语音识别服务\n    image: asr:latest\n",
        ".env": "MODEL=whisper\n# 模型路径\nMODEL_DIR=/models\n",
        "nginx.conf": "events {}\nhttp {\n  # 反向代理\n  server { listen 80; }\n}\n",
        "requirements.txt": "torch==2.3.0\n# 语音合成\nnumpy\n",
    }
    write(root, {name: text.encode("gbk") for name, text in texts.items()})
    return [("DA002", name) for name in texts]


@case
def nul_after_the_sniffed_prefix(root: Path) -> list[tuple[str, str]]:
    padding = "# " + "x" * 78 + "\n"
    write(root, {
        "Dockerfile": "FROM alpine\n" + padding * 120 + "RUN echo a\x00b\n",
        ".env": "A=1\n" + padding * 120 + "B=\x00\n",
        "compose.yaml": "services:\n  app:\n    image: alpine\n" + padding * 120
                        + "    command: \"a\x00b\"\n",
        "nginx.conf": "events {}\n" + padding * 120 + "http { server { listen 80\x00; } }\n",
    })
    return []


# --- size ------------------------------------------------------------------------------------------


def _dockerfile_of_size(size: int) -> bytes:
    head = b"FROM python:3.11-slim AS base\nWORKDIR /app\n"
    lines: list[bytes] = []
    total = len(head)
    i = 0
    while total < size:
        line = (b"RUN apt-get update && apt-get install -y --no-install-recommends curl && echo %d\n" % i
                if i % 4 else b"# a comment line that pads the file out %d\n" % i)
        lines.append(line)
        total += len(line)
        i += 1
    data = head + b"".join(lines)
    return data[:size - 1] + b"\n"


@case
def dockerfile_5mb_at_the_cap(root: Path) -> list[tuple[str, str]]:
    write(root, {"Dockerfile": _dockerfile_of_size(MAX_FILE_BYTES)})
    return []


@case
def dockerfile_over_the_cap(root: Path) -> list[tuple[str, str]]:
    write(root, {"Dockerfile": _dockerfile_of_size(MAX_FILE_BYTES + 1)})
    return [("DA002", "Dockerfile")]


@case
def dockerfile_20000_continuations(root: Path) -> list[tuple[str, str]]:
    body = "".join(f"    && echo line-{i} \\\n" for i in range(20_000))
    write(root, {"Dockerfile": "FROM alpine\nRUN true \\\n" + body + "    && true\n"})
    return []


@case
def dockerfile_env_with_20000_pairs(root: Path) -> list[tuple[str, str]]:
    pairs = "".join(f"A{i}=b{i} \\\n" for i in range(20_000))
    labels = pairs.replace("A", "L")
    write(root, {"Dockerfile": "FROM alpine\nENV " + pairs + "  Z=1\nLABEL " + labels + " z=1\n"})
    return []


@case
def long_lines(root: Path) -> list[tuple[str, str]]:
    long = "x" * 1_000_000
    write(root, {
        "Dockerfile": f"FROM alpine\nRUN echo {long}\nCOPY --from=nope{long} /a /b\n",
        ".env": f"A={long}\n",
        "compose.yaml": f"services:\n  app:\n    image: alpine\n    command: {long}\n",
        "nginx.conf": f"events {{}}\nhttp {{ server {{ server_name {long}; }} }}\n",
        "requirements.txt": f"{long}==1\n",
    })
    return []


@case
def three_thousand_tiny_files(root: Path) -> list[tuple[str, str]]:
    files: dict[str, str | bytes] = {}
    for i in range(500):
        folder = f"svc{i:03d}"
        files[f"{folder}/Dockerfile"] = f"FROM python:3.11-slim\nCOPY . /app\nCMD [\"python\", \"{i}.py\"]\n"
        files[f"{folder}/.env"] = f"PORT={8000 + i}\n"
        files[f"{folder}/requirements.txt"] = "flask==3.0.0\n"
        files[f"{folder}/compose.yaml"] = f"services:\n  s{i}:\n    build: .\n    env_file: .env\n"
        files[f"{folder}/nginx/conf.d/s{i}.conf"] = (
            f"server {{ listen 80; location / {{ proxy_pass http://s{i}:8000; }} }}\n")
        files[f"{folder}/app.py"] = "print(1)\n"
    write(root, files)
    return []


# --- paths that leave the root -----------------------------------------------------------------------


@case
def nginx_include_cycles_and_escapes(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "compose.yaml": NGINX_COMPOSE + "      - ../outside:/etc/nginx/outside:ro\n"
                                        "      - /etc:/etc/nginx/hostetc:ro\n",
        "nginx/nginx.conf": (
            "events {}\nhttp {\n"
            "  include /etc/nginx/conf.d/*.conf;\n"
            "  include ../../etc/passwd;\n"
            "  include /etc/passwd;\n"
            "  include /etc/nginx/../../etc/shadow;\n"
            "  include /etc/nginx/outside/secret.env;\n"
            "  include /etc/nginx/hostetc/passwd;\n"
            "  include ../outside/secret.env;\n"
            "  include /etc/nginx/nginx.conf;\n"
            "}\n"
        ),
        "nginx/conf.d/a.conf": "include /etc/nginx/conf.d/b.conf;\nserver { listen 80; }\n",
        "nginx/conf.d/b.conf": "include /etc/nginx/conf.d/a.conf;\ninclude /etc/nginx/conf.d/*.conf;\n",
        "nginx/conf.d/self.conf": "include /etc/nginx/conf.d/self.conf;\n",
    })
    return [("DA204", "compose.yaml")]


@case
def compose_paths_escape(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "compose.yaml": (
            "include:\n"
            "  - ../outside/compose.yaml\n"
            "  - /etc/compose.yaml\n"
            "  - path: ../../etc/passwd\n"
            "    project_directory: ../..\n"
            "    env_file: /etc/shadow\n"
            "services:\n"
            "  a:\n"
            "    build:\n"
            "      context: ../..\n"
            "      dockerfile: ../../etc/passwd\n"
            "    env_file: [../outside/secret.env, /etc/passwd]\n"
            "    volumes: ['../outside:/data', '/etc:/host-etc:ro', '../../:/up', '~/.ssh:/root/.ssh']\n"
            "  b:\n"
            "    build: /\n"
            "  c:\n"
            "    extends:\n"
            "      file: ../outside/compose.yaml\n"
            "      service: x\n"
            "  d:\n"
            "    build:\n"
            "      context: .\n"
            "      dockerfile: /etc/passwd\n"
            "  e:\n"
            "    extends: {file: /etc/passwd, service: root}\n"
            "    env_file:\n"
            "      - path: ../../../../../../etc/shadow\n"
            "        required: true\n"
        ),
        ".env": "COMPOSE_FILE=../outside/compose.yaml:/etc/compose.yaml:compose.yaml\n",
        "Dockerfile": "FROM alpine\n",
    })
    return [("DA204", "compose.yaml")]


@case
def requirements_escape(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "requirements.txt": (
            "-r ../../etc/passwd\n-c /etc/passwd\n-r ../outside/secret.env\n--requirement=/etc/shadow\n"
            "-e ../outside\nfile:///etc/passwd\n./../outside\n-r requirements.txt\n-r dev-requirements.txt\n"
        ),
        "dev-requirements.txt": "-r requirements.txt\n-c dev-requirements.txt\n",
        "Dockerfile": "FROM python:3.11\nCOPY ../outside/secret.env /x\nCOPY /etc/passwd /y\n"
                      "ADD file:///etc/passwd /z\nCOPY requirements.txt .\n"
                      "RUN pip install -r requirements.txt\n",
        ".dockerignore": "../outside\n/etc/passwd\n!../../etc\n",
    })
    return []


@case
def backtracking_globs(root: Path) -> list[tuple[str, str]]:
    """Wildcard patterns that make a backtracking regex take seconds per path, and broken classes."""
    slow = "*a" * 12 + "*b"
    deep = "**a" * 10 + "**b"
    long_name = "a" * 200
    files: dict[str, str | bytes] = {
        ".dockaudit.toml": f'exclude = ["{slow}", "{deep}", "[z-a]", "[[x]"]\n',
        ".dockerignore": f"{slow}\n{deep}\n[z-a]\n!{slow}\n",
        ".gitignore": f"{slow}\n{deep}\n[z-a]\n",
        "Dockerfile": "FROM python:3.11\nCOPY . /app\n",
        "compose.yaml": "services:\n  app:\n    build: .\n  proxy:\n    image: nginx:1.27\n    volumes:\n"
                        "      - ./nginx:/etc/nginx:ro\n",
        "nginx/nginx.conf": f"events {{}}\nhttp {{ include /etc/nginx/conf.d/{slow}; "
                            f"include /etc/nginx/{deep.replace('**', '*')}; }}\n",
    }
    for index in range(30):
        files[f"{'a' * 40}/{'a' * 40}/{long_name}{index}"] = "x\n"
        files[f"nginx/conf.d/{long_name}{index}.conf"] = "server { listen 80; }\n"
    write(root, files)
    return [("DA001", ".dockerignore")]  # [z-a]


@case
def symlink_loops_and_escapes(root: Path) -> list[tuple[str, str]]:
    write(root, {
        "Dockerfile.real": "FROM alpine\n",
        "sub/keep.txt": "x\n",
        "compose.yaml": "services:\n  app:\n    build: {context: ., dockerfile: linked/Dockerfile}\n"
                        "    env_file: [etc/passwd, outside/secret.env, linked/.env]\n",
    })
    made = [
        symlink(root, "loop-a.conf", "loop-b.conf"),
        symlink(root, "loop-b.conf", "loop-a.conf"),
        symlink(root, "compose.override.yaml", "compose.override.yaml"),
        symlink(root, "sub/up", ".."),
        symlink(root, "sub/self", "."),
        symlink(root, "parent", ".."),
        symlink(root, "etc", "/etc"),
        symlink(root, "outside", "../outside"),
        symlink(root, "linked", "../outside"),
        symlink(root, "sub/Dockerfile", "/etc/passwd"),
        symlink(root, "Dockerfile", "/etc/passwd"),
        symlink(root, "linked-dir/Dockerfile", "../../outside/Dockerfile"),
        symlink(root, "nginx.conf", "/etc/nginx/nginx.conf"),
        symlink(root, ".env", "../outside/secret.env"),
        symlink(root, "requirements.txt", "../outside/secret.env"),
        symlink(root, "Dockerfile.dev", "Dockerfile.real"),  # inside the root: read
        symlink(root, "dangling/Dockerfile", "/nonexistent/for/sure"),
    ]
    if not all(made):
        pytest.skip("symlinks are not available here")
    return [("DA204", "compose.yaml")]  # paths through links out of the root are outside it


@case
def config_symlinked_outside(root: Path) -> list[tuple[str, str]]:
    write(root, {"Dockerfile": "FROM alpine\n"})
    if not (symlink(root, ".dockaudit.toml", "../outside/dockaudit.toml")
            and symlink(root, "pyproject.toml", "../outside/pyproject.toml")):
        pytest.skip("symlinks are not available here")
    return []


# --- text that tries to drive the terminal -----------------------------------------------------------

ESC_SEQUENCES = {
    "csi": "\x1b[31mRED\x1b[0m\x1b[2J\x1b[H",
    "osc8": "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
    "osc52": "\x1b]52;c;cm0gLXJmIH4K\x07",
    "c1": "\x9b31m\x9d8;;x\x9c",
    "bidi": "\u202eexe.txt\u2066\u2069\u200f",
    "cr": "visible\rhidden",
    "nul-ish": "\x7f\x08\x08",
    "markup": "[bold red]x[/] [link=https://evil.example]y[/link]",
}
#: what must never reach a terminal from a file (our own colours are plain SGR ``ESC [ ... m``)
_UNSAFE_OUTPUT = re.compile(r"\x1b(?!\[[0-9;]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u061c\u200e\u200f"
                            r"\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _dir_names() -> list[str]:
    names = [
        "\x1b[31mred\x1b[0m",
        "\x1b]8;;https:evil.example\x07click\x1b]8;;\x07",
        "\x1b]52;c;cm0gLXJmIH4K\x07",
        "\u202eevil\u202c",
        "[bold red]x[reset]",
        "line\nbreak::error title=x::injected",
        "tab\there\rcr",
        "\x9bc1",
    ]
    return names


@case
def hostile_names(root: Path) -> list[tuple[str, str]]:
    expect = []
    for name in _dir_names():
        try:
            (root / name).mkdir()
        except (OSError, ValueError):
            continue
        (root / name / "Dockerfile").write_bytes(b"\x00\x01binary")
        (root / name / "compose.yaml").write_text("services: [\n", encoding="utf-8")
        expect.append(("DA002", f"{name}/Dockerfile"))
        expect.append(("DA001", f"{name}/compose.yaml"))
    for name in ("a\x00b", "x\x00"):
        with pytest.raises((ValueError, OSError)):  # no OS lets a file name hold NUL
            (root / name).mkdir()
    return expect


@case
def hostile_contents(root: Path) -> list[tuple[str, str]]:
    payload = "".join(ESC_SEQUENCES.values())
    write(root, {
        "Dockerfile": (
            "FROM alpine AS base\n"
            f"COPY --from={ESC_SEQUENCES['osc8']} /a /b\n"
            f"COPY --from={ESC_SEQUENCES['markup']} /a /b\n"
            f"COPY --from=x{ESC_SEQUENCES['bidi']} /a /b\n"
            f"FROM ${{{ESC_SEQUENCES['csi']}}}\n"
            f"RUN echo {payload} # {payload}\n"
            f"FROM {payload}\n"
        ),
        "compose.yaml": (
            f"services:\n  app:\n    image: \"{payload}\"\n    build: {{context: ., target: \"{payload}\"}}\n"
            f"    environment:\n      X: ${{{ESC_SEQUENCES['osc52']}}}\n"
            f"      Y: \"${{{ESC_SEQUENCES['csi']}:?{payload}}}\"\n"
        ),
        "bad/compose.yaml": f"services:\n  {ESC_SEQUENCES['osc52']}: [\n",
        ".env": f"{ESC_SEQUENCES['osc52']}=1\nA={payload}\n{ESC_SEQUENCES['markup']}\n",
        "nginx.conf": f"events {{}}\nhttp {{ server {{ {ESC_SEQUENCES['csi']} {payload}; }}\n",
        "requirements.txt": f"{payload}\n-r {ESC_SEQUENCES['osc8']}\n",
        "package.json": f'{{"name": "{json.dumps(payload)[1:-1]}", "dependencies": [1, }}',
        "pyproject.toml": f'[project]\nname = "{json.dumps(payload)[1:-1]}"\n{ESC_SEQUENCES["markup"]}\n',
    })
    return [("DA001", "bad/compose.yaml"), ("DA001", "package.json")]


@case
def unicode_digits(root: Path) -> list[tuple[str, str]]:
    """``'²'.isdigit()`` is true but ``int('²')`` fails: stage indexes, ports and counts."""
    write(root, {
        "Dockerfile": "FROM alpine AS a\nFROM a AS b\nCOPY --from=² /x /y\nCOPY --from=١ /x /y\n"
                      "RUN --mount=from=³,target=/m true\nENV PORT=²\nEXPOSE ²\n"
                      "CMD [\"python\", \"--port\", \"²\"]\n",
        "compose.yaml": "services:\n  app:\n    build: .\n    ports: ['²:80']\n    environment:\n"
                        "      PORT: '²'\n      CUDA_VISIBLE_DEVICES: '²'\n    deploy:\n      resources:\n"
                        "        reservations:\n          devices:\n            - capabilities: [gpu]\n"
                        "              count: '²'\n  proxy:\n    image: nginx:1.27\n    volumes:\n"
                        "      - ./nginx.conf:/etc/nginx/nginx.conf:ro\n",
        ".env": "PORT=²\n",
        "nginx.conf": "events {}\nhttp { server { listen ²; location / { proxy_pass http://app:²; } } }\n",
    })
    return []


# --- nothing, or almost nothing -----------------------------------------------------------------------

ALL_KINDS = (*KINDS_BY_NAME, ".dockaudit.toml")


@case
def empty_files(root: Path) -> list[tuple[str, str]]:
    write(root, {name: b"" for name in ALL_KINDS})
    return []


@case
def bom_only(root: Path) -> list[tuple[str, str]]:
    write(root, {name: b"\xef\xbb\xbf" for name in KINDS_BY_NAME})
    write(root, {f"crlf/{name}": b"\xef\xbb\xbf\r\n" for name in KINDS_BY_NAME})
    return []


@case
def whitespace_and_separators(root: Path) -> list[tuple[str, str]]:
    odd = "\x0c\x0b\u0085\u2028\u2029\x1c\x1d\x1e"
    write(root, {name: f"{odd}\n \t\n{odd}" for name in KINDS_BY_NAME})
    write(root, {f"mid/{name}": f"# x{odd}y\n" for name in KINDS_BY_NAME})
    return []


_PROJECT = {
    "Dockerfile": "# syntax=docker/dockerfile:1\nFROM python:3.11-slim AS base\nWORKDIR /app\n"
                  "COPY requirements.txt .\nRUN pip install --no-cache-dir \\\n    -r requirements.txt\n"
                  "COPY . .\nCMD [\"python\", \"app.py\"]\n",
    "compose.yaml": "services:\n  app:\n    build:\n      context: .\n      target: base\n"
                    "    env_file: .env\n"
                    "    environment:\n      PORT: ${PORT:-8000}\n  proxy:\n    image: nginx:1.27\n"
                    "    volumes:\n      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n"
                    "    depends_on: [app]\n",
    ".env": "PORT=8000\nNAME=\"a b\"\n",
    "nginx/nginx.conf": "events {}\nhttp {\n  server {\n    listen 80;\n    location / {\n"
                        "      proxy_pass http://app:8000;\n    }\n  }\n}\n",
    "requirements.txt": "flask==3.0.0\n",
    ".dockerignore": ".git\n*.pyc\n",
    "pyproject.toml": "[project]\nname = \"app\"\nversion = \"1\"\ndependencies = [\"flask\"]\n",
    "package.json": "{\n  \"name\": \"app\",\n  \"dependencies\": {\"express\": \"4.0.0\"}\n}\n",
    "app.py": "print(1)\n",
}


@case
def crlf_everywhere(root: Path) -> list[tuple[str, str]]:
    write(root, {name: text.replace("\n", "\r\n") for name, text in _PROJECT.items()})
    return []


@case
def lone_cr_everywhere(root: Path) -> list[tuple[str, str]]:
    write(root, {name: text.replace("\n", "\r") for name, text in _PROJECT.items()})
    return []


@case
def mixed_line_endings(root: Path) -> list[tuple[str, str]]:
    endings = ("\n", "\r\n", "\r", "\n\r")
    write(root, {name: "".join(line + endings[i % 4] for i, line in enumerate(text.split("\n")))
                 for name, text in _PROJECT.items()})
    return []


# --- the harness ------------------------------------------------------------------------------------


class Escape(AssertionError):
    """Something was read, listed, run or connected to that must not be."""


class Recorder:
    """Records every path opened or listed while active; refuses processes and sockets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.forbidden: list[str] = []
        self._saved: list[tuple[object, str, object]] = []

    def _note(self, path: object) -> None:
        if isinstance(path, int):
            return
        with suppress(TypeError):
            self.paths.append(os.fsdecode(os.fspath(path)))  # type: ignore[arg-type]

    def _patch(self, owner: object, name: str, make: Callable[[Callable], Callable]) -> None:
        original = getattr(owner, name)
        self._saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def __enter__(self) -> Recorder:
        def by_first_arg(original: Callable) -> Callable:
            def wrapper(path=".", *args, **kwargs):
                self._note(path)
                return original(path, *args, **kwargs)
            return wrapper

        def by_self(original: Callable) -> Callable:
            def wrapper(path_self, *args, **kwargs):
                self._note(path_self)
                return original(path_self, *args, **kwargs)
            return wrapper

        def refuse(what: str) -> Callable[[Callable], Callable]:
            def make(original: Callable) -> Callable:
                def wrapper(*args, **kwargs):
                    self.forbidden.append(f"{what}{args!r}")
                    raise Escape(f"dockaudit tried to use {what}")
                return wrapper
            return make

        self._patch(builtins, "open", by_first_arg)
        self._patch(io, "open", by_first_arg)
        self._patch(os, "open", by_first_arg)
        self._patch(os, "scandir", by_first_arg)
        self._patch(os, "listdir", by_first_arg)
        for method in ("open", "read_bytes", "read_text"):
            self._patch(pathlib.Path, method, by_self)
        self._patch(subprocess.Popen, "__init__", refuse("subprocess"))
        self._patch(os, "system", refuse("os.system"))
        self._patch(socket.socket, "connect", refuse("socket.connect"))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)

    def outside(self, allowed: list[Path]) -> list[str]:
        bad = []
        for path in self.paths:
            real = os.path.realpath(path)
            if not any(real == str(a) or real.startswith(str(a) + os.sep) for a in allowed):
                bad.append(f"{path!r} -> {real!r}")
        return bad


class Hang(BaseException):
    """A case ran past :data:`TIME_LIMIT` (a BaseException, so that the engine's guard around each
    rule, which turns exceptions into DA000 findings, cannot swallow it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` if the block runs longer than ``seconds`` (Unix only)."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows
        yield
        return

    def expire(signum, frame):
        raise Hang(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_rss_mb() -> float:
    if resource is None:  # pragma: no cover
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _allowed_roots(root: Path) -> list[Path]:
    """The scanned root, and dockaudit's own data (catalog and knowledge tables read lazily)."""
    import dockaudit
    from dockaudit.catalog import rules_dir

    paths = sysconfig.get_paths()
    return [Path(os.path.realpath(p)) for p in (
        root, Path(dockaudit.__file__).parent, rules_dir(),
        # the interpreter's own libraries (ruamel.yaml globs its folder for plug-ins)
        paths["stdlib"], paths["purelib"], paths["platlib"],
        # multiprocessing's shared memory (the --jobs task counter)
        "/dev/shm",
    )]


def make_layout(base: Path) -> tuple[Path, Path]:
    root = base / "proj"
    outside = base / "outside"
    root.mkdir()
    outside.mkdir()
    write(outside, {
        "secret.env": f"TOKEN={CANARY}\n",
        "compose.yaml": f"services:\n  x:\n    image: {CANARY}\n",
        "dockaudit.toml": f'ignore = ["{CANARY}"]\n',
        "pyproject.toml": f'[tool.dockaudit]\nignore = ["{CANARY}"]\n',
        "Dockerfile": f"FROM {CANARY}\n",
    })
    return root, outside


def warm(base: Path) -> None:
    """Import everything and load the catalog once, so recorded reads are the scan's own."""
    root, _ = make_layout(base)
    write(root, _PROJECT)
    result = audit([str(root)], Options())
    for fmt in MODULES:
        render(fmt, result, color=True)


@pytest.fixture(scope="module", autouse=True)
def warm_up(tmp_path_factory: pytest.TempPathFactory) -> None:
    warm(tmp_path_factory.mktemp("warm"))


def run_case(name: str, base: Path, jobs: int = 0) -> tuple[AuditResult, list[tuple[str, str]], float, float,
                                                            dict[str, str]]:
    """Build and audit one case; returns the result, the expectations, seconds, MB and reports."""
    root, _ = make_layout(base)
    expect = CASES[name](root)
    old = os.getcwd()
    os.chdir(root)
    before = peak_rss_mb()
    start = time.perf_counter()
    try:
        with Recorder() as recorder, time_limit(TIME_LIMIT):
            result = audit(["."], Options(jobs=jobs))
            reports = {fmt: render(fmt, result, color=True) for fmt in MODULES}
            reports["text-plain"] = render("text", result, color=False)
    finally:
        os.chdir(old)
    elapsed = time.perf_counter() - start
    grown = peak_rss_mb() - before
    outside = recorder.outside(_allowed_roots(root))
    assert not recorder.forbidden, recorder.forbidden
    assert not outside, f"read outside the root: {outside[:5]}"
    return result, expect, elapsed, grown, reports


def check_result(result: AuditResult, expect: list[tuple[str, str]], reports: dict[str, str]) -> None:
    internal = [f for f in result.findings if f.rule == "DA000"]
    assert not internal, [f"{f.span}: {f.message}" for f in internal]
    assert result.exit_code() in (0, 1)
    got = {(f.rule, f.span.path) for f in result.findings}
    missing = [e for e in expect if e not in got]
    assert not missing, f"missing findings {missing}; got {sorted(got)[:20]}"
    for fmt, text in reports.items():
        assert CANARY not in text, f"{fmt} report shows content from outside the root"
        if fmt in ("text", "text-plain", "github"):
            bad = _UNSAFE_OUTPUT.search(text)
            shown = text[max(0, bad.start() - 60):bad.end() + 20] if bad else ""
            assert bad is None, f"{fmt} report passes {bad.group()!r} through: {shown!r}"
        else:
            json.loads(text)
            assert "\x1b" not in text and not re.search(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), fmt
    if "[bold red]x[/]" in str([f.message for f in result.findings]):
        assert "[bold red]x[/]" in reports["text"], "rich markup from a file was interpreted"


#: cases that still fail because of a bug in a rule (src/dockaudit/checks), reported to its author
KNOWN_RULE_BUGS: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_RULE_BUGS[name], strict=False))
    if name in KNOWN_RULE_BUGS else name for name in CASES
])
def test_hostile_case(name: str, tmp_path: Path) -> None:
    result, expect, elapsed, grown, reports = run_case(name, tmp_path)
    check_result(result, expect, reports)
    assert elapsed < TIME_LIMIT
    assert grown < MEMORY_LIMIT_MB, f"peak memory grew by {grown:.0f} MB"


@pytest.mark.parametrize("name", ["compose_deep_flow_5000", "hostile_names", "binary_files",
                                  "symlink_loops_and_escapes"])
def test_hostile_case_with_two_jobs(name: str, tmp_path: Path) -> None:
    """The parallel path must be exactly as robust (and report the same) as the sequential one."""
    result, expect, _, _, reports = run_case(name, tmp_path, jobs=2)
    check_result(result, expect, reports)
    sequential = tmp_path / "seq"
    sequential.mkdir()
    again, _, _, _, _ = run_case(name, sequential, jobs=1)
    assert [(f.rule, str(f.span), f.message) for f in result.findings] == \
           [(f.rule, str(f.span), f.message) for f in again.findings]


def test_the_canary_file_would_be_found_if_read(tmp_path: Path) -> None:
    """Self-check of the harness: a file inside the root with the canary does show up."""
    root, _ = make_layout(tmp_path)
    write(root, {"compose.yaml": f"services:\n  app:\n    image: alpine\n    command: ${{{CANARY}\n"})
    old = os.getcwd()
    os.chdir(root)
    try:
        with Recorder() as recorder:
            result = audit(["."], Options())
    finally:
        os.chdir(old)
    assert CANARY in render("text", result)
    assert any(p.endswith("compose.yaml") for p in recorder.paths)
    assert not recorder.outside(_allowed_roots(root))


def test_config_nested_too_deeply_is_a_usage_error(tmp_path: Path) -> None:
    """A ``[tool.dockaudit]`` nested too deeply to read is a config error (exit 2), not a crash."""
    root, _ = make_layout(tmp_path)
    write(root, {"pyproject.toml": "[tool.dockaudit]\nignore = " + "[" * 5000 + "]" * 5000 + "\n"})
    from dockaudit.config import ConfigError

    with pytest.raises(ConfigError, match=r"nested too deeply|not valid TOML"):
        audit([str(root)], Options())


# --- as a real process ------------------------------------------------------------------------------


def _limited() -> None:  # pragma: no cover - runs in the child
    if resource is not None:
        resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_AS_LIMIT, SUBPROCESS_AS_LIMIT))


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "GITHUB_ACTIONS")}
    environ["PYTHONPATH"] = str(SRC) + os.pathsep + environ.get("PYTHONPATH", "")
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "dockaudit", *args], cwd=cwd, capture_output=True,
                          env=environ, timeout=TIME_LIMIT * 3, preexec_fn=_limited if resource else None)


needs_posix = pytest.mark.skipif(resource is None, reason="RLIMIT_AS and preexec_fn are POSIX only")


@needs_posix
@pytest.mark.parametrize("name", ["compose_billion_laughs", "compose_merge_key_bomb",
                                  "compose_deep_block_5000", "json_deep_5000", "toml_deep_5000",
                                  "nginx_deep_blocks", "deep_shell_and_interpolation"])
def test_bombs_in_a_memory_limited_process(name: str, tmp_path: Path) -> None:
    root, _ = make_layout(tmp_path)
    CASES[name](root)
    proc = run_cli(root, ".", "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")[-2000:]
    report = json.loads(proc.stdout)
    assert not [f for f in report["findings"] if f["rule"] == "DA000"]
    assert b"Traceback" not in proc.stderr


@needs_posix
@pytest.mark.parametrize("name", ["hostile_names", "hostile_contents"])
@pytest.mark.parametrize("fmt", ["text", "github"])
def test_terminal_escaping_in_a_real_process(name: str, fmt: str, tmp_path: Path) -> None:
    root, _ = make_layout(tmp_path)
    CASES[name](root)
    for env in ({"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}):
        proc = run_cli(root, ".", "--format", fmt, env=env)
        assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")[-2000:]
        out = proc.stdout.decode("utf-8")
        assert proc.stderr == b""
        bad = _UNSAFE_OUTPUT.search(out)
        shown = out[max(0, bad.start() - 60):bad.end() + 20] if bad else ""
        assert bad is None, f"{bad.group()!r} reached the terminal: {shown!r}"
        if env.get("NO_COLOR"):
            assert "\x1b" not in out
        if fmt == "github":
            for line in out.splitlines():
                assert line.startswith(("::error ", "::warning ", "::notice ")), line
        if name == "hostile_contents" and fmt == "text":
            assert "[bold red]x[/]" in out


@needs_posix
def test_terminal_escaping_of_a_hostile_path_argument(tmp_path: Path) -> None:
    """A scanned path given on the command line is shown escaped as well."""
    folder = tmp_path / "\x1b]52;c;cm0gLXJmIH4K\x07dir"
    folder.mkdir()
    write(folder, {"Dockerfile": b"\x00binary"})
    proc = run_cli(tmp_path, folder.name, env={"FORCE_COLOR": "1"})
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert "DA002" in out
    assert _UNSAFE_OUTPUT.search(out) is None, out


# --- --jobs -----------------------------------------------------------------------------------------


def _signature(result: AuditResult) -> list[tuple]:
    return [(f.rule, str(f.span), f.message, f.severity, f.suppression is not None) for f in result.findings]


def _many_roots(base: Path, count: int) -> list[str]:
    roots = []
    for index in range(count):
        root = base / f"svc{index}"
        write(root, {
            "Dockerfile": f"FROM python:3.11-slim\nCOPY --from=nope{index} /a /b\n",
            "compose.yaml": f"services:\n  s{index}:\n    build: .\n    env_file: missing{index}.env\n",
            ".env": f"PORT={8000 + index}\n",
        })
        roots.append(str(root))
    return roots


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_jobs_across_several_roots_give_the_same_report(tmp_path: Path) -> None:
    roots = _many_roots(tmp_path, 5)
    sequential = audit(roots, Options(jobs=1))
    parallel = audit(roots, Options(jobs=2))
    assert _signature(parallel) == _signature(sequential) and sequential.findings
    assert parallel.sources.keys() == sequential.sources.keys()
    assert parallel.files_scanned == sequential.files_scanned
    assert render("sarif", parallel) == render("sarif", sequential)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_a_config_error_in_a_root_audited_in_parallel_is_still_a_config_error(tmp_path: Path) -> None:
    from dockaudit.config import ConfigError

    roots = _many_roots(tmp_path, 3)
    write(Path(roots[1]), {".dockaudit.toml": "fail-on = 3\n"})
    with pytest.raises(ConfigError, match="fail-on"):
        audit(roots, Options(jobs=2))


def _compose_heavy(root: Path, count: int = 12) -> None:
    for index in range(count):
        write(root, {
            f"s{index}/compose.yaml": f"services:\n  s{index}:\n    build: .\n"
                                      f"    ports: ['{8000 + index}:80']\n"
                                      + "".join(f"    # padding {n}\n" for n in range(200)),
            f"s{index}/Dockerfile": "FROM python:3.11\nRUN pip install flask\n",
            f"s{index}/requirements.txt": "flask\n",
        })


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_jobs_parse_in_workers_and_give_the_same_report(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from dockaudit import audit as audit_module

    _compose_heavy(tmp_path)
    calls = []
    real = audit_module._parse_forked
    monkeypatch.setattr(audit_module, "_parse_forked", lambda *a: calls.append(a[3]) or real(*a))
    sequential = audit([str(tmp_path)], Options(jobs=1))
    assert calls == []
    parallel = audit([str(tmp_path)], Options(jobs=3))
    assert calls == [2]
    assert _signature(parallel) == _signature(sequential)
    assert parallel.sources.keys() == sequential.sources.keys()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
@pytest.mark.parametrize("failure", ["unpicklable", "die"])
def test_a_worker_that_fails_loses_nothing(failure: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A document a worker cannot send back, or a worker killed outright: this process parses the
    files itself. (A parser exception is a DA000 finding wherever it happens.)"""
    from dockaudit.parse import compose

    _compose_heavy(tmp_path)
    sequential = audit([str(tmp_path)], Options(jobs=1))
    parent = os.getpid()
    real = compose.parse

    def flaky(source):
        if os.getpid() != parent:
            if failure == "die":
                os._exit(3)
            document = real(source)
            document.unpicklable = lambda: None
            return document
        return real(source)

    monkeypatch.setattr(compose, "parse", flaky)
    parallel = audit([str(tmp_path)], Options(jobs=2))
    assert _signature(parallel) == _signature(sequential)
    assert not [f for f in parallel.findings if f.rule == "DA000"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
@pytest.mark.parametrize("failure", [None, "unpicklable", "die", "crash"])
def test_rules_shared_with_a_child_give_the_same_report(failure: str | None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules run in this process and a forked child: the same findings in the same order, also
    when the child cannot send a rule's findings back or dies; a rule that crashes is DA000 in
    either process."""
    from dockaudit import engine, rule_workers

    _compose_heavy(tmp_path)
    # a finding for a rule of the last check module (system packages), which the child takes
    write(tmp_path, {"s0/Dockerfile": "FROM python:3.11-slim\nRUN pip install mysqlclient\n"})
    sequential = audit([str(tmp_path)], Options(jobs=1))
    parent = os.getpid()
    registry = engine.load_checks()
    # the child takes rules from the back of the list: the last one that finds something
    fired = {f.rule for f in sequential.findings}
    victim = [rule_id for rule_id in registry if rule_id in fired][-1]
    real = registry[victim]
    ran_in = tmp_path / "ran-in"

    def flaky(project):
        ran_in.write_text("child" if os.getpid() != parent else "parent")
        if os.getpid() != parent:
            if failure == "die":
                os._exit(3)
            if failure == "unpicklable":
                for finding in real(project):
                    finding.fix = lambda: None  # type: ignore[assignment]
                    yield finding
                yield from ()
                return
        if failure == "crash":
            raise RuntimeError("boom")
        yield from real(project)

    forks = []
    real_split = rule_workers.run_in_two_processes
    monkeypatch.setattr(rule_workers, "run_in_two_processes", lambda *a: forks.append(1) or real_split(*a))
    monkeypatch.setitem(registry, victim, flaky)
    parallel = audit([str(tmp_path)], Options(jobs=2))
    assert forks == [1]
    if failure == "crash":
        crashed = [f for f in parallel.findings if f.rule == "DA000"]
        assert len(crashed) == 1 and victim in crashed[0].message
        return
    assert _signature(parallel) == _signature(sequential)
    assert not [f for f in parallel.findings if f.rule == "DA000"]
    # the rule ran in the child; when the child could not deliver, here again
    assert ran_in.read_text() == ("child" if failure is None else "parent")


def test_automatic_jobs_stay_sequential_for_small_projects(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from dockaudit import audit as audit_module

    write(tmp_path / "a", _PROJECT)
    write(tmp_path / "b", _PROJECT)
    monkeypatch.setattr(audit_module, "_parse_forked", lambda *a: pytest.fail("forked for a tiny project"))
    monkeypatch.setattr(audit_module, "_audit_roots_in_parallel",
                        lambda *a: pytest.fail("forked for tiny roots"))
    monkeypatch.setattr("dockaudit.rule_workers.run_in_two_processes",
                        lambda *a: pytest.fail("rules forked for a tiny project"))
    audit([str(tmp_path / "a")], Options(jobs=0))
    audit([str(tmp_path / "a"), str(tmp_path / "b")], Options(jobs=0))


def test_progress_bar_only_for_a_terminal_and_large_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockaudit import audit as audit_module
    from dockaudit import commands

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert commands._show_progress(quiet=False) is False  # not a terminal
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert commands._show_progress(quiet=False) is True
    assert commands._show_progress(quiet=True) is False
    monkeypatch.setenv("CI", "true")
    assert commands._show_progress(quiet=False) is False
    small = audit_module._Progress(True)
    small.start(audit_module.PROGRESS_MIN_FILES - 1)
    small.advance()
    small.rule("DA001", 3)
    assert small._bar is None
    off = audit_module._Progress(False)
    off.start(10_000)
    assert off._bar is None
    large = audit_module._Progress(True)
    large.start(audit_module.PROGRESS_MIN_FILES + 1)
    for _ in range(5):
        large.advance()
    large.rule("DA001", 2)
    large.close()
    assert large._bar is None


@settings(max_examples=300, deadline=None, database=None)
@given(pattern=st.text(alphabet="ab/.*?[]!-", min_size=1, max_size=12),
       paths=st.lists(st.text(alphabet="ab/.-", max_size=14), min_size=1, max_size=8))
def test_the_linear_glob_matcher_agrees_with_re(pattern: str, paths: list[str]) -> None:
    """:class:`dockaudit.globs.SafeRegex` runs hostile globs on its own VM: same answers as ``re``."""
    import warnings

    from dockaudit.globs import _compile_vm, _run, glob_to_regex

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        compiled = glob_to_regex(pattern)
    program = _compile_vm(compiled.pattern.pattern, 0)
    cache: dict = {}
    for path in paths:
        assert bool(compiled.pattern.match(path)) == _run(program, path, cache), (pattern, path)


# --- random whole projects (hypothesis) -------------------------------------------------------------

#: pieces that the file grammars below are built from: ordinary values, and the characters and
#: constructs each parser treats specially (quotes, escapes, interpolation, anchors, heredocs...)
_ATOMS = (
    "app", "web", "api", "worker", "base", "builder", "final", "python:3.11-slim", "node:20-alpine",
    "nvidia/cuda:12.1.0-runtime-ubuntu22.04", "nginx:1.27", "alpine", "scratch", "8000", "80:80",
    "127.0.0.1:8000:8000", "/app", ".", "./", "..", "../..", "/etc/passwd", "requirements.txt", ".env",
    "Dockerfile", "nginx/nginx.conf", "pip install -r requirements.txt", "apt-get install -y curl",
    "uv sync --frozen", "npm ci", "torch==2.3.0", "$HOME", "${PORT}", "${A:-x}", "${B:?err}", "$$",
    "${A:-${B:-c}}", "${", "}", "{", "[", "]", "(", ")", "'", '"', "\\", "`", "#", ";", "&&", "||", "|",
    "$(", "<<EOF", "EOF", "*", "?", "&a", "*a", "<<", "!reset", "!override", "~", "null", "true", "-",
    "--from=base", "--mount=type=cache,target=/root/.cache/pip", "--chown=1000:1000", ":", "=", ",",
    "\t", " ", "  ", "中文", "é", "\u202e", "\x1b[31m", "\ufeff", "\r", "0x1F", "1e9", "-1",
)
_atom = st.sampled_from(_ATOMS) | st.text(min_size=1, max_size=6)
_words = st.lists(_atom, min_size=0, max_size=6).map(" ".join)
_joined = st.lists(_atom, min_size=1, max_size=4).map("".join)

_INSTRUCTIONS = ("FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "CMD", "ENTRYPOINT",
                 "EXPOSE", "LABEL", "HEALTHCHECK", "SHELL", "VOLUME", "ONBUILD", "STOPSIGNAL", "from", "run",
                 "MAINTAINER", "FRUM")


@st.composite
def _dockerfile(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        directives = ["# syntax=docker/dockerfile:1", "# escape=`", "# check=skip=all"]
        lines.append(draw(st.sampled_from(directives)))
    lines.append(f"FROM {draw(_joined)}" + draw(st.sampled_from(["", " AS base", " AS final", " as Build"])))
    for _ in range(draw(st.integers(0, 10))):
        keyword = draw(st.sampled_from(_INSTRUCTIONS))
        form = draw(st.integers(0, 4))
        if form == 0:
            args = json.dumps(draw(st.lists(_joined, max_size=3)))
        elif form == 1:
            args = draw(_words) + " \\\n    " + draw(_words)
        elif form == 2:
            args = f"<<EOF\n{draw(_words)}\n{draw(_words)}\nEOF"
        else:
            args = draw(_words)
        lines.append(f"{keyword} {args}")
        if draw(st.integers(0, 5)) == 0:
            lines.append("# " + draw(_words))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", " \\\n"]))


def _yaml_scalar(draw: st.DrawFn) -> str:
    value = draw(_joined)
    style = draw(st.integers(0, 3))
    if style == 0:
        return json.dumps(value, ensure_ascii=False)
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    return value


@st.composite
def _compose(draw: st.DrawFn) -> str:
    out = []
    if draw(st.booleans()):
        image, value = _yaml_scalar(draw), _yaml_scalar(draw)
        out.append(f"x-base: &base\n  image: {image}\n  environment:\n    A: {value}")
    if draw(st.integers(0, 4)) == 0:
        out.append(f"include:\n  - {_yaml_scalar(draw)}")
    out.append("services:")
    for index in range(draw(st.integers(0, 3))):
        out.append(f"  {draw(st.sampled_from(['app', 'web', 'nginx', 'worker']))}{index}:")
        keys = draw(st.lists(st.sampled_from(["image", "build", "build-map", "env_file", "environment",
                                              "volumes", "ports", "command", "extends", "merge",
                                              "depends_on", "deploy", "reset"]), max_size=6))
        for key in keys:
            value = _yaml_scalar(draw)
            if key == "build-map":
                out.append(f"    build:\n      context: {value}\n      dockerfile: {_yaml_scalar(draw)}\n"
                           f"      target: {_yaml_scalar(draw)}\n"
                           f"      args:\n        - A={_yaml_scalar(draw)}")
            elif key in ("env_file", "volumes", "ports", "depends_on"):
                out.append(f"    {key}:\n      - {value}\n      - {_yaml_scalar(draw)}")
            elif key == "environment":
                out.append(f"    environment:\n      {draw(st.sampled_from(['A', 'B_1', 'PORT']))}: {value}")
            elif key == "extends":
                out.append(f"    extends:\n      file: {value}\n      service: {_yaml_scalar(draw)}")
            elif key == "merge":
                out.append("    <<: *base")
            elif key == "deploy":
                out.append("    deploy:\n      resources:\n        reservations:\n          devices:\n"
                           f"            - capabilities: [gpu]\n              count: {value}")
            elif key == "reset":
                out.append(f"    ports: !reset []\n    command: !override {value}")
            else:
                out.append(f"    {key}: {value}")
    return "\n".join(out) + "\n"


@st.composite
def _env(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(["PORT", "A", "B", "COMPOSE_FILE", "COMPOSE_PROFILES", "export X", "9bad",
                                     "", "MODEL_DIR"]))
        quote = draw(st.sampled_from(["", "'", '"']))
        lines.append(f"{name}={quote}{draw(_joined)}{quote if draw(st.integers(0, 5)) else ''}")
        if draw(st.integers(0, 4)) == 0:
            lines.append("# " + draw(_words))
    return "\n".join(lines) + "\n"


@st.composite
def _nginx_block(draw: st.DrawFn, depth: int) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["listen", "server_name", "proxy_pass", "include", "location", "server",
                                     "upstream", "root", "return", "set", "if", "client_max_body_size",
                                     "proxy_set_header", "map"]))
        if name in ("location", "server", "upstream", "if", "map") and depth < 3:
            parts.append(f"{name} {draw(_words)} {{\n{draw(_nginx_block(depth + 1))}}}\n")
        else:
            parts.append(f"{name} {draw(_words)}{draw(st.sampled_from([';', ';', '', ' {']))}\n")
    return "".join(parts)


@st.composite
def _nginx(draw: st.DrawFn) -> str:
    return "events {}\nhttp {\n" + draw(_nginx_block(1)) + "}\n"


@st.composite
def projects(draw: st.DrawFn) -> dict[str, str]:
    files: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(["Dockerfile", "svc/Dockerfile", "Dockerfile.gpu"]),
                              unique=True, max_size=2)):
        files[name] = draw(_dockerfile())
    for name in draw(st.lists(st.sampled_from(["compose.yaml", "compose.override.yaml", "svc/compose.yml",
                                               "docker-compose.gpu.yml"]), unique=True, max_size=2)):
        files[name] = draw(_compose())
    for name in draw(st.lists(st.sampled_from([".env", ".env.example", "svc/.env", "prod.env"]), unique=True,
                              max_size=2)):
        files[name] = draw(_env())
    if draw(st.booleans()):
        files["nginx/nginx.conf"] = draw(_nginx())
    if draw(st.booleans()):
        files["nginx/conf.d/default.conf"] = draw(_nginx_block(1))
    if draw(st.booleans()):
        files["requirements.txt"] = "\n".join(draw(st.lists(_words, max_size=4))) + "\n"
    if draw(st.booleans()):
        files[".dockerignore"] = "\n".join(draw(st.lists(_joined, max_size=4))) + "\n"
    if draw(st.integers(0, 3)) == 0:
        files["pyproject.toml"] = f'[project]\nname = "x"\ndependencies = [{json.dumps(draw(_words))}]\n'
    if draw(st.integers(0, 3)) == 0:
        files["package.json"] = json.dumps({"name": "x", "dependencies": {draw(_joined): draw(_joined)},
                                            "scripts": {"start": draw(_words)}})
    return files


@settings(max_examples=int(os.environ.get("DOCKAUDIT_PROJECT_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          database=None)
@given(project=projects())
def test_random_projects_never_give_internal_errors(project: dict[str, str]) -> None:
    """Random small projects, audited end to end: no DA000, and every reporter renders them."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), project)
        result = audit([tmp], Options(jobs=1))
        internal = [f"{f.span}: {f.message}" for f in result.findings if f.rule == "DA000"]
        assert not internal, internal
        assert result.exit_code() in (0, 1)
        for fmt in MODULES:
            render(fmt, result, color=True)


if __name__ == "__main__":  # a table of what each case produced
    import tempfile
    only = sys.argv[1:]
    from collections import Counter

    with tempfile.TemporaryDirectory() as tmp:
        warm(Path(tmp))
    for case_name in only or CASES:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                res, _, secs, mb, _ = run_case(case_name, Path(tmp))
            except BaseException as exc:
                print(f"{case_name:36} FAILED {type(exc).__name__}: {str(exc)[:200]}")
                continue
            rules = Counter(f.rule for f in res.findings)
            shown = ", ".join(f"{r}x{n}" if n > 1 else r for r, n in sorted(rules.items())) or "no findings"
            print(f"{case_name:36} exit {res.exit_code()}  {secs:6.2f} s  +{mb:5.0f} MB  {shown}", flush=True)
