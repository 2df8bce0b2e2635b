"""Edge cases of the build/run rules DA501–DA506 beyond their catalog examples."""

from __future__ import annotations

import json

from dockaudit.findings import Severity

ALL = ("DA501", "DA502", "DA503", "DA504", "DA505", "DA506")


def hits(result, rule_id: str):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


def lines(findings) -> list[tuple[str, int, str]]:
    return [(f.span.path, f.span.line, f.severity.label) for f in findings]


NODE_DOCKERFILE = """\
FROM node:20.18-bookworm-slim AS deps
WORKDIR /app
COPY package*.json ./
RUN npm ci --omit=dev

FROM deps AS build
RUN npm ci
COPY . .
RUN npx prisma generate && npm run build

FROM node:20.18-bookworm-slim AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
CMD ["npm", "start"]
"""

PACKAGE_JSON = json.dumps(
    {
        "name": "shop",
        "scripts": {"start": "node dist/server.js", "build": "tsc"},
        "dependencies": {"@prisma/client": "5.22.0"},
        "devDependencies": {"prisma": "5.22.0", "typescript": "5.6.3"},
    },
    indent=2,
)

SCHEMA = 'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n'


def migrate_compose(target: str, extra: str = "") -> str:
    return (
        "services:\n  migrate:\n    build:\n      context: .\n"
        f'      target: {target}\n    command: ["npx", "prisma", "migrate", "deploy"]\n{extra}'
    )


def node_project(**overrides) -> dict[str, str]:
    files = {
        "Dockerfile": NODE_DOCKERFILE,
        "package.json": PACKAGE_JSON,
        "prisma/schema.prisma": SCHEMA,
        "compose.yaml": migrate_compose("deps"),
    }
    files.update(overrides)
    return {k: v for k, v in files.items() if v is not None}


# --- DA501 / DA502: the review-report case ------------------------------------------------------


def test_wrong_target_reports_cli_and_schema(scan):
    result = scan(node_project(), select=ALL)
    cli, schema = hits(result, "DA501"), hits(result, "DA502")
    assert lines(cli) == [("compose.yaml", 6, "error")]
    assert "devDependency" in cli[0].message and "'build'" in cli[0].message
    related = {(r.span.path, r.span.line) for r in cli[0].related}
    assert ("package.json", 11) in related or any(p == "package.json" for p, _ in related)
    assert ("Dockerfile", 4) in related
    assert lines(schema) == [("compose.yaml", 6, "error")]
    assert "prisma/schema.prisma" in schema[0].message
    assert any(r.span.path == "prisma/schema.prisma" for r in schema[0].related)


def test_full_install_stage_is_fine(scan):
    result = scan(node_project(**{"compose.yaml": migrate_compose("build")}), select=ALL)
    assert not hits(result, "DA501") and not hits(result, "DA502")


def test_missing_target_is_left_to_da202(scan):
    result = scan(node_project(**{"compose.yaml": migrate_compose("migrator")}), select=(*ALL, "DA202"))
    assert hits(result, "DA202")
    assert not [f for f in result.findings if f.rule in ALL]


def test_node_env_production_omits_dev_dependencies(scan):
    dockerfile = NODE_DOCKERFILE.replace("RUN npm ci --omit=dev", "ENV NODE_ENV=production\nRUN npm ci")
    result = scan(node_project(Dockerfile=dockerfile), select=("DA501",))
    assert lines(hits(result, "DA501")) == [("compose.yaml", 6, "error")]


def test_lock_file_decides(scan):
    lock = {
        "name": "shop",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "shop"},
            "node_modules/@prisma/client": {"version": "5.22.0"},
            "node_modules/prisma": {"version": "5.22.0", "dev": True, "bin": {"prisma": "build/index.js"}},
        },
    }
    result = scan(node_project(**{"package-lock.json": json.dumps(lock)}), select=("DA501",))
    assert lines(hits(result, "DA501")) == [("compose.yaml", 6, "error")]
    lock["packages"]["node_modules/prisma"].pop("dev")  # a production dependency of something
    result = scan(node_project(**{"package-lock.json": json.dumps(lock)}), select=("DA501",))
    assert not hits(result, "DA501")


