"""Edge cases of the nginx-in-compose rules (DA401–DA405) and the single-file nginx rules
(DA410–DA412) beyond the catalog examples."""

from __future__ import annotations

import pytest

from dockaudit.findings import Severity
from dockaudit.link.containers import command_ports, nginx_flavor


def hits(result, rule_id):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


NGINX_CONF = """\
events {}
http {
    upstream backend {
        server 127.0.0.1:3000;
    }
    server {
        listen 80;
        location / { proxy_pass http://backend; }
    }
}
"""


def project(nginx_service: str, conf: str = NGINX_CONF, app: str | None = None,
            **extra: str) -> dict[str, str]:
    app = app if app is not None else "  app:\n    image: ghcr.io/example/app:1.0\n    expose: [\"3000\"]\n"
    files = {
        "compose.yaml": "services:\n" + app + nginx_service,
        "nginx.conf": conf,
    }
    files.update(extra)
    return files


PLAIN = """\
  nginx:
    image: nginx:1.27.3-alpine
    volumes:
      - ./nginx.conf:/etc/nginx/nginx.conf:ro
"""


# --- DA401 -------------------------------------------------------------------------------------


def test_da401_names_the_service_and_its_expose_line(scan):
    found = hits(scan(project(PLAIN), select=("DA401",)), "DA401")
    assert len(found) == 1
    finding = found[0]
    assert (finding.span.path, finding.span.line) == ("nginx.conf", 4)
    assert "app:3000" in finding.message
    assert finding.related[0].span.path == "compose.yaml" and finding.related[0].span.line == 4
    assert any("mounted" in r.message for r in finding.related)


@pytest.mark.parametrize("address", ["localhost:3000", "0.0.0.0:3000", "[::1]:3000", "127.0.0.2:3000"])
def test_da401_every_loopback_form(scan, address):
    conf = NGINX_CONF.replace("127.0.0.1:3000", address)
    assert len(hits(scan(project(PLAIN, conf), select=("DA401",)), "DA401")) == 1


def test_da401_without_a_matching_service_suggests_host_gateway(scan):
    conf = NGINX_CONF.replace("127.0.0.1:3000", "127.0.0.1:9999")
    found = hits(scan(project(PLAIN, conf), select=("DA401",)), "DA401")
    assert len(found) == 1 and "host.docker.internal" in found[0].message


def test_da401_quiet_when_nginx_itself_listens_there(scan):
    conf = NGINX_CONF.replace("listen 80;", "listen 80;\n    }\n    server {\n        listen 127.0.0.1:3000;")
    assert not hits(scan(project(PLAIN, conf), select=("DA401",)), "DA401")


def test_da401_quiet_with_network_mode_service(scan):
    service = PLAIN + "    network_mode: service:app\n"
    assert not hits(scan(project(service), select=("DA401",)), "DA401")


def test_da401_quiet_with_a_custom_start_script(scan):
    service = PLAIN + "    command: /app/start.sh\n"
    assert not hits(scan(project(service), select=("DA401",)), "DA401")


def test_da401_fires_with_an_explicit_nginx_command(scan):
    service = PLAIN + "    command: [\"nginx\", \"-g\", \"daemon off;\"]\n"
    assert hits(scan(project(service), select=("DA401",)), "DA401")


def test_da401_quiet_when_a_shell_starts_the_app_too(scan):
    service = PLAIN + "    command: sh -c \"node server.js & nginx -g 'daemon off;'\"\n"
    assert not hits(scan(project(service), select=("DA401",)), "DA401")


def test_da401_third_party_nginx_images_are_not_judged(scan):
    service = PLAIN.replace("nginx:1.27.3-alpine", "ghcr.io/mailcow/nginx:1.30")
    assert not hits(scan(project(service), select=("DA401",)), "DA401")


def test_da401_openresty_conf_d(scan):
    service = """\
  gw:
    image: openresty/openresty:1.25.3.2-alpine
    volumes:
      - ./site.conf:/etc/nginx/conf.d/default.conf:ro
"""
    site = "server { listen 80; location / { proxy_pass http://localhost:3000; } }\n"
    files = project(service, **{"site.conf": site})
    found = hits(scan(files, select=("DA401",)), "DA401")
    assert [f.span.path for f in found] == ["site.conf"]


