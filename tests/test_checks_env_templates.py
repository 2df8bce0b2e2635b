"""Edge cases of the env-file rules (DA301–DA306) beyond the catalog examples."""

from __future__ import annotations

import pytest

from dockaudit.checks.env_templates import is_gitignored, is_secret_key, is_weak, looks_real, mask
from dockaudit.findings import Severity


def hits(result, rule_id):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


# --- DA301 -------------------------------------------------------------------------------------

ACCEPTANCE = {
    "docker-compose.gpu.yml": """\
name: trainer
services:
  app:
    image: ${IMAGE_TAG:-trainer:gpu}
    build: .
    env_file: .env.production
    environment:
      - KOKORO_DEVICE=${KOKORO_DEVICE}
      - KOKORO_TTS_MAX_CONCURRENCY=${KOKORO_TTS_MAX_CONCURRENCY:-4}
""",
    ".env.production.example": "NODE_ENV=production\nJWT_SECRET=\nIMAGE_TAG=trainer:gpu\n",
    "Dockerfile": "FROM node:20.18-alpine\nCMD [\"npm\", \"start\"]\n",
}


def test_da301_names_the_env_file_template_when_there_is_no_dotenv(scan):
    result = scan(ACCEPTANCE, select=("DA301",))
    found = hits(result, "DA301")
    assert len(found) == 1
    finding = found[0]
    assert (finding.span.path, finding.span.line, finding.span.column) == ("docker-compose.gpu.yml", 8, 23)
    assert "KOKORO_DEVICE" in finding.message
    assert ".env.production.example" in finding.message
    assert "--env-file" in finding.message or "--env-file" in (finding.fix or "")
    assert finding.related and finding.related[0].span.path == ".env.production.example"
    assert finding.severity == Severity.ERROR


def test_da301_defined_only_in_env_file_says_compose_does_not_interpolate_from_it(scan):
    files = {
        "compose.yaml": """\
services:
  api:
    image: ghcr.io/example/api:${API_TAG}
    env_file: api.env
""",
        ".env.example": "OTHER=1\n",
        "api.env.example": "API_TAG=1.0.0\n",
    }
    found = hits(scan(files, select=("DA301",)), "DA301")
    assert len(found) == 1
    message = found[0].message
    assert "NOT interpolate from env_file" in message
    assert "api.env.example" in message


def test_da301_environment_shadowing_the_env_file_is_a_warning(scan):
    files = {
        "compose.yaml": """\
services:
  tts:
    image: ghcr.io/example/tts:1.0.0
    env_file: .env.production
    environment:
      TTS_DEVICE: ${TTS_DEVICE}
""",
        ".env.production.example": "TTS_DEVICE=cuda\n",
    }
    found = hits(scan(files, select=("DA301",)), "DA301")
    assert len(found) == 1
    assert found[0].severity == Severity.WARNING
    assert "overrides" in found[0].message


def test_da301_quiet_for_defaults_shell_variables_escapes_and_nested_references(scan):
    files = {
        "compose.yaml": """\
services:
  job:
    image: alpine:3.20
    user: "${UID}:${GID}"
    volumes:
      - ${HOME}/.cache:/cache
    command: ["sh", "-c", "echo $$PATH ${A:-${B}} ${C-x} ${D:+y}"]
    environment:
      COMPOSE_PROJECT_NAME: ${COMPOSE_PROJECT_NAME}
""",
        ".env.example": "X=1\n",
    }
    assert not hits(scan(files, select=("DA301",)), "DA301")


def test_da301_required_modifier_says_compose_refuses_to_start(scan):
    files = {
        "compose.yaml": "services:\n  db:\n    image: postgres:16.6\n    environment:\n"
                        "      POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}\n",
        ".env.example": "POSTGRES_USER=app\n",
    }
    found = hits(scan(files, select=("DA301",)), "DA301")
    assert len(found) == 1 and "refuses to start" in found[0].message