def test_undeclared_cli_without_lock_is_a_warning(scan):
    package = json.dumps({"name": "shop", "dependencies": {"express": "4.21.1"}})
    result = scan(node_project(**{"package.json": package}), select=("DA501",))
    assert lines(hits(result, "DA501")) == [("compose.yaml", 6, "warning")]


def test_workspaces_keep_quiet(scan):
    package = json.dumps({"name": "mono", "workspaces": ["packages/*"], "dependencies": {}})
    result = scan(node_project(**{"package.json": package}), select=("DA501",))
    assert not hits(result, "DA501")


def test_bind_mounted_project_keeps_quiet(scan):
    compose = migrate_compose("deps", "    volumes:\n      - .:/app\n")
    result = scan(node_project(**{"compose.yaml": compose}), select=("DA501", "DA502"))
    assert not hits(result, "DA501") and not hits(result, "DA502")


def test_image_built_by_another_service(scan):
    compose = (
        "services:\n  app:\n    image: shop:1.0\n    build:\n      context: .\n      target: runtime\n"
        "  migrate:\n    image: shop:1.0\n    command: npx prisma migrate deploy\n"
    )
    result = scan(node_project(**{"compose.yaml": compose}), select=("DA501", "DA502"))
    found = hits(result, "DA501")
    assert lines(found) == [("compose.yaml", 9, "error")]
    assert "built by service 'app'" in found[0].message
    assert lines(hits(result, "DA502")) == [("compose.yaml", 9, "error")]


# --- DA501: Python ---------------------------------------------------------------------------


UV_DOCKERFILE = """\
FROM python:3.12.8-slim-bookworm
COPY --from=ghcr.io/astral-sh/uv:0.5.11 /uv /uvx /bin/
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app/ ./app/
ENV PATH="/app/.venv/bin:$PATH"
CMD ["gunicorn", "app.main:app"]
"""

UV_LOCK = """\
version = 1
requires-python = ">=3.12"

[[package]]
name = "api"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "fastapi" }, { name = "uvicorn" }]

[[package]]
name = "fastapi"
version = "0.115.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "uvicorn"
version = "0.32.1"
source = { registry = "https://pypi.org/simple" }
"""

PYPROJECT = '[project]\nname = "api"\nversion = "0.1.0"\ndependencies = ["fastapi", "uvicorn"]\n'


def test_uv_lock_proves_a_console_script_missing(scan):
    files = {
        "Dockerfile": UV_DOCKERFILE,
        "uv.lock": UV_LOCK,
        "pyproject.toml": PYPROJECT,
        "app/main.py": "app = None\n",
    }
    result = scan(files, select=("DA501",))
    found = hits(result, "DA501")
    assert lines(found) == [("Dockerfile", 8, "error")]
    assert "gunicorn" in found[0].message
    files["Dockerfile"] = UV_DOCKERFILE.replace('"gunicorn"', '"uvicorn"')
    assert not hits(scan(files, select=("DA501",)), "DA501")


def test_requirements_without_lock_only_warn(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.12.8-slim-bookworm\nWORKDIR /app\nCOPY requirements.txt .\n"
            'RUN pip install -r requirements.txt\nCOPY . .\nCMD ["uvicorn", "main:app"]\n'
        ),
        "requirements.txt": "fastapi[standard]==0.115.6\n",
        "main.py": "app = None\n",
    }
    assert lines(hits(scan(files, select=("DA501",)), "DA501")) == [("Dockerfile", 6, "warning")]
    files["requirements.txt"] = (
        "# This file is autogenerated by pip-compile with Python 3.12\n"
        "fastapi==0.115.6\n    # via -r requirements.in\n"
    )
    assert lines(hits(scan(files, select=("DA501",)), "DA501")) == [("Dockerfile", 6, "error")]