def test_da401_config_used_by_two_services_is_reported_once(scan):
    service = PLAIN + PLAIN.replace("  nginx:", "  nginx2:")
    assert len(hits(scan(project(service), select=("DA401",)), "DA401")) == 1


# --- DA402 -------------------------------------------------------------------------------------


def conf_with(*locations: str) -> str:
    body = "\n".join(f"        location /{i} {{ {loc} }}" for i, loc in enumerate(locations))
    return "events {}\nhttp {\n    server {\n        listen 80;\n" + body + "\n    }\n}\n"


def test_da402_known_names(scan):
    app = """\
  app:
    image: ghcr.io/example/app:1.0
    container_name: app-main
    hostname: apphost
    links: ["db:database"]
  db:
    image: postgres:16.6
"""
    service = PLAIN + "    extra_hosts:\n      metrics: 10.0.0.5\n"
    conf = conf_with("proxy_pass http://app-main:3000;", "proxy_pass http://apphost:3000;",
                     "proxy_pass http://database:5432;", "proxy_pass http://metrics:9100;",
                     "proxy_pass http://$upstream_host;", "proxy_pass https://api.example.com;",
                     "proxy_pass http://10.1.2.3:80;", "fastcgi_pass unix:/run/php.sock;",
                     "proxy_pass http://${BACKEND}:8000;")
    assert not hits(scan(project(service, conf, app=app), select=("DA402",)), "DA402")


def test_da402_suggests_the_close_service(scan):
    conf = conf_with("proxy_pass http://ap:3000;")
    found = hits(scan(project(PLAIN, conf), select=("DA402",)), "DA402")
    assert len(found) == 1
    assert "'ap'" in found[0].message and "did you mean 'app'" in found[0].message


def test_da402_network_mode_host_is_not_judged(scan):
    conf = conf_with("proxy_pass http://backend-host:3000;")
    service = PLAIN + "    network_mode: host\n"
    assert not hits(scan(project(service, conf), select=("DA402",)), "DA402")


# --- DA403 -------------------------------------------------------------------------------------


def test_da403_published_port_message_and_related(scan):
    app = "  app:\n    image: ghcr.io/example/app:1.0\n    ports:\n      - \"127.0.0.1:8080:3000\"\n"
    conf = conf_with("proxy_pass http://app:8080;")
    found = hits(scan(project(PLAIN, conf, app=app), select=("DA403",)), "DA403")
    assert len(found) == 1
    assert "app:3000" in found[0].message
    assert found[0].related[0].span.line == 5


def test_da403_unreadable_expose_is_not_judged(scan):
    app = "  app:\n    build: .\n"
    conf = conf_with("proxy_pass http://app:5000;")
    dockerfile = "FROM python:3.12-slim\nEXPOSE $PORT\nCMD [\"python\", \"app.py\"]\n"
    files = project(PLAIN, conf, app=app, Dockerfile=dockerfile)
    assert not hits(scan(files, select=("DA403",)), "DA403")


def test_da403_gunicorn_config_file_hides_the_port(scan):
    app = "  app:\n    build: .\n    command: gunicorn -c gunicorn.conf.py app:app\n"
    conf = conf_with("proxy_pass http://app:5000;")
    files = project(PLAIN, conf, app=app, Dockerfile="FROM python:3.12-slim\nCMD [\"python\", \"app.py\"]\n")
    assert not hits(scan(files, select=("DA403",)), "DA403")


def test_da403_port_from_command_flag(scan):
    app = "  app:\n    build: .\n    command: [\"uvicorn\", \"main:app\", \"--port\", \"8001\"]\n"
    conf = conf_with("proxy_pass http://app:8000;")
    files = project(PLAIN, conf, app=app, Dockerfile="FROM python:3.12-slim\nCMD [\"python\", \"app.py\"]\n")
    found = hits(scan(files, select=("DA403",)), "DA403")
    assert len(found) == 1 and "8001" in found[0].message and found[0].severity == Severity.WARNING


