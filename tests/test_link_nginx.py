"""nginx include resolution through container mounts: globs, templates, cycles, and no escapes."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from dockaudit.link.nginx import _glob_regex, resolve_includes
from dockaudit.project import Project
from tests.conftest import write_tree

MOUNTS = {
    "/etc/nginx/nginx.conf": "nginx/nginx.conf",
    "/etc/nginx/conf.d": "nginx/conf.d",
    "/etc/nginx/snippets": "nginx/snippets",
    "/etc/nginx/templates": "nginx/templates",
}


def make(tmp_path: Path, files: dict[str, str]) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    write_tree(root, files)
    return Project(root)


def test_main_config_with_conf_d_glob_and_snippets(tmp_path):
    project = make(tmp_path, {
        "nginx/nginx.conf": "events {}\nhttp {\n    include mime.types;\n    include conf.d/*.conf;\n}\n",
        "nginx/conf.d/b.conf": "server { listen 81; include /etc/nginx/snippets/proxy.conf; }\n",
        "nginx/conf.d/a.conf": "server { listen 80; }\n",
        "nginx/conf.d/.hidden.conf": "server { listen 82; }\n",
        "nginx/conf.d/notes.txt": "not nginx",
        "nginx/snippets/proxy.conf": "proxy_set_header Host $host;\n",
    })
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", MOUNTS)
    assert resolved.entry == "nginx/nginx.conf"
    assert resolved.files == ["nginx/nginx.conf", "nginx/conf.d/a.conf", "nginx/conf.d/b.conf",
                              "nginx/snippets/proxy.conf"]
    # glob order is sorted, dot files are not matched by '*'
    glob = next(e for e in resolved.includes if e.container_path == "/etc/nginx/conf.d/*.conf")
    assert glob.targets == ["nginx/conf.d/a.conf", "nginx/conf.d/b.conf"]
    assert not glob.image_may_add
    # mime.types is provided by the image: absent, no finding, recorded as not mounted
    assert [(u.container_path, u.reason) for u in resolved.unresolved] == [
        ("/etc/nginx/mime.types", "not-mounted")]
    assert resolved.cycles == []
    walked = [(d.name, d.file, tuple(p.name for p in parents)) for d, parents in resolved.walk()]
    assert ("listen", "nginx/conf.d/a.conf", ("http", "server")) in walked
    assert ("proxy_set_header", "nginx/snippets/proxy.conf", ("http", "server")) in walked
    # each directive keeps its own file and position
    header = resolved.find("proxy_set_header")[0]
    assert header.file == "nginx/snippets/proxy.conf" and header.span.line == 1
    assert resolved.container_path("nginx/conf.d/a.conf") == "/etc/nginx/conf.d/a.conf"


def test_entry_given_as_repository_path(tmp_path):
    project = make(tmp_path, {
        "deploy/site.conf": "server { include /etc/nginx/snippets/x.conf; }\n",
        "deploy/x.conf": "gzip on;\n",
    })
    resolved = resolve_includes(project, "deploy/site.conf", {"/etc/nginx/snippets/x.conf": "deploy/x.conf"})
    assert resolved.entry == "deploy/site.conf"
    assert [d.name for d, _ in resolved.walk()] == ["server", "include", "gzip"]


def test_missing_file_in_mounted_folder_and_no_match_glob(tmp_path):
    project = make(tmp_path, {
        "nginx/nginx.conf": ("http {\n include /etc/nginx/conf.d/upstreams.conf;\n"
                             " include /etc/nginx/conf.d/*.vhost;\n"
                             " include /etc/nginx/sites-enabled/*;\n}\n"),
        "nginx/conf.d/a.conf": "",
    })
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", MOUNTS)
    reasons = {u.container_path: (u.reason, u.span.line, u.span.column) for u in resolved.unresolved}
    assert reasons == {
        "/etc/nginx/conf.d/upstreams.conf": ("missing", 2, 10),
        "/etc/nginx/conf.d/*.vhost": ("no-match", 3, 10),
        "/etc/nginx/sites-enabled/*": ("not-mounted", 4, 10),
    }


def test_glob_into_partly_mounted_folder_may_read_image_files(tmp_path):
    project = make(tmp_path, {"app.conf": "server { listen 8080; }\n",
                              "main.conf": "http { include /etc/nginx/conf.d/*.conf; }\n"})
    resolved = resolve_includes(project, "main.conf", {"/etc/nginx/conf.d/app.conf": "app.conf"})
    edge = resolved.includes[0]
    assert edge.targets == ["app.conf"] and edge.image_may_add


def test_longer_mount_shadows_folder_mount(tmp_path):
    project = make(tmp_path, {
        "main.conf": "http { include /etc/nginx/conf.d/*.conf; }\n",
        "conf/default.conf": "server { listen 1; }\n",
        "override.conf": "server { listen 2; }\n",
    })
    resolved = resolve_includes(project, "main.conf", {
        "/etc/nginx/conf.d": "conf", "/etc/nginx/conf.d/default.conf": "override.conf"})
    assert resolved.includes[0].targets == ["override.conf"]


def test_templates_render_into_conf_d(tmp_path):
    project = make(tmp_path, {
        "nginx/nginx.conf": "http { include /etc/nginx/conf.d/*.conf; }\n",
        "nginx/templates/default.conf.template": "server { listen ${PORT}; }\n",
        "nginx/templates/sub/api.conf.template": "server { listen 81; }\n",
    })
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", MOUNTS)
    assert resolved.includes[0].targets == ["nginx/templates/default.conf.template"]
    rendered = resolved.container_files["/etc/nginx/conf.d/sub/api.conf"]
    assert rendered == "nginx/templates/sub/api.conf.template"
    config = resolved.configs["nginx/templates/default.conf.template"]
    assert config.is_template and [name for name, _ in config.env_refs] == ["PORT"]


def test_include_cycle_is_reported_and_walk_terminates(tmp_path):
    project = make(tmp_path, {
        "nginx/nginx.conf": "http { include /etc/nginx/snippets/a.conf; }\n",
        "nginx/snippets/a.conf": "gzip on;\ninclude /etc/nginx/snippets/b.conf;\n",
        "nginx/snippets/b.conf": "include snippets/a.conf;\n",
        "nginx/snippets/self.conf": "include snippets/self.conf;\n",
    })
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", MOUNTS)
    assert [(c.chain, c.span.path, c.span.line) for c in resolved.cycles] == [
        (("nginx/snippets/a.conf", "nginx/snippets/b.conf", "nginx/snippets/a.conf"),
         "nginx/snippets/b.conf", 1)]
    walked = list(resolved.walk())
    assert len(walked) < 20
    assert [d.name for d, _ in walked].count("gzip") == 1
    self_loop = resolve_includes(project, "nginx/snippets/self.conf", MOUNTS)
    assert [c.chain for c in self_loop.cycles] == [("nginx/snippets/self.conf", "nginx/snippets/self.conf")]


def test_same_snippet_included_twice_is_walked_in_both_places(tmp_path):
    project = make(tmp_path, {
        "nginx/nginx.conf": ("server {\n location /a { include snippets/p.conf; }\n"
                             " location /b { include snippets/p.conf; }\n}\n"),
        "nginx/snippets/p.conf": "proxy_read_timeout 5s;\n",
    })
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", MOUNTS)
    places = [tuple(p.args[0] for p in parents if p.name == "location")
              for d, parents in resolved.walk() if d.name == "proxy_read_timeout"]
    assert places == [("/a",), ("/b",)]
    assert resolved.files.count("nginx/snippets/p.conf") == 1
    via = [tuple(v.span.line for v in chain) for d, _p, chain in resolved.walk_with_includes()
           if d.name == "proxy_read_timeout"]
    assert via == [(2,), (3,)]


def test_hostile_includes_never_read_outside_the_root(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.conf").write_text("server { listen 6666; }\n")
    project = make(tmp_path, {
        "nginx/nginx.conf": ("http {\n include ../../etc/passwd;\n include /etc/passwd;\n"
                             " include /etc/nginx/conf.d/../../../../outside/secret.conf;\n"
                             " include /etc/nginx/conf.d/*.conf;\n include /etc/nginx/*/../../../*;\n}\n"),
        "nginx/conf.d/ok.conf": "server { listen 80; }\n",
    })
    if hasattr(os, "symlink"):
        os.symlink(outside / "secret.conf", project.root / "nginx/conf.d/evil.conf")
        project = Project(project.root)  # rediscover with the link in place
    root = os.path.realpath(project.root)
    opened: list[str] = []
    real_open = builtins.open
    real_read_bytes = Path.read_bytes

    def spy_open(file, *args, **kwargs):
        is_path = isinstance(file, (str, os.PathLike))
        opened.append(os.path.realpath(os.fspath(file)) if is_path else str(file))
        return real_open(file, *args, **kwargs)

    def spy_read_bytes(self):
        opened.append(os.path.realpath(self))
        return real_read_bytes(self)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(Path, "read_bytes", spy_read_bytes)
    hostile_mounts = {**MOUNTS, "/etc/evil": "../outside", "/etc/passwd": "/etc/passwd"}
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", hostile_mounts)
    monkeypatch.undo()
    assert opened, "the spy saw nothing: the test does not test anything"
    assert all(path == root or path.startswith(root + os.sep) for path in opened), opened
    assert resolved.files == ["nginx/nginx.conf", "nginx/conf.d/ok.conf"]
    assert {u.container_path for u in resolved.unresolved} >= {"/etc/passwd", "/outside/secret.conf"}
    assert all(d.args != ["6666"] for d, _ in resolved.walk())


def test_unknown_entry_gives_empty_result(tmp_path):
    project = make(tmp_path, {"x.conf": "listen 80;"})
    resolved = resolve_includes(project, "/etc/nginx/nginx.conf", {})
    assert resolved.entry is None and resolved.files == [] and list(resolved.walk()) == []


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/a.conf", True),
    ("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/sub/a.conf", False),
    ("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/.a.conf", False),
    ("/etc/nginx/conf.d/.*.conf", "/etc/nginx/conf.d/.a.conf", True),
    ("/etc/nginx/*/*.conf", "/etc/nginx/conf.d/a.conf", True),
    ("/etc/nginx/site?.conf", "/etc/nginx/site1.conf", True),
    ("/etc/nginx/site[0-9].conf", "/etc/nginx/site7.conf", True),
    ("/etc/nginx/site[!0-9].conf", "/etc/nginx/site7.conf", False),
    ("/etc/nginx/site[!0-9].conf", "/etc/nginx/sitex.conf", True),
])
def test_glob_semantics(pattern, path, matches):
    assert bool(_glob_regex(pattern).match(path)) is matches