def test_python_m_needs_the_distribution(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.11-alpine3.20\nWORKDIR /srv\nCOPY . .\n"
            'CMD ["python", "-m", "celery", "-A", "tasks", "worker"]\n'
        ),
        "tasks.py": "app = None\n",
    }
    found = hits(scan(files, select=("DA501",)), "DA501")
    assert lines(found) == [("Dockerfile", 4, "error")]
    assert "celery" in found[0].message


def test_opaque_installs_keep_quiet(scan):
    base = 'FROM python:3.12.8-slim-bookworm\nWORKDIR /app\nCOPY . .\n{run}\nCMD ["uvicorn", "main:app"]\n'
    for run in (
        "RUN curl -LsSf https://example.com/install.sh | sh",
        "RUN pip install $EXTRA_PACKAGES",
        "RUN ./scripts/install-deps.sh",
        "RUN conda install -y uvicorn",
    ):
        files = {
            "Dockerfile": base.format(run=run),
            "main.py": "app = None\n",
            "scripts/install-deps.sh": "true\n",
        }
        assert not hits(scan(files, select=("DA501",)), "DA501"), run


def test_runtime_install_in_a_shell_command_keeps_quiet(scan):
    files = {
        "compose.yaml": (
            "services:\n  api:\n    image: demo:1\n    build: .\n"
            '    command: sh -c "pip install uvicorn && uvicorn main:app"\n'
        ),
        "Dockerfile": "FROM python:3.12.8-slim-bookworm\nWORKDIR /app\nCOPY . .\n",
        "main.py": "app = None\n",
    }
    assert not hits(scan(files, select=("DA501",)), "DA501")


def test_entrypoint_script_that_execs_its_arguments(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.12.8-slim-bookworm\nWORKDIR /app\nCOPY docker-entrypoint.sh /usr/local/bin/\n"
            'COPY . .\nENTRYPOINT ["docker-entrypoint.sh"]\nCMD ["gunicorn", "main:app"]\n'
        ),
        "docker-entrypoint.sh": '#!/bin/sh\nset -e\nexec "$@"\n',
        "main.py": "app = None\n",
    }
    found = hits(scan(files, select=("DA501",)), "DA501")
    assert lines(found) == [("Dockerfile", 6, "warning")]
    files["docker-entrypoint.sh"] = "#!/bin/sh\nexec python -m myserver\n"
    assert not hits(scan(files, select=("DA501",)), "DA501")


def test_script_left_out_of_the_image(scan):
    files = {
        "Dockerfile": (
            "FROM node:20.18-alpine3.20\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\n"
            'COPY src/ ./src/\nENTRYPOINT ["./docker/entrypoint.sh"]\n'
        ),
        "package.json": '{"name": "x"}\n',
        "docker/entrypoint.sh": "#!/bin/sh\nexec node src/index.js\n",
        "src/index.js": "\n",
    }
    found = hits(scan(files, select=("DA501",)), "DA501")
    assert lines(found) == [("Dockerfile", 6, "error")]


# --- DA502 -----------------------------------------------------------------------------------


def test_npm_script_missing_from_package_json(scan):
    files = {
        "Dockerfile": (
            "FROM node:20.18-alpine3.20\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\n"
            'COPY . .\nCMD ["npm", "run", "serve"]\n'
        ),
        "package.json": json.dumps({"name": "x", "scripts": {"start": "node index.js"}}),
        "index.js": "\n",
    }
    found = hits(scan(files, select=("DA502",)), "DA502")
    assert lines(found) == [("Dockerfile", 6, "error")]
    assert "'serve'" in found[0].message and "start" in found[0].message


