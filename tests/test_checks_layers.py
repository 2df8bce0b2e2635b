"""Edge cases of the layer, cache and runtime rules (DA801–DA812) and the apt rules (DA813–DA820)."""

from __future__ import annotations

from dockaudit.findings import Severity

LAYER_RULES = tuple(f"DA8{n:02d}" for n in range(1, 21))


def hits(result, rule_id):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


# --- DA801 -------------------------------------------------------------------------------------


def test_deps_after_code_names_existing_manifests_and_related(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n"
                       "RUN pip install --no-cache-dir -r requirements/prod.txt\n"),
        "requirements/prod.txt": "flask==3.1.0\n",
        "app.py": "x = 1\n",
    }, select=("DA801",))
    [finding] = hits(result, "DA801")
    assert (finding.span.line, finding.span.column) == (3, 1)
    assert "`requirements/prod.txt`" in finding.message
    assert finding.related and finding.related[0].span.line == 4
    assert "`COPY requirements/prod.txt requirements/`" in finding.fix


def test_deps_after_code_context_from_compose_and_dockerfile_elsewhere(scan):
    # docker/Dockerfile built with the repository root as context
    result = scan({
        "compose.yaml": ("services:\n  api:\n    build:\n      context: .\n"
                         "      dockerfile: docker/Dockerfile\n"),
        "docker/Dockerfile": "FROM node:20-alpine\nWORKDIR /srv\nCOPY . .\nRUN npm ci\n",
        "package.json": "{}",
        "package-lock.json": "{}",
        "index.js": "1\n",
    }, select=("DA801",))
    [finding] = hits(result, "DA801")
    assert finding.span.path == "docker/Dockerfile"
    assert "`package.json` and `package-lock.json`" in finding.message


def test_deps_after_code_guessed_context_without_compose(scan):
    result = scan({
        "docker/Dockerfile": ("FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"
                              "RUN pip install --no-cache-dir .\n"),
        "pyproject.toml": "[project]\nname='x'\nversion='1'\n",
        "x/__init__.py": "",
    }, select=("DA801",))
    [finding] = hits(result, "DA801")
    assert "`pyproject.toml`" in finding.message


def test_deps_after_code_quiet_when_env_copied_from_deps_stage(scan):
    result = scan({
        "Dockerfile": (
            "FROM python:3.12-slim AS deps\nWORKDIR /app\nCOPY pyproject.toml poetry.lock ./\n"
            "RUN pip install --no-cache-dir poetry && poetry install --no-root\n"
            "FROM python:3.12-slim\nWORKDIR /app\nCOPY --from=deps /app/.venv /app/.venv\n"
            "COPY src ./src\nCOPY pyproject.toml poetry.lock ./\nRUN poetry install --only-root\n"),
        "pyproject.toml": "[tool.poetry]\nname='x'\n",
        "poetry.lock": "",
        "src/x.py": "x = 1\n",
    }, select=("DA801",))
    assert not hits(result, "DA801")


def test_deps_after_code_quiet_for_cloned_sources_and_missing_manifests(scan):
    result = scan({
        "Dockerfile": (
            "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n"
            "RUN git clone https://example.com/lib.git && cd lib && pip install --no-cache-dir -e .\n"
            "RUN if [ -s requirements.txt ]; then pip install --no-cache-dir -r requirements.txt; fi\n"),
        "main.py": "x = 1\n",
    }, select=("DA801",))
    assert not hits(result, "DA801")


def test_deps_after_code_suppressed_by_pragma(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\n# dockaudit: ignore=DA801 tiny image, rebuilt rarely\n"
                       "COPY . .\n"
                       "RUN pip install --no-cache-dir -r requirements.txt\n"),
        "requirements.txt": "x\n",
        "a.py": "",
    }, select=("DA801",))
    found = [f for f in result.findings if f.rule == "DA801"]
    assert found and all(f.suppression is not None for f in found)


# --- DA802 / DA803 -----------------------------------------------------------------------------