def test_da301_nginx_template_variable_from_env_file_or_dockerfile_env_is_fine(scan):
    files = {
        "compose.yaml": """\
services:
  proxy:
    build: ./proxy
    env_file: proxy.env
    volumes:
      - ./templates:/etc/nginx/templates:ro
""",
        "proxy.env.example": "API_DOMAIN=api.example.com\n",
        "proxy/Dockerfile": "FROM nginx:1.27.3-alpine\nENV UPSTREAM=api:8000\n",
        "templates/default.conf.template": """\
server {
    server_name ${API_DOMAIN};
    location / { proxy_pass http://${UPSTREAM}; proxy_set_header Host ${host}; }
}
""",
    }
    assert not hits(scan(files, select=("DA301",)), "DA301")


def test_da301_nginx_template_variable_missing_points_at_the_template(scan):
    files = {
        "compose.yaml": """\
services:
  proxy:
    image: nginx:1.27.3-alpine
    environment:
      API_DOMAIN: example.com
    volumes:
      - ./templates:/etc/nginx/templates:ro
""",
        "templates/default.conf.template": "server {\n    server_name ${API_DOMAIN};\n"
                                           "    location / { proxy_pass http://${BACKEND}; }\n}\n",
    }
    found = hits(scan(files, select=("DA301",)), "DA301")
    assert [(f.span.path, f.span.line) for f in found] == [("templates/default.conf.template", 3)]
    assert "BACKEND" in found[0].message and "'proxy'" in found[0].message


def test_da301_nginx_template_not_rendered_when_entrypoint_is_replaced(scan):
    files = {
        "compose.yaml": """\
services:
  proxy:
    image: nginx:1.27.3-alpine
    entrypoint: ["nginx", "-g", "daemon off;"]
    volumes:
      - ./templates:/etc/nginx/templates:ro
""",
        "templates/default.conf.template": "server { server_name ${API_DOMAIN}; }\n",
    }
    assert not hits(scan(files, select=("DA301",)), "DA301")


# --- DA302 -------------------------------------------------------------------------------------


def test_da302_quiet_when_the_folder_is_bind_mounted_into_a_service(scan):
    files = {
        ".env.example": "TAG=1\nDEBUG_TOOLBAR=1\n",
        "compose.yaml": "services:\n  web:\n    image: example/web:${TAG:-1}\n    volumes:\n      - .:/app\n",
    }
    assert not hits(scan(files, select=("DA302",)), "DA302")


def test_da302_quiet_when_next_js_loads_dotenv(scan):
    files = {
        ".env.example": "TAG=1\nNEXT_PUBLIC_API=https://api.example.com\n",
        "compose.yaml": "services:\n  web:\n    image: example/web:${TAG:-1}\n",
        "package.json": '{"name": "web", "dependencies": {"next": "15.1.0"}}\n',
    }
    assert not hits(scan(files, select=("DA302",)), "DA302")


def test_da302_quiet_when_no_key_is_used_by_compose(scan):
    files = {
        ".env.example": "APP_SECRET=\nAPP_MODE=prod\n",
        "compose.yaml": "services:\n  web:\n    image: example/web:1.0\n",
    }
    assert not hits(scan(files, select=("DA302",)), "DA302")


def test_da302_reports_each_unused_key_as_a_note(scan):
    files = {
        ".env.example": "TAG=1\nOLD_FLAG=1\nexport RETIRED=2\n",
        "compose.yaml": "services:\n  web:\n    image: example/web:${TAG:-1}\n",
    }
    found = hits(scan(files, select=("DA302",)), "DA302")
    assert [(f.span.line, f.severity) for f in found] == [(2, Severity.NOTE), (3, Severity.NOTE)]


# --- DA303 -------------------------------------------------------------------------------------


def test_da303_quiet_with_an_unconventionally_named_template_beside_it(scan):
    files = {
        "compose.yaml": "services:\n  server:\n    image: example/speech:1.0\n    env_file: speech.env\n",
        "sample.env": "TTS_HOME=voices\n",
    }
    assert not hits(scan(files, select=("DA303",)), "DA303")


def test_da303_quiet_in_example_compose_files_and_for_dash_sample_templates(scan):
    files = {
        "docker-compose.override.example.yml": "services:\n  web:\n    image: example/web:1.0\n"
                                               "    env_file: ./config/local.env\n",
        "docker-compose.yml": "services:\n  web:\n    image: example/web:1.0\n    env_file: .env.prod\n",
        ".env.prod-sample": "SECRET_KEY=\n",
    }
    assert not hits(scan(files, select=("DA303",)), "DA303")