def test_module_under_another_folder(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.12.8-slim-bookworm\nWORKDIR /srv\nCOPY requirements.txt .\n"
            "RUN pip install -r requirements.txt\nCOPY backend/ ./backend/\n"
            'CMD ["uvicorn", "main:app"]\n'
        ),
        "requirements.txt": "uvicorn==0.32.1\n",
        "backend/main.py": "app = None\n",
    }
    found = hits(scan(files, select=("DA502",)), "DA502")
    assert lines(found) == [("Dockerfile", 6, "error")]
    files["Dockerfile"] = files["Dockerfile"].replace('"main:app"', '"main:app", "--app-dir", "backend"')
    assert not hits(scan(files, select=("DA502",)), "DA502")


def test_generated_files_are_not_judged(scan):
    files = {
        "Dockerfile": (
            "FROM node:20.18-alpine3.20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\n"
            'CMD ["node", "dist/server.js"]\n'
        ),
        "package.json": '{"name": "x"}\n',
        "src/server.ts": "\n",
    }
    assert not hits(scan(files, select=("DA502",)), "DA502")


# --- DA503 -----------------------------------------------------------------------------------


def test_compose_healthcheck_replaces_the_image_one(scan):
    files = {
        "compose.yaml": (
            "services:\n  api:\n    build: .\n    healthcheck:\n"
            '      test: ["CMD-SHELL", "python -c \'print(1)\'"]\n'
        ),
        "Dockerfile": (
            "FROM python:3.12.8-slim-bookworm\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\n"
            'CMD ["python", "-m", "http.server"]\n'
        ),
    }
    assert not hits(scan(files, select=("DA503",)), "DA503")
    files["compose.yaml"] = "services:\n  api:\n    build: .\n"
    assert lines(hits(scan(files, select=("DA503",)), "DA503")) == [("Dockerfile", 2, "error")]


def test_inherited_healthcheck_and_fix_suggestion(scan):
    files = {
        "Dockerfile": (
            "FROM node:20.18-bookworm-slim AS base\nHEALTHCHECK CMD wget -qO- http://127.0.0.1:3000/\n"
            'FROM base AS runtime\nCMD ["node", "server.js"]\n'
        )
    }
    found = hits(scan(files, select=("DA503",)), "DA503")
    assert lines(found) == [("Dockerfile", 2, "error")]
    assert "node -e" in (found[0].fix or "")


def test_registry_images_unknown_to_dockaudit_are_quiet(scan):
    files = {
        "compose.yaml": (
            "services:\n  db:\n    image: postgres:16.6-bookworm\n    healthcheck:\n"
            '      test: ["CMD-SHELL", "pg_isready -U app"]\n'
            "  cache:\n    image: redis:7.4-alpine\n    healthcheck:\n"
            '      test: ["CMD", "redis-cli", "ping"]\n'
        )
    }
    assert not hits(scan(files, select=("DA503",)), "DA503")


# --- DA504 -----------------------------------------------------------------------------------


def test_different_args_under_one_tag(scan):
    files = {
        "compose.yaml": (
            "services:\n  cpu:\n    image: tts:1\n    build:\n      context: .\n"
            "      args:\n        DEVICE: cpu\n  gpu:\n    image: tts:1\n    build:\n"
            "      context: .\n      args:\n        DEVICE: cuda\n"
        ),
        "Dockerfile": "FROM python:3.12.8-slim-bookworm\nARG DEVICE\nRUN echo $DEVICE\n",
    }
    found = hits(scan(files, select=("DA504",)), "DA504")
    assert lines(found) == [("compose.yaml", 9, "error")]
    assert "DEVICE" in found[0].message and found[0].related[0].span.line == 3


# --- DA505 / DA506 ---------------------------------------------------------------------------


def test_predefined_args_are_accepted(scan):
    files = {
        "compose.yaml": (
            "services:\n  api:\n    build:\n      context: .\n      args:\n"
            '        BUILDKIT_INLINE_CACHE: "1"\n        http_proxy: http://proxy:3128\n'
            "        TARGETARCH: amd64\n"
        ),
        "Dockerfile": "FROM python:3.12.8-slim-bookworm\n",
    }
    assert not hits(scan(files, select=("DA505",)), "DA505")