def test_uv_sync_project_flag_and_cd(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nCOPY --from=ghcr.io/astral-sh/uv:0.5.11 /uv /bin/uv\n"
                       "COPY backend/pyproject.toml backend/uv.lock /srv/backend/\n"
                       "RUN cd /srv/backend && uv sync --no-install-project\n"
                       "RUN uv sync --project /srv/backend --frozen\n"),
        "backend/pyproject.toml": "[project]\nname='b'\nversion='1'\n",
        "backend/uv.lock": "version = 1\n",
    }, select=("DA802",))
    [finding] = hits(result, "DA802")
    assert finding.span.line == 4 and "`--locked` or `--frozen`" in finding.message


def test_lock_excluded_by_dockerignore_is_left_to_the_copy_rules(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nWORKDIR /app\nCOPY pyproject.toml uv.lock ./\n"
                       "RUN pip install --no-cache-dir uv && uv sync --locked\n"),
        ".dockerignore": "uv.lock\n",
        "pyproject.toml": "[project]\nname='b'\nversion='1'\n",
        "uv.lock": "version = 1\n",
    }, select=("DA802",))
    assert not hits(result, "DA802")


def test_npm_ci_lock_from_other_stage_is_unknown(scan):
    result = scan({
        "Dockerfile": ("FROM node:20-alpine AS lock\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\n"
                       "FROM node:20-alpine\nWORKDIR /app\nCOPY package.json ./\n"
                       "COPY --from=lock /app/package-lock.json ./\nRUN npm ci\n"),
        "package.json": "{}",
    }, select=("DA803",))
    assert not hits(result, "DA803")


def test_npm_ci_without_lock_is_an_error(scan):
    result = scan({
        "compose.yaml": "services:\n  web:\n    build: ./web\n",
        "web/Dockerfile": "FROM node:20-alpine\nWORKDIR /app\nCOPY package.json ./\nRUN npm ci\n",
        "web/package.json": "{}",
        "other/Dockerfile": "FROM node:20-alpine\nWORKDIR /app\nCOPY package.json ./\nRUN npm ci\n",
        "other/package.json": "{}",
    }, select=("DA803",))
    # only where compose gives the context; a guessed context may be the wrong folder
    [finding] = hits(result, "DA803")
    assert finding.span.path == "web/Dockerfile"
    assert finding.severity == Severity.ERROR
    assert "no package-lock.json" in finding.message


# --- cache rules --------------------------------------------------------------------------------


def test_pip_cache_one_finding_per_run_and_prefix_option(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nRUN pip install a==1 && pip install b==2\n"
                       "RUN pip install --no-cache c==3\n"),
    }, select=("DA804",))
    [finding] = hits(result, "DA804")
    assert finding.span.line == 2 and "1 more pip install" in finding.message


def test_pip_cache_respects_user_home_and_arg_expanded_mount(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nARG CACHE=/root/.cache\n"
                       "RUN --mount=type=cache,target=${CACHE}/pip pip install rich==13.9.4\n"),
    }, select=("DA804", "DA807"))
    assert not hits(result, "DA804") and not hits(result, "DA807")


def test_uv_cache_mount_mismatch_names_the_env_line(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nENV UV_CACHE_DIR=/cache/uv\n"
                       "RUN --mount=type=cache,target=/root/.cache/uv "
                       "pip install uv && uv pip install --system x\n"),
    }, select=("DA807",))
    [finding] = hits(result, "DA807")
    assert "/cache/uv" in finding.message and "UV_CACHE_DIR" in finding.message
    assert finding.related and finding.related[0].span.line == 2


def test_cache_rules_on_heredoc_and_exec_form(scan):
    result = scan({
        "Dockerfile": ("# syntax=docker/dockerfile:1.7\nFROM python:3.12-slim\n"
                       "RUN --mount=type=cache,target=/root/.cache/pip <<EOF\n"
                       "pip install --no-cache-dir rich==13.9.4\nEOF\n"
                       'RUN ["pip", "install", "httpx==0.28.1"]\n'),
    }, select=("DA804", "DA806"))
    assert [f.span.line for f in hits(result, "DA806")] == [3]
    assert [f.span.line for f in hits(result, "DA804")] == [6]