def test_da303_reports_once_per_entry(scan):
    files = {"compose.yaml": "services:\n  a:\n    image: x/a:1\n    env_file: [.env.a, .env.b]\n"}
    found = hits(scan(files, select=("DA303",)), "DA303")
    assert len(found) == 2
    assert all("no template" in f.message for f in found)


# --- DA304 -------------------------------------------------------------------------------------


def test_da304_masks_the_value(scan):
    secret = "Zq8vN2pL5xR7tY3wK9mB4cD6fH1jG0sA"
    files = {"prod.env": f"API_TOKEN={secret}\n"}
    found = hits(scan(files, select=("DA304",)), "DA304")
    assert len(found) == 1
    assert secret not in found[0].message and secret[:8] not in found[0].message
    assert "32 characters" in found[0].message


def test_da304_respects_gitignore_negation_and_folders(scan):
    secret = "Zq8vN2pL5xR7tY3wK9mB4cD6fH1jG0sA"
    files = {
        ".gitignore": "*.env\n!keep.env\n",
        "a.env": f"JWT_SECRET={secret}\n",
        "keep.env": f"JWT_SECRET={secret}\n",
        "deploy/.gitignore": "secrets/\n",
        "deploy/secrets/db.env": f"DB_PASSWORD={secret}\n",
    }
    found = hits(scan(files, select=("DA304",)), "DA304")
    assert [f.span.path for f in found] == ["keep.env"]


def test_da304_test_files_only_report_known_token_formats(scan):
    files = {
        ".env.test": "JWT_SECRET=Zq8vN2pL5xR7tY3wK9mB4cD6\n"
                     'GITHUB_APP_PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA\\n'
                     '-----END RSA '
                     'PRIVATE KEY-----"\n'
                     "AWS_ACCESS_KEY=AKIAIOSFODNN7EXAMPLE\n"
                     "OPENAI_API_KEY=sk-proj-Xk2mP9qL7vR3tY8wZ1aB4cD6eF0gH5jK\n",
    }
    found = hits(scan(files, select=("DA304",)), "DA304")
    assert [f.span.line for f in found] == [4]


def test_da304_compose_list_form_literal_is_a_warning(scan):
    files = {"compose.yaml": "services:\n  bot:\n    image: example/bot:1\n    environment:\n"
                             "      - TELEGRAM_TOKEN=7241:AAHf9xKq2LmN8pR3sT6vW1yZ4bC7dE0gJ\n"
                             "      - SESSION_SECRET=${SESSION_SECRET}\n"}
    found = hits(scan(files, select=("DA304",)), "DA304")
    assert len(found) == 1
    assert found[0].severity == Severity.WARNING and found[0].span.line == 5


@pytest.mark.parametrize(("key", "expected"), [
    ("JWT_SECRET", True), ("DB_PASSWORD", True), ("OPENAI_API_KEY", True), ("GITHUB_TOKEN", True),
    ("SSH_PRIVATE_KEY_B64", True), ("AWS_SECRET_ACCESS_KEY", True), ("POSTGRES_PASSWORD_FILE", False),
    ("TOKEN_EXPIRE_MINUTES", False), ("PWD", False), ("PASSWORD_MIN_LENGTH", False),
    ("SECRET_KEY_PATH", False),
])
def test_is_secret_key(key, expected):
    assert is_secret_key(key) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("", False), ("changeme", False), ("<your key>", False), ("xxxxxxxx", False), ("${JWT_SECRET}", False),
    ("postgres", False), ("your-secret-here-please", False), ("8f3a9c2e71b04d5f9e6a1c3b7d2e8f40", True),
    ("J5brHrAXFLQSif0K", True), ("AKIA2JX7QF4KZP6R3N8T", True), ("AKIAIOSFODNN7EXAMPLE", False),
    ("/run/secrets/db", False),
    ("https://hooks.example.com/abc", False), ("aaaaaaaaaaaaaaaaaaaa", False),
])
def test_looks_real(value, expected):
    assert looks_real(value) is expected


