"""What stages install: package-manager commands, RUN mounts and scripts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.installs import instruction_installs, run_commands, run_mounts, run_scripts, stage_installs
from dockaudit.parse.dockerfile import Dockerfile, parse
from dockaudit.source import Span, from_text


def df(text: str) -> Dockerfile:
    return parse(from_text("Dockerfile", text))


def installs_of(script: str):
    document = df(f"FROM alpine\nRUN {script}\n")
    return instruction_installs(document.instructions[1])


def summary(script: str) -> list[tuple]:
    return [(i.manager, i.action, i.packages, i.requirement_files) for i in installs_of(script)]


LISTENING_TRAINER = r"""# syntax=docker/dockerfile:1.7
FROM nvidia/cuda:12.1.1-cudnn-runtime-ubuntu22.04 AS base

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
    build-essential \
    curl \
    python3 \
    ffmpeg \
 && rm -rf /var/lib/apt/lists/*

FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
RUN python3 -m venv /app/kokoro-local/venv \
 && /app/kokoro-local/venv/bin/pip install --no-cache-dir -r kokoro-local/requirements.txt

FROM deps AS builder
RUN npm ci
RUN npx prisma generate && npm run build
"""


def test_listening_trainer_stages():
    document = df(LISTENING_TRAINER)
    base, deps, builder = document.stages
    apt = stage_installs(base)
    assert [(i.manager, i.action) for i in apt] == [("apt", "update"), ("apt", "install")]
    install = apt[1]
    assert install.packages == ["build-essential", "curl", "python3", "ffmpeg"]
    assert install.options == ["-y", "--no-install-recommends"]
    assert install.is_install and install.has_option("--no-install-recommends")
    assert install.span.line == 6 and install.span.column == 5
    assert install.instruction is base.instructions[1]

    npm, pip = stage_installs(deps)
    assert (npm.manager, npm.action, npm.options) == ("npm", "ci", ["--omit=dev"])
    assert npm.has_option("--omit") and npm.option_value("--omit") == "dev"
    assert (pip.manager, pip.action) == ("pip", "install")
    assert pip.requirement_files == ["kokoro-local/requirements.txt"]
    assert pip.has_option("--no-cache-dir")
    assert pip.words[0] == "/app/kokoro-local/venv/bin/pip"
    assert pip.span == Span("Dockerfile", 17, 5, 17, 91)

    own = stage_installs(builder)
    assert [(i.manager, i.action, i.packages) for i in own] == [
        ("npm", "ci", []), ("npx", "exec", ["prisma"])]
    inherited = stage_installs(builder, inherited=True)
    assert [i.manager for i in inherited] == ["apt", "apt", "npm", "pip", "npm", "npx"]


@pytest.mark.parametrize(("script", "expected"), [
    ("apt-get install -y -o Dpkg::Options::=--force-confold espeak-ng libsndfile1=1.0.31-2",
     [("apt", "install", ["espeak-ng", "libsndfile1=1.0.31-2"], [])]),
    ("apt install -qq -t bookworm-backports git", [("apt", "install", ["git"], [])]),
    ("apk add --no-cache --virtual .build-deps gcc musl-dev && apk del .build-deps",
     [("apk", "add", ["gcc", "musl-dev"], []), ("apk", "del", [".build-deps"], [])]),
    ("dnf install -y --setopt=install_weak_deps=False python3.11 && yum -y install git && "
     "microdnf install jq",
     [("dnf", "install", ["python3.11"], []), ("yum", "install", ["git"], []),
      ("microdnf", "install", ["jq"], [])]),
    ("pip install --no-cache-dir torch==2.3.0+cu121 --index-url https://download.pytorch.org/whl/cu121",
     [("pip", "install", ["torch==2.3.0+cu121"], [])]),
    ("pip3 install -r requirements.txt -c constraints.txt -rdev.txt --requirement=extra.txt .",
     [("pip", "install", ["."], ["requirements.txt", "constraints.txt", "dev.txt", "extra.txt"])]),
    ("python3.11 -m pip install -U pip setuptools", [("pip", "install", ["pip", "setuptools"], [])]),
    ("/opt/venv/bin/python -m pip install -e . 'uvicorn[standard]'",
     [("pip", "install", ["uvicorn[standard]", "."], [])]),
    ("python3 -m venv /venv", []),
    ("uv pip install --system -r requirements.txt fastapi",
     [("uv-pip", "install", ["fastapi"], ["requirements.txt"])]),
    ("uv pip sync requirements.lock", [("uv-pip", "sync", [], ["requirements.lock"])]),
    ("uv sync --frozen --no-dev --no-install-project", [("uv-sync", "sync", [], [])]),
    ("uv --no-cache sync --locked --extra gpu", [("uv-sync", "sync", [], [])]),
    ("uv tool install ruff==0.6.9", [("uv-tool", "install", ["ruff==0.6.9"], [])]),
    ("uv add httpx", [("uv", "add", ["httpx"], [])]),
    ("uv run python app.py", []),
    ("poetry install --no-root --only main && poetry add requests",
     [("poetry", "install", [], []), ("poetry", "add", ["requests"], [])]),
    ("pipenv install --deploy --system", [("pipenv", "install", [], [])]),
    ("conda install -y -c conda-forge ffmpeg && mamba create -n tts python=3.11 pytorch",
     [("conda", "install", ["ffmpeg"], []), ("mamba", "create", ["python=3.11", "pytorch"], [])]),
    ("micromamba env create -f environment.yml", [("micromamba", "create", [], ["environment.yml"])]),
    ("npm install -g prisma@5 && npm i && npm run build",
     [("npm", "install", ["prisma@5"], []), ("npm", "install", [], [])]),
    ("yarn install --frozen-lockfile && yarn && yarn global add pm2 && yarn build",
     [("yarn", "install", [], []), ("yarn", "install", [], []), ("yarn", "add", ["pm2"], [])]),
    ("pnpm install --frozen-lockfile --prod && pnpm add -D typescript",
     [("pnpm", "install", [], []), ("pnpm", "add", ["typescript"], [])]),
    ("npx --yes prisma@5.22.0 generate", [("npx", "exec", ["prisma@5.22.0"], [])]),
    ("npx -p @prisma/cli prisma migrate deploy", [("npx", "exec", ["@prisma/cli"], [])]),
    ("go install github.com/air-verse/air@latest && go mod download && go build ./...",
     [("go", "install", ["github.com/air-verse/air@latest"], []), ("go", "download", [], [])]),
    ("cargo install --locked ripgrep", [("cargo", "install", ["ripgrep"], [])]),
    ("gem install bundler -v 2.5.0 && bundle install --jobs 4",
     [("gem", "install", ["bundler"], []), ("bundler", "install", [], [])]),
    ("echo pip install nothing", []),
])
def test_managers(script, expected):
    assert summary(script) == expected


def test_wrapped_commands_are_found():
    found = summary("set -eux; sudo -E bash -lc 'PIP_NO_CACHE_DIR=1 pip install x' && env A=1 npm ci")
    assert found == [("pip", "install", ["x"], []), ("npm", "ci", [], [])]
    [pip] = installs_of("sh -c 'PIP_INDEX_URL=https://mirror pip install x'")
    assert pip.assignments == {"PIP_INDEX_URL": "https://mirror"}


def test_exec_form():
    document = df('FROM python:3.12\nRUN ["pip", "install", "--no-cache-dir", "fastapi"]\n'
                  'RUN ["/bin/sh", "-c", "apt-get update && apt-get install -y curl"]\n')
    pip = instruction_installs(document.instructions[1])[0]
    assert (pip.manager, pip.packages, pip.options) == ("pip", ["fastapi"], ["--no-cache-dir"])
    assert pip.span == Span("Dockerfile", 2, 7, 2, 10)
    apt = instruction_installs(document.instructions[2])
    assert [(i.action, i.packages) for i in apt] == [("update", []), ("install", ["curl"])]


def test_heredoc_scripts():
    document = df("FROM debian:12\nRUN <<EOF\nset -e\napt-get update\n"
                  "apt-get install -y --no-install-recommends espeak-ng\nEOF\n"
                  "RUN <<EOF\n#!/usr/bin/env python3\nprint('pip install no')\nEOF\n"
                  "RUN bash <<'EOF'\n\tpip install yes\nEOF\n"
                  "RUN cat <<EOF > /etc/pip.conf\n[global]\nEOF\n")
    first, python, fed, written = document.instructions[1:]
    installs = instruction_installs(first)
    assert [(i.action, i.packages) for i in installs] == [("update", []), ("install", ["espeak-ng"])]
    assert installs[1].span == Span("Dockerfile", 5, 1, 5, 53)
    assert run_scripts(python) == []
    assert instruction_installs(python) == []
    assert run_scripts(fed) == ["bash <<'EOF'", "\tpip install yes\n"]
    assert [i.packages for i in instruction_installs(fed)] == [["yes"]]
    assert instruction_installs(fed)[0].span == Span("Dockerfile", 12, 2, 12, 17)
    assert run_scripts(written) == ["cat <<EOF > /etc/pip.conf"]


def test_strip_tabs_heredoc_span():
    document = df("FROM alpine\nRUN <<-EOF\n\t\tapk add --no-cache curl\n\tEOF\n")
    [install] = instruction_installs(document.instructions[1])
    assert install.span == Span("Dockerfile", 3, 3, 3, 26)


def test_run_commands_span_on_continuation():
    document = df("FROM alpine\nRUN apk update && \\\n    apk add --no-cache \\\n      git\n")
    commands = run_commands(document.instructions[1])
    assert [c.words for c, _ in commands] == [["apk", "update"], ["apk", "add", "--no-cache", "git"]]
    assert commands[1][1] == Span("Dockerfile", 3, 5, 4, 10)


def test_run_scripts_forms():
    document = df('FROM alpine\nRUN echo a && echo b\nRUN ["echo", "x y"]\nCOPY a b\n')
    assert run_scripts(document.instructions[1]) == ["echo a && echo b"]
    assert run_scripts(document.instructions[2]) == ["echo x y"]
    assert run_scripts(document.instructions[3]) == []


def test_run_mounts():
    document = df(
        "FROM python:3.12\nARG CACHE=/root/.cache/pip\n"
        "RUN --mount=type=cache,target=/root/.cache/uv,id=uv-cache,sharing=locked,uid=1000 \\\n"
        "    --mount=type=bind,source=uv.lock,dst=/app/uv.lock \\\n"
        "    --mount=type=secret,id=hf_token,required=true,env=HF_TOKEN \\\n"
        "    --mount=type=ssh \\\n"
        "    --mount=\"type=cache,destination=${CACHE}\" \\\n"
        "    --mount=type=bind,from=deps,source=/app/node_modules,target=/app/node_modules,rw \\\n"
        "    uv sync --frozen\n")
    stage = document.stages[0]
    run = stage.instructions[1]
    cache, bind, secret, ssh, expanded, from_stage = run_mounts(run, stage.env_at(run))
    assert (cache.type, cache.target, cache.id, cache.sharing, cache.uid) == (
        "cache", "/root/.cache/uv", "uv-cache", "locked", "1000")
    assert cache.span == Span("Dockerfile", 3, 5, 3, 82)
    assert (bind.type, bind.source, bind.target, bind.readonly) == ("bind", "uv.lock", "/app/uv.lock", True)
    assert (secret.type, secret.id, secret.required, secret.options["env"]) == (
        "secret", "hf_token", True, "HF_TOKEN")
    assert ssh.type == "ssh" and ssh.target is None
    assert expanded.target == "/root/.cache/pip"
    assert run_mounts(run)[4].target == "${CACHE}"
    assert (from_stage.from_, from_stage.readonly) == ("deps", False)
    [install] = instruction_installs(run)
    assert (install.manager, install.action) == ("uv-sync", "sync")


def test_install_helpers():
    [install] = installs_of("pip install --index-url https://mirror/simple -i https://second/simple x")
    assert install.option_value("--index-url", "-i") == "https://second/simple"
    assert install.has_option("-i")
    assert not install.has_option("--no-cache-dir")


def test_non_run_instructions_have_no_installs():
    document = df("FROM alpine\nCMD pip install x\nHEALTHCHECK CMD npm ci\n")
    assert stage_installs(document.stages[0]) == []


_PIECES = st.sampled_from([
    "FROM alpine\n", "RUN ", "apt-get install -y x", "pip install -r r.txt", "npm ci", "&&", "||", ";",
    " ", "\\\n", "\n", "'", '"', "<<EOF\n", "EOF\n", "sh -c '", "sudo ", "--mount=type=cache,target=/x ",
    "--mount=\"a,b", '["pip", "install"]', "uv sync", "$(", "`", "#", "python -m pip install x",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_installs_never_raise_and_spans_are_inside_the_file(text):
    source = from_text("Dockerfile", text)
    document = parse(source)
    for stage in document.stages:
        for install in stage_installs(stage, inherited=True):
            span = install.span
            assert 1 <= span.line <= span.end_line <= source.line_count
            assert 1 <= span.column <= len(source.line_text(span.line)) + 1
        for inst in stage.instructions:
            run_mounts(inst, stage.env_at(inst))
            run_scripts(inst)