def test_cache_mount_uid_given(scan):
    result = scan({
        "Dockerfile": ("FROM node:20-alpine\nUSER node\n"
                       "RUN --mount=type=cache,target=/home/node/.npm,uid=1000 npm install -g x\n"
                       "RUN --mount=type=cache,target=/tmp/c npm install -g y\n"),
    }, select=("DA808",))
    [finding] = hits(result, "DA808")
    assert finding.span.line == 4
    assert finding.related and finding.related[0].span.line == 2


# --- runtime -----------------------------------------------------------------------------------


def test_runs_as_root_quiet_when_entrypoint_script_drops_privileges(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nRUN useradd app\nCOPY entrypoint.sh /entrypoint.sh\n"
                       'EXPOSE 8000\nENTRYPOINT ["/entrypoint.sh"]\nCMD ["gunicorn", "app:app"]\n'),
        "entrypoint.sh": "#!/bin/sh\nchown -R app /data\nexec gosu app \"$@\"\n",
    }, select=("DA811",))
    assert not hits(result, "DA811")


def test_runs_as_root_unknown_script_or_base_stays_quiet(scan):
    result = scan({
        "Dockerfile": ('FROM python:3.12-slim\nEXPOSE 8000\nENTRYPOINT ["/usr/local/bin/start"]\n'),
        "other.Dockerfile": 'FROM registry.example.com/base:1\nEXPOSE 8000\nCMD ["uvicorn", "a:app"]\n',
    }, select=("DA811",))
    assert not hits(result, "DA811")


def test_runs_as_root_related_compose_services(scan):
    result = scan({
        "compose.yaml": ("services:\n  api:\n    build: .\n    ports: ['8000:8000']\n"
                         "  worker:\n    build: .\n    command: celery -A app worker\n"),
        "Dockerfile": 'FROM python:3.12-slim\nCMD ["uvicorn", "app:app"]\n',
    }, select=("DA811",))
    [finding] = hits(result, "DA811")
    assert finding.span.path == "Dockerfile" and finding.span.line == 1
    assert {r.span.path for r in finding.related} == {"compose.yaml"}


def test_healthcheck_worker_override_does_not_serve(scan):
    result = scan({
        "compose.yaml": ("services:\n  api:\n    build: .\n    healthcheck:\n      test: ['CMD', 'true']\n"
                         "  worker:\n    build: .\n    command: ['celery', '-A', 'app', 'worker']\n"),
        "Dockerfile": 'FROM python:3.12-slim\nEXPOSE 8000\nCMD ["uvicorn", "app:app"]\n',
    }, select=("DA812",))
    assert not hits(result, "DA812")


# --- apt ---------------------------------------------------------------------------------------


def test_apt_install_without_update_severities(scan):
    result = scan({
        "Dockerfile": ("FROM debian:12-slim\nRUN apt-get install -y curl\n"),
        "b.Dockerfile": ("FROM registry.example.com/debianish:1\nRUN apt-get install -y curl\n"),
    }, select=("DA815",))
    by_path = {f.span.path: f for f in hits(result, "DA815")}
    assert by_path["Dockerfile"].severity == Severity.ERROR
    assert by_path["b.Dockerfile"].severity == Severity.WARNING


def test_apt_rules_in_heredoc(scan):
    result = scan({
        "Dockerfile": ("# syntax=docker/dockerfile:1.7\nFROM ubuntu:24.04\nRUN <<EOF\nset -e\n"
                       "apt-get update\n"
                       "apt-get install -y --no-install-recommends curl\nrm -rf /var/lib/apt/lists/*\nEOF\n"
                       'CMD ["curl", "--version"]\n'),
    }, select=LAYER_RULES)
    assert not [f for f in result.findings if f.rule in ("DA813", "DA814", "DA815", "DA817")]


def test_toolchain_purged_with_auto_remove(scan):
    result = scan({
        "Dockerfile": ("FROM python:3.12-slim\nRUN set -eux; savedAptMark=\"$(apt-mark showmanual)\"; "
                       "apt-get update; apt-get install -y --no-install-recommends gcc libc6-dev; "
                       "pip install --no-cache-dir psutil==6.1.0; apt-mark auto '.*' > /dev/null; "
                       "apt-mark manual $savedAptMark; apt-get purge -y --auto-remove; "
                       "rm -rf /var/lib/apt/lists/*\n"
                       'CMD ["python", "-m", "app"]\n'),
    }, select=("DA820",))
    assert not hits(result, "DA820")


