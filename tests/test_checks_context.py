"""Edge cases of the build-context rules DA830–DA835 beyond their catalog examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockaudit.checks.context import build_units, context_view, gitignored
from dockaudit.project import Project

from .conftest import write_tree

IDS = ("DA830", "DA831", "DA832", "DA833", "DA834", "DA835")
ROOT = Path(__file__).resolve().parent.parent


def hits(result, rule_id: str):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


def where(findings) -> list[tuple[str, int, str]]:
    return [(f.span.path, f.span.line, f.severity.label) for f in findings]


@pytest.mark.parametrize("fixture", ["uv-api-good", "gpu-tts-good"])
def test_good_fixtures_are_quiet(fixture):
    from dockaudit.audit import Options, audit

    result = audit([str(ROOT / "fixtures" / fixture)], Options(select=IDS))
    assert [f"{f.rule} {f.span}" for f in result.active()] == []


# --- build units and the context view -------------------------------------------------------


def test_standalone_dockerfile_context_is_guessed_from_its_sources(tmp_path):
    write_tree(tmp_path, {
        "docker/api.Dockerfile": "FROM python:3.12-slim\nCOPY pyproject.toml ./\nCOPY src/ ./src/\n",
        "pyproject.toml": "[project]\nname='x'\n",
        "src/x.py": "",
        "web/Dockerfile": "FROM node:22-alpine\nCOPY package.json ./\n",
        "web/package.json": "{}",
    })
    units = {u.dockerfile_path: u for u in build_units(Project(tmp_path))}
    assert units["docker/api.Dockerfile"].context == "."
    assert units["web/Dockerfile"].context == "web"
    assert all(u.standalone for u in units.values())


def test_compose_units_merge_services_and_targets(tmp_path):
    write_tree(tmp_path, {
        "compose.yaml": ("services:\n  a:\n    build: {context: ., target: api}\n"
                         "  b:\n    build: {context: ., target: worker, args: {X: '1'}}\n"),
        "Dockerfile": "FROM python:3.12-slim AS api\nFROM api AS worker\n",
    })
    (unit,) = build_units(Project(tmp_path))
    assert [t.name for t in unit.targets] == ["api", "worker"]
    assert [s.name for _c, s in unit.services] == ["a", "b"]
    assert unit.build_args == {"X": "1"} and not unit.standalone


def test_context_view_unknown_inside_skipped_and_empty_folders(tmp_path):
    write_tree(tmp_path, {"node_modules/x/index.js": "", "app/main.py": ""})
    (tmp_path / "linked").mkdir()
    view = context_view(Project(tmp_path), ".")
    assert view.exists("app/main.py") is True
    assert view.exists("app/other.py") is False
    assert view.exists("node_modules/x/index.js") is None
    assert view.exists("linked/file") is None  # an empty (or symlinked) folder: content unknown
    assert view.glob("app/*.py") == ["app/main.py"]
    assert view.glob("*/main.py") == ["app/main.py"]


def test_gitignore_reading(tmp_path):
    write_tree(tmp_path, {".gitignore": "dist/\n*.env\n!keep.env\n/build\n", "sub/.gitignore": "gen/\n"})
    project = Project(tmp_path)
    assert gitignored(project, "dist/app.js")
    assert gitignored(project, "x/prod.env")
    assert not gitignored(project, "keep.env")
    assert gitignored(project, "build/out")
    assert not gitignored(project, "sub/build/out")  # anchored pattern: root only
    assert gitignored(project, "sub/gen/a.py")
    assert not gitignored(project, "gen/a.py")


# --- DA830 / DA831 ---------------------------------------------------------------------------


def test_da830_git_needed_by_setuptools_scm_is_not_listed(scan):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nCOPY . .\nRUN pip install .\n",
        "pyproject.toml": "[build-system]\nrequires = ['setuptools', 'setuptools-scm']\n",
        ".git/HEAD": "ref: refs/heads/main\n",
    }
    assert hits(scan(files, select=("DA830",)), "DA830") == []
    files[".venv/pyvenv.cfg"] = "home = /usr\n"
    found = hits(scan(files, select=("DA830",)), "DA830")
    assert len(found) == 1 and ".venv" in found[0].message and ".git/" not in found[0].message


def test_da830_copy_in_builder_stage_counts_and_fix_lists_patterns(scan):
    files = {
        "Dockerfile": ("FROM node:22-alpine AS build\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\n"
                       "FROM nginx:1.27-alpine\nCOPY --from=build /app/dist /usr/share/nginx/html\n"),
        "package.json": "{}",
        "node_modules/a/index.js": "",
        "src/pkg/node_modules/b/index.js": "",
    }
    (finding,) = hits(scan(files, select=("DA830",)), "DA830")
    assert finding.span.line == 3
    assert "**/node_modules" in finding.fix


def test_da830_standalone_with_parent_dockerignore_is_not_sure(scan):
    files = {
        ".dockerignore": ".git\n",
        "services/api/Dockerfile": "FROM python:3.12-slim\nCOPY . .\n",
        "services/api/.venv/pyvenv.cfg": "home = /usr\n",
    }
    assert hits(scan(files, select=("DA830",)), "DA830") == []


def test_da831_placeholder_log_folder_and_small_fixture_weights_are_ignored(scan):
    files = {
        ".dockerignore": ".git\n",
        "Dockerfile": "FROM python:3.12-slim\nCOPY . .\n",
        "nginx/logs/.gitkeep": "",
        "src/log/__init__.py": "def log(): pass\n",
        "tests/data/tiny.pth": "x" * 100,
    }
    assert hits(scan(files, select=("DA831",)), "DA831") == []


def test_da831_one_finding_per_ignore_file(scan):
    files = {
        ".dockerignore": ".git\n",
        "compose.yaml": "services:\n  a:\n    build: .\n  b:\n    build: {context: ., target: b}\n",
        "Dockerfile": "FROM python:3.12-slim AS a\nCOPY . .\nFROM a AS b\n",
        ".venv/pyvenv.cfg": "home = /usr\n",
        "logs/app.log": "x\n",
    }
    (finding,) = hits(scan(files, select=("DA831",)), "DA831")
    assert finding.span.path == ".dockerignore"
    assert "virtual environments" in finding.message and "logs" in finding.message
    assert finding.related[0].span.path == "Dockerfile"


# --- DA832 -----------------------------------------------------------------------------------


def test_da832_dockerfile_specific_ignore_wins(scan):
    files = {
        ".dockerignore": "config\n",
        "Dockerfile.prod": "FROM python:3.12-slim\nCOPY config/ ./config/\n",
        "Dockerfile.prod.dockerignore": ".git\n",
        "compose.yaml": "services:\n  app:\n    build: {context: ., dockerfile: Dockerfile.prod}\n",
        "config/app.toml": "",
    }
    assert hits(scan(files, select=("DA832",)), "DA832") == []
    files["Dockerfile.prod.dockerignore"] = "config/\n"
    (finding,) = hits(scan(files, select=("DA832",)), "DA832")
    assert finding.related[0].span.path == "Dockerfile.prod.dockerignore"


def test_da832_folder_with_reincluded_file_is_sent(scan):
    files = {
        ".dockerignore": "src\n!src/main.py\n",
        "Dockerfile": "FROM python:3.12-slim\nCOPY src ./src\nCOPY src/other.py ./\n",
        "src/main.py": "", "src/other.py": "",
    }
    found = hits(scan(files, select=("DA832",)), "DA832")
    assert [(f.span.line, f.severity.label) for f in found] == [(3, "error")]
    assert "pattern `src` on line 1" in found[0].message


def test_da832_wildcard_fully_excluded_is_a_warning(scan):
    files = {
        ".dockerignore": "*.txt\n",
        "Dockerfile": "FROM python:3.12-slim\nCOPY requirements*.txt ./\n",
        "requirements.txt": "", "requirements-dev.txt": "",
    }
    (finding,) = hits(scan(files, select=("DA832",)), "DA832")
    assert finding.severity.label == "warning" and "copies nothing" in finding.message


# --- DA833 -----------------------------------------------------------------------------------


def test_da833_unbuilt_stage_and_unresolved_variables_are_skipped(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS test\nCOPY tests/ ./tests/\n"
                       "FROM python:3.12-slim AS app\nARG SRC\nCOPY ${SRC}/ ./\nCOPY node_modules/x ./x\n"),
        "app.py": "",
        "node_modules/y/index.js": "",
    }
    assert hits(scan(files, select=("DA833",)), "DA833") == []


def test_da833_variables_with_values_are_resolved(scan):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nARG APP_DIR=server\nCOPY ${APP_DIR}/ ./\n",
        "compose.yaml": "services:\n  s:\n    build: {context: ., args: {APP_DIR: srv}}\n",
        "server/main.py": "",
    }
    (finding,) = hits(scan(files, select=("DA833",)), "DA833")
    assert "`${APP_DIR}/`" in finding.message  # compose passes srv, which does not exist


def test_da833_generated_paths_are_notes_and_repeats_are_grouped(scan):
    files = {
        ".gitignore": "generated/\n",
        "Dockerfile": ("FROM nginx:1.27-alpine AS a\nCOPY dist/ /usr/share/nginx/html/\n"
                       "COPY generated/x.json /x\nFROM a\nCOPY missing.conf /etc/nginx/conf.d/\n"
                       "COPY missing.conf /tmp/\n"),
    }
    found = hits(scan(files, select=("DA833",)), "DA833")
    assert [(f.span.line, f.severity.label) for f in found] == [(2, "note"), (3, "note"), (5, "error")]
    assert "also on line 6" in found[2].message


def test_da833_standalone_in_subfolder_is_a_warning(scan):
    files = {"tools/Dockerfile": "FROM alpine:3.21\nCOPY run.sh /run.sh\n", "tools/other.sh": ""}
    (finding,) = hits(scan(files, select=("DA833",)), "DA833")
    assert finding.severity.label == "warning"


def test_da833_template_dockerfiles_are_not_built(scan):
    files = {"Dockerfile-alpine.template": "FROM alpine:3.21\nCOPY config/* /etc/app/\n"}
    assert hits(scan(files, select=("DA833",)), "DA833") == []


# --- DA834 / DA835 ---------------------------------------------------------------------------


def test_da834_not_next_to_a_compose_file_is_not_judged(scan):
    files = {
        ".dockerignore": ".git\n",
        "deploy/compose.yaml": "services:\n  api:\n    build: ../api\n",
        "api/Dockerfile": "FROM python:3.12-slim\n",
    }
    assert hits(scan(files, select=("DA834",)), "DA834") == []


def test_da835_committed_env_files_are_not_reported(scan):
    files = {
        "Dockerfile": "FROM node:22-alpine\nCOPY . .\n",
        ".env.production": "NEXT_PUBLIC_API=https://api.example.com\n",
    }
    assert hits(scan(files, select=("DA835",)), "DA835") == []
    files[".gitignore"] = ".env.production\n"
    (finding,) = hits(scan(files, select=("DA835",)), "DA835")
    assert ".env.production" in finding.message


def test_da835_only_for_stages_the_image_is_made_of(scan):
    files = {
        "Dockerfile": ("FROM node:22-alpine AS build\nCOPY . .\nRUN npm run build\n"
                       "FROM nginx:1.27-alpine\nCOPY --from=build /dist /usr/share/nginx/html\n"),
        ".env": "TOKEN=abc\n",
    }
    assert hits(scan(files, select=("DA835",)), "DA835") == []


def test_rules_never_read_outside_the_root(scan, tmp_path):
    outside = tmp_path.parent / "outside-context"
    outside.mkdir(exist_ok=True)
    files = {
        "compose.yaml": "services:\n  a:\n    build: ../outside-context\n",
        "Dockerfile": "FROM alpine:3.21\nCOPY ../../etc/passwd /x\n",
    }
    result = scan(files, select=IDS)
    assert all(os.sep + "outside-context" not in f.span.path for f in result.findings)