def test_da403_grpc_and_upstream_names_resolve(scan):
    app = "  api:\n    build: .\n"
    conf = ("events {}\nhttp {\n    upstream grpcs { server api:50051; }\n    server {\n"
            "        listen 80 http2;\n"
            "        location / { grpc_pass grpc://grpcs; }\n    }\n}\n")
    files = project(PLAIN, conf, app=app, Dockerfile="FROM python:3.12-slim\nEXPOSE 50051\n")
    assert not hits(scan(files, select=("DA403",)), "DA403")


@pytest.mark.parametrize(("words", "expected"), [
    (["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"], ([8000], True, False)),
    (["gunicorn", "-b", "0.0.0.0:5000", "wsgi:app"], ([5000], True, False)),
    (["uvicorn", "app:app"], ([8000], False, False)),
    (["sh", "-c", "mkdir -p /data && exec uvicorn app:app --port $PORT"], ([8000], False, True)),
    (["python", "manage.py", "runserver", "0.0.0.0:8001"], ([8001], True, False)),
    (["npm", "run", "start"], ([], False, False)),
])
def test_command_ports(words, expected):
    assert command_ports(words) == expected


@pytest.mark.parametrize(("image", "flavor"), [
    ("nginx", "official"), ("nginx:1.27-alpine", "official"), ("docker.io/library/nginx:stable", "official"),
    ("nginxinc/nginx-unprivileged:1.27", "official"), ("public.ecr.aws/nginx/nginx:1.27", "official"),
    ("openresty/openresty:alpine", "openresty"), ("bitnami/nginx:1.27", "bitnami"),
    ("ghcr.io/mailcow/nginx:1.0", None), ("jwilder/nginx-proxy", None), ("nginx:${TAG}", None),
])
def test_nginx_flavor(image, flavor):
    found = nginx_flavor(image)
    assert (found.name if found else None) == flavor


# --- DA404 -------------------------------------------------------------------------------------


def test_da404_folder_with_plain_confs_and_templates_is_quiet(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.27.3\n    volumes:\n"
                        "      - ./conf:/etc/nginx/conf.d:ro\n",
        "conf/default.conf": "server { listen 80; }\n",
        "conf/old.conf.template": "server { listen ${PORT}; }\n",
    }
    assert not hits(scan(files, select=("DA404",)), "DA404")


def test_da404_folder_of_templates_mounted_into_conf_d(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.27.3\n    volumes:\n"
                        "      - ./templates:/etc/nginx/conf.d:ro\n",
        "templates/default.conf.template": "server { listen 80; server_name ${DOMAIN}; }\n",
    }
    found = hits(scan(files, select=("DA404",)), "DA404")
    assert [(f.span.path, f.span.line) for f in found] == [("compose.yaml", 5)]


def test_da404_template_copied_into_conf_d_by_the_dockerfile(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    build: ./web\n",
        "web/Dockerfile": "FROM nginx:1.27.3-alpine\nCOPY site.conf.template /etc/nginx/conf.d/\n",
        "web/site.conf.template": "server { listen 80; server_name ${DOMAIN}; }\n",
    }
    found = hits(scan(files, select=("DA404",)), "DA404")
    assert [(f.span.path, f.span.line) for f in found] == [("web/Dockerfile", 2)]


def test_da404_envsubst_at_build_time_is_quiet(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    build: ./web\n",
        "web/Dockerfile": "FROM nginx:1.27.3-alpine\nARG DOMAIN=example.com\nCOPY site.conf.template /tmp/\n"
                          "RUN envsubst < /tmp/site.conf.template > /etc/nginx/conf.d/site.conf\n",
        "web/site.conf.template": "server { listen 80; server_name ${DOMAIN}; }\n",
    }
    assert not hits(scan(files, select=("DA404",)), "DA404")


def test_da404_custom_template_dir(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.27.3\n    environment:\n"
                        "      NGINX_ENVSUBST_TEMPLATE_DIR: /templates\n      DOMAIN: x\n    volumes:\n"
                        "      - ./t:/templates:ro\n",
        "t/default.conf.template": "server { listen 80; server_name ${DOMAIN}; }\n",
    }
    assert not hits(scan(files, select=("DA404", "DA301")), "DA404")