def test_rules_never_crash_on_odd_dockerfiles(scan):
    result = scan({
        "Dockerfile": "FROM\nCOPY\nRUN --mount=type=cache\nUSER\nCOPY --from=$X / /\nRUN apt-get\n",
        "b.Dockerfile": "ARG X\nFROM ${X}\nCOPY . .\nRUN npm ci\nEXPOSE\nCMD\n",
        "c.Dockerfile": "",
    }, select=LAYER_RULES)
    assert not [f for f in result.findings if f.rule == "DA000"]


def test_good_fixtures_stay_quiet():
    import os
    from pathlib import Path

    from dockaudit.audit import Options, audit

    root = Path(__file__).resolve().parent.parent / "fixtures"
    for name in ("uv-api-good", "gpu-tts-good"):
        old = Path.cwd()
        os.chdir(root / name)
        try:
            result = audit(["."], Options(select=LAYER_RULES))
        finally:
            os.chdir(old)
        loud = [f for f in result.findings if f.rule in LAYER_RULES and f.severity >= Severity.WARNING]
        assert not loud, [f"{f.span}: {f.rule} {f.message}" for f in loud]


NEXTJS_EXAMPLE = """FROM node:20-alpine AS base

FROM base AS deps
RUN apk add --no-cache libc6-compat
WORKDIR /app
COPY package.json yarn.lock* package-lock.json* pnpm-lock.yaml* .npmrc* ./
RUN \\
  if [ -f yarn.lock ]; then yarn --frozen-lockfile; \\
  elif [ -f package-lock.json ]; then npm ci; \\
  elif [ -f pnpm-lock.yaml ]; then corepack enable pnpm && pnpm i --frozen-lockfile; \\
  else echo "Lockfile not found." && exit 1; \\
  fi

FROM base AS builder
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN npm run build

FROM base AS runner
WORKDIR /app
ENV NODE_ENV=production
RUN addgroup --system --gid 1001 nodejs
RUN adduser --system --uid 1001 nextjs
COPY --from=builder /app/public ./public
COPY --from=builder --chown=nextjs:nodejs /app/.next/standalone ./
COPY --from=builder --chown=nextjs:nodejs /app/.next/static ./.next/static
USER nextjs
EXPOSE 3000
CMD ["node", "server.js"]
"""

UV_MULTISTAGE_EXAMPLE = """FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
ENV UV_PYTHON_DOWNLOADS=0
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \\
    --mount=type=bind,source=uv.lock,target=uv.lock \\
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\
    uv sync --locked --no-install-project --no-dev
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \\
    uv sync --locked --no-dev

FROM python:3.12-slim-bookworm
RUN groupadd --system --gid 999 nonroot && useradd --system --gid 999 --uid 999 --create-home nonroot
COPY --from=builder --chown=nonroot:nonroot /app /app
ENV PATH="/app/.venv/bin:$PATH"
USER nonroot
WORKDIR /app
CMD ["fastapi", "run", "--host", "0.0.0.0", "src/uv_docker_example"]
"""


def test_recommended_setups_stay_quiet_at_warning_level(scan):
    result = scan({
        "web/Dockerfile": NEXTJS_EXAMPLE,
        "web/package.json": "{}",
        "web/package-lock.json": "{}",
        "web/app/page.tsx": "export {}\n",
        "api/Dockerfile": UV_MULTISTAGE_EXAMPLE,
        "api/pyproject.toml": "[project]\nname='x'\nversion='1'\n",
        "api/uv.lock": "version = 1\n",
        "api/src/uv_docker_example/__init__.py": "",
    }, select=LAYER_RULES)
    loud = [f for f in result.findings if f.rule in LAYER_RULES and f.severity >= Severity.WARNING]
    assert not loud, [f"{f.span}: {f.rule} {f.message}" for f in loud]
