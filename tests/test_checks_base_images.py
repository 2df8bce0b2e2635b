"""Edge cases of the base-image and reproducibility rules DA850–DA858."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockaudit.checks.base_images import _split_ref, moving_url

IDS = ("DA850", "DA851", "DA852", "DA853", "DA854", "DA855", "DA856", "DA857", "DA858")
ROOT = Path(__file__).resolve().parent.parent


def hits(result, rule_id: str):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


@pytest.mark.parametrize("fixture", ["uv-api-good", "gpu-tts-good"])
def test_good_fixtures_are_quiet(fixture):
    from dockaudit.audit import Options, audit

    result = audit([str(ROOT / "fixtures" / fixture)], Options(select=IDS))
    assert [f"{f.rule} {f.span}" for f in result.active()] == []


def test_split_ref():
    assert _split_ref("python") == ("python", None, None)
    assert _split_ref("localhost:5000/app") == ("localhost:5000/app", None, None)
    assert _split_ref("localhost:5000/app:1.2") == ("localhost:5000/app", "1.2", None)
    assert _split_ref("nginx@sha256:abc") == ("nginx", None, "sha256:abc")


@pytest.mark.parametrize(("url", "moving"), [
    ("git+https://github.com/openai/whisper.git", True),
    ("git+https://github.com/openai/whisper.git@main", True),
    ("git+https://github.com/openai/whisper.git@refs/heads/dev", True),
    ("git+ssh://git@github.com/org/repo.git", True),
    ("git+ssh://git@github.com/org/repo.git@v1.0.0", False),
    ("git+https://github.com/org/repo@3f1c2a9b#egg=repo", False),
    ("https://github.com/org/repo/archive/master.zip", True),
    ("https://github.com/org/repo/archive/refs/heads/main.tar.gz", True),
    ("https://github.com/org/repo/archive/refs/tags/v1.2.zip", False),
    ("https://github.com/org/repo/archive/4e1c2d6f.zip", False),
    ("https://gitlab.com/org/repo/-/archive/main/repo-main.tar.gz", True),
    ("https://files.pythonhosted.org/packages/x/torch-2.5.1-cp312-none-linux_x86_64.whl", False),
])
def test_moving_url(url, moving):
    assert (moving_url(url) is not None) is moving


def test_da850_locally_built_images_and_unset_variables_are_skipped(scan):
    files = {
        "compose.yaml": ("services:\n  base:\n    image: myorg-base\n    build: ./base\n"
                         "  app:\n    build: ./app\n  tool:\n    image: ${TOOL_IMAGE}\n"),
        "base/Dockerfile": "FROM python:3.12.8-slim-bookworm\n",
        "app/Dockerfile": "FROM myorg-base\n",
    }
    assert hits(scan(files, select=("DA850",)), "DA850") == []


def test_da850_floating_tags_are_notes(scan):
    files = {"Dockerfile": "FROM node:lts-alpine AS web\nFROM nginx:alpine\nFROM redis:7.4-alpine AS r\n"}
    found = hits(scan(files, select=("DA850",)), "DA850")
    assert [(f.span.line, f.severity.label) for f in found] == [(1, "note"), (2, "note")]
    assert "node:<version>-alpine" in found[0].message


def test_da851_compose_build_args_and_suggestions(scan):
    files = {
        "Dockerfile": "ARG PY=3.12\nFROM python:${PY}-slim-bookworm\n",
        "compose.yaml": "services:\n  a:\n    build: {context: ., args: {PY: '3.8'}}\n",
    }
    (finding,) = hits(scan(files, select=("DA851",)), "DA851")
    assert "`python:3.8-slim-bookworm`" in finding.message and "Python 3.8" in finding.message
    # the replacement version moves with time
    assert re.search(r"e\.g\. `python:3\.1\d-slim-bookworm`", finding.message)


def test_da851_patch_versions_are_not_suggested_with_new_distributions(scan):
    files = {"Dockerfile": "FROM python:3.11.4-slim-buster\n"}
    (finding,) = hits(scan(files, select=("DA851",)), "DA851")
    suggestion = re.search(r"e\.g\. `([^`]+)`", finding.message)
    assert suggestion and suggestion.group(1).startswith("python:3.11-slim-")  # not 3.11.4: no such tag
    assert "buster" not in suggestion.group(1)


def test_da851_cuda_suggests_a_published_tag(scan):
    files = {"Dockerfile": "FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04\n"}
    found = hits(scan(files, select=("DA851",)), "DA851")
    if found:  # NVIDIA may list the tag itself as end of life (DA602's finding then)
        assert "ubuntu22.04" in found[0].message


def test_da853_compose_target(scan):
    files = {
        "Dockerfile": ("FROM --platform=$BUILDPLATFORM golang:1.23 AS build\nRUN go version\n"
                       "FROM alpine:3.21 AS runtime\nCOPY --from=build /go /go\n"),
        "compose.yaml": "services:\n  b:\n    build: {context: ., target: build}\n",
    }
    (finding,) = hits(scan(files, select=("DA853",)), "DA853")
    assert finding.span.line == 1


def test_da854_uv_pip_and_requirements_includes(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim\nCOPY requirements/ /req/\n"
                       "RUN pip install -r /req/prod.txt && uv pip install --system "
                       "git+https://github.com/a/b\n"),
        "requirements/prod.txt": "-r base.txt\n",
        "requirements/base.txt": "x @ https://github.com/org/x/archive/master.zip\n",
    }
    found = hits(scan(files, select=("DA854",)), "DA854")
    expected = [("Dockerfile", 3), ("requirements/base.txt", 1)]
    assert sorted((f.span.path, f.span.line) for f in found) == expected


def test_da855_checkout_in_another_folder_does_not_pin(scan):
    files = {"Dockerfile": ("FROM ubuntu:24.04\nRUN git clone https://github.com/a/one.git\n"
                            "RUN git clone https://github.com/a/two.git && git -C two checkout v1.0\n"
                            "RUN cd two && git checkout 1a2b3c\n")}
    found = hits(scan(files, select=("DA855",)), "DA855")
    assert [f.span.line for f in found] == [2]


def test_da856_list_form_args(scan):
    files = {"compose.yaml": ("services:\n  a:\n    build:\n      context: .\n      args:\n"
                              "        - DOCKER_BUILDKIT=1\n"),
             "Dockerfile": "FROM alpine:3.21\n"}
    (finding,) = hits(scan(files, select=("DA856",)), "DA856")
    assert finding.span.line == 6


def test_da858_profiles_and_dev_commands(scan):
    dockerfile = "FROM python:3.12-slim\nWORKDIR /app\nCOPY app/ ./app/\n"
    files = {
        "Dockerfile": dockerfile,
        "app/main.py": "",
        "compose.yaml": ("services:\n  api:\n    build: .\n    profiles: [prod]\n    volumes:\n"
                         "      - ./app:/app/app\n"),
    }
    (finding,) = hits(scan(files, select=("DA858",)), "DA858")
    assert "production profile" in finding.message
    files["compose.yaml"] = ("services:\n  api:\n    build: .\n    profiles: [prod]\n"
                             "    command: uvicorn app.main:app --reload\n    volumes:\n      - "
                             "./app:/app/app\n")
    assert hits(scan(files, select=("DA858",)), "DA858") == []


def test_da858_single_compose_file_is_not_production(scan):
    files = {
        "Dockerfile": "FROM node:22-alpine\nWORKDIR /app\nCOPY . .\n",
        "server.js": "",
        "compose.yaml": ("services:\n  web:\n    build: .\n    restart: always\n    volumes:\n"
                         "      - .:/app\n"),
    }
    assert hits(scan(files, select=("DA858",)), "DA858") == []