def test_env_and_standalone_dockerfiles_are_not_reported(scan):
    files = {
        "compose.yaml": "services:\n  api:\n    build: .\n",
        "Dockerfile": "FROM python:3.12.8-slim-bookworm\nARG VERSION\nENV VERSION=${VERSION}\n"
        'RUN echo "$VERSION" > /version\n',
        "tools/Dockerfile": 'FROM alpine:3.20\nARG TOKEN\nRUN wget --header "X: $TOKEN" http://x/\n',
    }
    assert not hits(scan(files, select=("DA506",)), "DA506")


def test_arg_passed_by_list_syntax(scan):
    files = {
        "compose.yaml": "services:\n  api:\n    build:\n      context: .\n      args:\n        - VERSION\n",
        "Dockerfile": "FROM python:3.12.8-slim-bookworm\nARG VERSION\nRUN pip install app==$VERSION\n",
    }
    result = scan(files, select=("DA505", "DA506"))
    assert not hits(result, "DA505") and not hits(result, "DA506")


def test_parse_errors_keep_the_rules_quiet(scan):
    files = {
        "compose.yaml": 'services:\n  api:\n    build: .\n    command: ["uvicorn", "main:app"]\n',
        "Dockerfile": "FROM python:3.12.8-slim-bookworm\nRUNN pip install x\n",
    }
    result = scan(files, select=ALL)
    assert not [f for f in result.findings if f.rule in ALL]


def test_good_fixtures_are_quiet(scan):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "fixtures"
    for name in ("uv-api-good", "gpu-tts-good"):
        files = {
            str(p.relative_to(root / name)): p.read_text(encoding="utf-8")
            for p in (root / name).rglob("*")
            if p.is_file()
        }
        result = scan(files, select=ALL)
        noisy = [f for f in result.findings if f.rule in ALL and f.severity >= Severity.WARNING]
        assert not noisy, [(f.rule, str(f.span), f.message) for f in noisy]


def test_guard_written_as_x_prefix_is_optional(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    build: .\n",
        "Dockerfile": (
            "FROM node:20.18-alpine3.20\nARG skip_build\n"
            'RUN if [ "x$skip_build" = "x" ]; then echo build; fi\n'
        ),
    }
    assert not hits(scan(files, select=("DA506",)), "DA506")


def test_packages_installed_by_a_script_in_the_copied_stage(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.12.8-slim-bookworm AS build\nCOPY bin/ /app/bin/\n"
            "RUN bin/uv-install\n\n"
            "FROM python:3.12.8-slim-bookworm AS app\n"
            "COPY --from=build /home/python/.local /home/python/.local\n"
            'CMD ["celery", "-A", "config", "worker"]\n'
        ),
        "bin/uv-install": "#!/bin/sh\nuv sync\n",
    }
    assert not hits(scan(files, select=("DA501",)), "DA501")


def test_dockerfile_in_a_subfolder_with_only_copy_dot_has_no_known_context(scan):
    files = {
        "docker/Dockerfile": (
            'FROM python:3.12.8-slim-bookworm\nWORKDIR /app\nCOPY . .\nCMD ["./scripts/start.sh"]\n'
        ),
        "scripts/start.sh": "#!/bin/sh\nexec python -m app\n",
    }
    assert not hits(scan(files, select=("DA501",)), "DA501")


def test_npx_yes_is_a_warning(scan):
    compose = (
        "services:\n  migrate:\n    build:\n      context: .\n      target: deps\n"
        '    command: ["npx", "--yes", "prisma", "migrate", "deploy"]\n'
    )
    found = hits(scan(node_project(**{"compose.yaml": compose}), select=("DA501",)), "DA501")
    assert lines(found) == [("compose.yaml", 6, "warning")]