def test_da404_ignores_lua_blocks_and_set_variables(scan):
    files = {
        "compose.yaml": "services:\n  gw:\n    image: openresty/openresty:1.25.3.2-alpine\n    volumes:\n"
                        "      - ./site.conf:/etc/nginx/conf.d/site.conf:ro\n",
        "site.conf": """\
server {
    listen 80;
    set $UPSTREAM_URL http://api:8000;
    location / {
        content_by_lua_block { ngx.say("${NOT_AN_NGINX_VAR}") }
    }
    location /p { proxy_pass ${UPSTREAM_URL}; }
}
""",
    }
    assert not hits(scan(files, select=("DA404",)), "DA404")


# --- DA405 -------------------------------------------------------------------------------------


def test_da405_related_points_at_the_mount(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.27.3\n    volumes:\n"
                        "      - ./nginx:/etc/nginx/conf.d:ro\n",
        "nginx/site.conf": "server {\n    listen 80;\n    include /etc/nginx/conf.d/snippets/gzip.conf;\n}\n",
    }
    found = hits(scan(files, select=("DA405",)), "DA405")
    assert len(found) == 1 and found[0].span.line == 3
    assert found[0].related[0].span.path == "compose.yaml"
    assert "nginx/snippets/gzip.conf" in found[0].message


# --- DA410–DA412 -------------------------------------------------------------------------------


def test_da410_resolver_in_a_sibling_server_does_not_count(scan):
    files = {"nginx.conf": """\
events {}
http {
    server { listen 81; resolver 127.0.0.11; }
    server {
        listen 80;
        location / { proxy_pass http://$http_host$request_uri; }
    }
}
"""}
    found = hits(scan(files, select=("DA410",)), "DA410")
    assert [f.span.line for f in found] == [6]


def test_da410_snippets_without_http_are_not_judged(scan):
    files = {"site.conf": "server { location / { proxy_pass http://$backend; } }\n"}
    assert not hits(scan(files, select=("DA410",)), "DA410")


def test_da411_note_for_non_security_headers(scan):
    files = {"site.conf": """\
server {
    add_header X-Served-By edge;
    location / {
        add_header Cache-Control no-store;
    }
}
"""}
    found = hits(scan(files, select=("DA411",)), "DA411")
    assert len(found) == 1 and found[0].severity == Severity.NOTE


def test_da411_follows_includes_of_a_compose_service(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.27.3\n    volumes:\n"
                        "      - ./nginx.conf:/etc/nginx/nginx.conf:ro\n      - "
                        "./conf.d:/etc/nginx/conf.d:ro\n",
        "nginx.conf": "events {}\nhttp {\n    add_header Strict-Transport-Security max-age=63072000;\n"
                      "    include /etc/nginx/conf.d/*.conf;\n}\n",
        "conf.d/site.conf": "server {\n    listen 80;\n    add_header X-Extra 1;\n}\n",
    }
    found = hits(scan(files, select=("DA411",)), "DA411")
    assert [(f.span.path, f.span.line, f.severity) for f in found] == [
        ("conf.d/site.conf", 3, Severity.WARNING)]


def test_da412_root_and_exact_locations_are_fine(scan):
    files = {"site.conf": "server {\n    location = /robots.txt { alias /srv/robots.txt; }\n"
                          "    location /img { root /srv; }\n"
                          "    location /files/ { alias /srv/files/; }\n}\n"}
    assert not hits(scan(files, select=("DA412",)), "DA412")


def test_da403_port_from_the_env_file(scan):
    app = "  app:\n    build: .\n    env_file: app.env\n"
    conf = conf_with("proxy_pass http://app:4000;")
    dockerfile = "FROM node:20-alpine\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n"
    files = project(PLAIN, conf, app=app, Dockerfile=dockerfile, **{"app.env.example": "PORT=4000\n"})
    assert not hits(scan(files, select=("DA403",)), "DA403")


def test_da410_upstream_in_a_sibling_conf_d_file(scan):
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.27.3\n    volumes:\n"
                        "      - ./conf.d:/etc/nginx/conf.d:ro\n",
        "conf.d/a-upstreams.conf": "upstream pool { server api:8000; }\n",
        "conf.d/b-site.conf": "server {\n    set $target pool;\n"
                              "    location / { proxy_pass http://$target; }\n}\n",
    }
    assert not hits(scan(files, select=("DA410",)), "DA410")