def test_mask_never_shows_short_values():
    assert mask("hunter2hunter2") == "(14 characters)"
    assert mask("8f3a9c2e71b04d5f9e6a1c3b7d2e8f40").startswith("`8f3…`")


# --- DA305 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("changeme", True), ("change_me", True), ("CHANGE-ME-PLEASE", True), ("secret", True), ("123456", True),
    ("admin", True), ("your-jwt-secret", True), ("", False), ("<generate with openssl rand -hex 32>", False),
    ("8f3a9c2e71b04d5f9e6a1c3b7d2e8f40", False),
])
def test_is_weak(value, expected):
    assert is_weak(value) is expected


def test_da305_skips_third_party_tokens(scan):
    files = {".env.sample": "SLACK_VERIFICATION_TOKEN=your_token\nGITHUB_CLIENT_SECRET=changeme\n"
                            "OPENAI_API_KEY=your-key\nSESSION_SECRET=changeme\n"}
    found = hits(scan(files, select=("DA305",)), "DA305")
    assert [f.span.line for f in found] == [4]


# --- DA306 -------------------------------------------------------------------------------------


def test_da306_related_points_at_the_first_definition(scan):
    found = hits(scan({".env.example": "A=1\nB=2\nA=3\nA=4\n"}, select=("DA306",)), "DA306")
    assert [f.span.line for f in found] == [3, 4]
    assert all(f.related[0].span.line == 1 for f in found)


# --- helpers -----------------------------------------------------------------------------------


def test_gitignore_matching(tmp_path):
    from dockaudit.project import Project

    (tmp_path / ".gitignore").write_text("/.env\nbuild/\n**/local/*.env\n# comment\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".env").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "x.env").write_text("A=1\n")
    (tmp_path / "a" / "local").mkdir(parents=True)
    (tmp_path / "a" / "local" / "y.env").write_text("A=1\n")
    project = Project(tmp_path)
    assert is_gitignored(project, ".env")
    assert not is_gitignored(project, "sub/.env")
    assert is_gitignored(project, "build/x.env")
    assert is_gitignored(project, "a/local/y.env")


def test_da301_a_gitignored_local_env_does_not_hide_a_stale_template(scan):
    files = {
        "compose.yaml": "services:\n  api:\n    image: ghcr.io/example/api:${API_TAG}\n",
        ".env": "API_TAG=1.2.3\n",
        ".env.example": "OTHER=\n",
        ".gitignore": ".env\n",
    }
    found = hits(scan(files, select=("DA301",)), "DA301")
    assert len(found) == 1 and ".env.example" in found[0].message


def test_da301_a_committed_env_counts_as_documentation(scan):
    files = {
        "compose.yaml": "services:\n  api:\n    image: ghcr.io/example/api:${API_TAG}\n",
        ".env": "API_TAG=1.2.3\n",
        ".env.example": "OTHER=\n",
    }
    assert not hits(scan(files, select=("DA301",)), "DA301")


def test_da303_portainer_stack_env_is_not_judged(scan):
    files = {"docker-compose.portainer.yml": "services:\n  web:\n    image: example/web:1\n"
                                             "    env_file: stack.env\n"}
    assert not hits(scan(files, select=("DA303",)), "DA303")


@pytest.mark.parametrize("script", [
    ("Makefile", ".env:\n\tprintf 'SECRET=%s\\n' `pwgen 32` >> .env\n"),
    ("setup.sh", "#!/bin/sh\ncp env.dist ./config/app.env\n"),
])
def test_da303_env_file_written_by_a_script_is_not_judged(scan, script):
    files = {"compose.yaml": "services:\n  web:\n    image: example/web:1\n"
                             "    env_file: [.env, config/app.env]\n",
             script[0]: script[1]}
    found = hits(scan(files, select=("DA303",)), "DA303")
    assert len(found) == 1


def test_da303_template_in_a_parent_folder(scan):
    files = {"docker/nvidia/compose.yaml": "services:\n  web:\n    build: .\n    env_file: .env\n",
             "docker/nvidia/Dockerfile": "FROM python:3.12-slim\n",
             "docker/.env.example": "HOST_PORT=7860\n"}
    assert not hits(scan(files, select=("DA303",)), "DA303")
