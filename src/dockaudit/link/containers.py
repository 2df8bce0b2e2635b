"""What a compose service's container holds and serves.

Cross-file rules about nginx and env files need to know, for one compose service:

* which repository files appear at which container paths — bind mounts of the service, and files
  its Dockerfile ``COPY``\\ s into the image (:func:`container_sources`);
* which ports the container listens on, and how sure we are (:func:`service_ports`): compose
  ``ports:`` targets and ``expose:``, ``EXPOSE`` of the Dockerfile it builds, ``--port``-style
  flags and ``PORT`` settings of its command, and the default ports of well-known servers;
* whether it is an nginx container, which image flavour (the official image renders
  ``/etc/nginx/templates/*.template`` with envsubst, OpenResty and Bitnami keep their
  configuration elsewhere), whether nginx is the only thing it runs, and which configurations
  nginx reads there (:func:`nginx_services`, following includes with
  :func:`dockaudit.link.nginx.resolve_includes`).

Everything is computed once per project and cached on it.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.link.services import ServiceBuild, lineage, service_builds, start_command
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.link.nginx import ResolvedConfig
    from dockaudit.parse.compose import Service
    from dockaudit.parse.dockerfile import Instruction
    from dockaudit.project import Project


# --- files in the container ------------------------------------------------------------------


@dataclass
class FileSource:
    """A repository file or folder placed at ``container_path`` (bind mount or ``COPY``)."""

    container_path: str
    host_path: str
    span: Span
    origin: str  # "mount" | "copy"
    read_only: bool = False


#: folders that exist in common base images; ``COPY file /etc/nginx/conf.d`` copies *into* them
_IMAGE_DIRS = frozenset({
    "/", "/etc", "/etc/nginx", "/etc/nginx/conf.d", "/etc/nginx/templates", "/usr/share/nginx/html",
    "/etc/nginx/sites-enabled", "/etc/nginx/sites-available", "/etc/nginx/snippets",
    "/usr/local/openresty/nginx/conf", "/usr/local/bin", "/usr/bin", "/tmp", "/var/www", "/var/www/html",
    "/docker-entrypoint.d", "/etc/supervisor/conf.d",
})


def _copy_args(instruction: Instruction) -> list[str]:
    args = list(instruction.args)
    if instruction.json_args is None:
        args = [a for a in args if not a.startswith("--")]
    return args


def image_copies(link: ServiceBuild, project: Project) -> list[FileSource]:
    """Repository files the service's image receives by ``COPY``/``ADD`` from its build context.

    Only sources inside the build context and the scanned root count (``COPY --from`` copies
    from another stage or image and is skipped). Relative destinations follow ``WORKDIR``.
    Wildcards in sources are matched against the files of the context.
    """
    build = link.service.build
    if link.stage is None or build is None or build.context is None:
        return []
    context = build.context
    out: list[FileSource] = []
    folders: set[str] = set(_IMAGE_DIRS)
    for member in reversed(lineage(link.stage)):
        workdir = "/"
        for instruction in member.instructions:
            if instruction.keyword == "WORKDIR" and instruction.args:
                target = instruction.args[0]
                if "$" in target:
                    workdir = "/"
                    continue
                workdir = posixpath.normpath(posixpath.join(workdir, target))
                folders.add(workdir)
                continue
            if instruction.keyword not in ("COPY", "ADD") or instruction.flag("from") is not None:
                continue
            args = _copy_args(instruction)
            if len(args) < 2 or instruction.heredocs:
                continue
            *sources, dest = args
            if "$" in dest:
                continue
            dest_is_dir = dest.endswith("/") or len(sources) > 1
            dest = posixpath.normpath(posixpath.join(workdir, dest))
            dest_is_dir = dest_is_dir or dest in folders or dest.endswith(".d")
            for raw in sources:
                if "$" in raw or "://" in raw:
                    continue
                for host in _expand_source(project, context, raw):
                    is_dir = project.tree.is_dir(host)
                    if is_dir:
                        target = dest
                        folders.add(dest)
                    elif dest_is_dir or any(ch in raw for ch in "*?["):
                        target = posixpath.join(dest, posixpath.basename(host))
                        folders.add(dest)
                    else:
                        target = dest
                    out.append(FileSource(target, host, instruction.span, "copy"))
    return out


def _expand_source(project: Project, context: str, raw: str) -> list[str]:
    if any(ch in raw for ch in "*?["):
        folder = posixpath.dirname(raw.rstrip("/"))
        base = project.resolve(context, folder or ".")
        if base is None:
            return []
        pattern = posixpath.basename(raw.rstrip("/"))
        prefix = "" if base == "." else base + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in project.tree.under(base)}
        return sorted(prefix + n for n in names if fnmatch.fnmatchcase(n, pattern))
    host = project.resolve(context, raw)
    if host is None or not project.tree.exists(host):
        return []
    return [host]


def container_sources(link: ServiceBuild, project: Project) -> list[FileSource]:
    """Image copies first, then the service's bind mounts (which win at the same path)."""
    out = image_copies(link, project)
    for volume in link.service.volumes:
        if volume.type == "bind" and volume.host_path is not None and volume.target.startswith("/"):
            out.append(FileSource(posixpath.normpath(volume.target), volume.host_path, volume.span, "mount",
                                  volume.read_only))
    return out


def mounts_of(sources: list[FileSource]) -> dict[str, str]:
    """``container path -> host path`` as :func:`dockaudit.link.nginx.resolve_includes` wants it."""
    return {s.container_path: s.host_path for s in sources}


def source_of(sources: list[FileSource], container_path: str) -> FileSource | None:
    """The mount or copy that puts ``container_path`` in the container (longest match wins)."""
    best: FileSource | None = None
    for source in sources:
        prefix = source.container_path.rstrip("/")
        covers = container_path == source.container_path or container_path.startswith(prefix + "/")
        if covers and (best is None or len(source.container_path) >= len(best.container_path)):
            best = source
    return best


# --- ports -----------------------------------------------------------------------------------


@dataclass
class PortEvidence:
    port: int
    span: Span
    what: str  # "ports", "expose", "EXPOSE", "command", "PORT", "default"


@dataclass
class ServicePorts:
    """Ports a service's container is known to listen on.

    ``strong`` is True when the evidence goes beyond compose's own ``ports:``/``expose:`` (an
    ``EXPOSE`` of a Dockerfile in the project, a ``--port`` flag, a ``PORT`` setting, a server's
    default): only then may a rule conclude that a port *not* in :attr:`ports` is unused.
    ``published`` maps host ports to their container ports (``"8080:3000"`` → 8080 → 3000).
    ``unknown`` is set when a port was written with something dockaudit cannot read
    (``EXPOSE $PORT``).
    """

    evidence: list[PortEvidence] = field(default_factory=list)
    published: dict[int, tuple[int, Span]] = field(default_factory=dict)
    strong: bool = False
    unknown: bool = False

    @property
    def ports(self) -> set[int]:
        return {e.port for e in self.evidence}

    def first(self, port: int) -> PortEvidence | None:
        order = {"ports": 0, "expose": 1, "EXPOSE": 2, "command": 3, "PORT": 4, "default": 5}
        found = sorted((e for e in self.evidence if e.port == port), key=lambda e: order.get(e.what, 9))
        return found[0] if found else None


def _port_numbers(text: str) -> list[int] | None:
    """``"8000"`` → [8000]; ``"8000-8002"`` → [8000, 8001, 8002]; None when unreadable."""
    text = text.strip().split("/", 1)[0]
    if re.fullmatch(r"\d{1,5}", text):
        return [int(text)]
    match = re.fullmatch(r"(\d{1,5})-(\d{1,5})", text)
    if match:
        low, high = int(match.group(1)), int(match.group(2))
        if 0 < high - low <= 1000:
            return list(range(low, high + 1))
        return [low]
    return None


_PORT_FLAGS = frozenset({"--port", "-p", "--http-port", "--server.port", "--listen-port", "--web-port",
                         "--api-port", "--server-port"})
_BIND_FLAGS = frozenset({"--bind", "-b", "--listen", "--http", "--socket", "--uwsgi-socket", "--address",
                         "--http-socket", "--addr", "--host-port"})
#: programs whose ``-p`` / ``-b`` mean the port / the bind address
_SHORT_P = frozenset({"next", "serve", "vite", "http-server", "flask", "nuxt", "remix-serve", "astro",
                      "react-router-serve"})
_SHORT_B = frozenset({"gunicorn", "hypercorn", "daphne", "granian", "waitress-serve"})
_HOSTPORT = re.compile(r"^(?:\[[0-9a-fA-F:.]*\]|[\w.\-]*):(\d{2,5})$")
#: servers and their default port when no flag says otherwise
_DEFAULT_PORTS = {"uvicorn": 8000, "gunicorn": 8000, "hypercorn": 8000, "daphne": 8000, "granian": 8000,
                  "fastapi": 8000, "streamlit": 8501, "jupyter": 8888, "jupyter-lab": 8888,
                  "text-generation-launcher": 80, "vllm": 8000, "serve": 3000, "next": 3000}


def command_ports(words: list[str]) -> tuple[list[int], bool, bool]:
    """Ports a command line says it listens on (flags, ``PORT=``, well-known defaults).

    Returns (ports, explicit, unknown): ``explicit`` is False when the ports are only a server's
    default; ``unknown`` is True when a port flag or a config file hides the port (``--port
    $PORT``, ``gunicorn -c gunicorn.conf.py``).
    """
    from dockaudit.shell import command_from_argv

    found: list[int] = []
    defaults: list[int] = []
    unknown = False
    for command in command_from_argv(words) or []:
        cwords = command.words
        for name, value in command.assignments.items():
            if name == "PORT" and value.isascii() and value.isdigit():
                found.append(int(value))
        for index, word in enumerate(cwords):
            flag, eq, inline = word.partition("=")
            value = inline if eq else (cwords[index + 1] if index + 1 < len(cwords) else "")
            if flag in _PORT_FLAGS and (flag != "-p" or command.name in _SHORT_P):
                if value.isascii() and value.isdigit():
                    found.append(int(value))
                elif "$" in value:
                    unknown = True
            elif (flag in _BIND_FLAGS and (flag != "-b" or command.name in _SHORT_B)) or (
                    index > 0 and cwords[index - 1] == "runserver" and not eq):
                match = _HOSTPORT.match(value if flag in _BIND_FLAGS else word)
                if match:
                    found.append(int(match.group(1)))
                elif "$" in (value if flag in _BIND_FLAGS else word):
                    unknown = True
            elif flag in ("-c", "--config") and command.name in ("gunicorn", "hypercorn", "uwsgi"):
                unknown = True
        name = command.name
        if name in _DEFAULT_PORTS:
            if name == "next" and "start" not in cwords[1:2] and "dev" not in cwords[1:2]:
                continue
            defaults.append(_DEFAULT_PORTS[name])
        elif name in ("flask",) and "run" in cwords:
            defaults.append(5000)
        elif (name in ("python", "python3") and "http.server" in cwords) or "runserver" in cwords:
            defaults.append(8000)
    if found:
        return found, True, unknown
    return defaults, False, unknown


def _port_variable(name: str) -> bool:
    """``PORT``, ``APP_PORT``, ``UVICORN_PORT``... (ports a program may listen on)."""
    return name == "PORT" or name.endswith("_PORT")


def _env_file_ports(project: Project, service: Service, result: ServicePorts) -> None:
    from dockaudit.parse.envfile import template_for

    for ref in service.env_files:
        if ref.path is None:
            continue
        paths = [ref.path] if ref.path in project.tree.files else template_for(project, ref.path)
        for path in paths[:1]:
            env = project.env_file(path)
            if env is None:
                continue
            for entry in env.entries:
                if _port_variable(entry.key) and entry.value.isascii() and entry.value.isdigit():
                    result.evidence.append(PortEvidence(int(entry.value), entry.span, "PORT"))
                    result.strong = result.strong or entry.key == "PORT"


def service_ports(link: ServiceBuild, project: Project | None = None) -> ServicePorts:
    """What the service's container listens on (see :class:`ServicePorts`).

    With ``project``, the service's env files (or their templates) are read for ``PORT`` too.
    """
    service = link.service
    result = ServicePorts()
    for mapping in service.ports:
        if mapping.protocol not in ("tcp", ""):
            continue
        targets = _port_numbers(mapping.target or "") if mapping.target else None
        if targets is None:
            if mapping.target:
                result.unknown = True
            continue
        for port in targets:
            result.evidence.append(PortEvidence(port, mapping.span, "ports"))
        published = _port_numbers(mapping.published or "") if mapping.published else None
        if published and len(published) == len(targets):
            for host, container in zip(published, targets):
                result.published.setdefault(host, (container, mapping.span))
    node = service.node_at("expose")
    items = node.value if node is not None and node.kind == "seq" else []
    for item in items:
        numbers = _port_numbers(str(item.value)) if item.kind == "scalar" and item.value is not None else None
        if numbers is None:
            result.unknown = True
            continue
        for port in numbers:
            result.evidence.append(PortEvidence(port, item.span, "expose"))
    stage = link.stage
    if stage is not None:
        for member in lineage(stage):
            for instruction in member.instructions_of("EXPOSE"):
                for word, span in instruction.arg_spans:
                    numbers = _port_numbers(word)
                    if numbers is None:
                        result.unknown = True
                        continue
                    result.strong = True
                    for port in numbers:
                        result.evidence.append(PortEvidence(port, span, "EXPOSE"))
        for name, value in stage.env.items():
            if _port_variable(name) and value.isascii() and value.isdigit():
                definition = stage.env_definitions.get(name)
                span = definition.span if definition is not None else stage.from_instruction.span
                result.evidence.append(PortEvidence(int(value), span, "PORT"))
                result.strong = result.strong or name == "PORT"
    for name, value in service.environment.items():
        if _port_variable(name) and value and value.isascii() and value.isdigit():
            result.evidence.append(PortEvidence(int(value), service.span_of("environment", name), "PORT"))
            result.strong = result.strong or name == "PORT"
    if project is not None:
        _env_file_ports(project, service, result)
    command = start_command(link)
    if command is not None and command.words:
        ports, explicit, unknown = command_ports(command.words)
        result.unknown = result.unknown or unknown
        span = command.span or service.span
        for port in ports:
            result.evidence.append(PortEvidence(port, span, "command" if explicit else "default"))
        if ports:
            result.strong = True
    return result


# --- nginx services --------------------------------------------------------------------------


@dataclass(frozen=True)
class NginxFlavor:
    """Where an nginx image keeps its configuration."""

    name: str                 # "official", "openresty", "bitnami", "distro"
    main_conf: str
    conf_prefix: str
    default_includes: tuple[str, ...]
    renders_templates: bool


OFFICIAL = NginxFlavor("official", "/etc/nginx/nginx.conf", "/etc/nginx", ("/etc/nginx/conf.d/*.conf",), True)
OPENRESTY = NginxFlavor("openresty", "/usr/local/openresty/nginx/conf/nginx.conf",
                        "/usr/local/openresty/nginx/conf", ("/etc/nginx/conf.d/*.conf",), False)
BITNAMI = NginxFlavor("bitnami", "/opt/bitnami/nginx/conf/nginx.conf", "/opt/bitnami/nginx/conf",
                      ("/opt/bitnami/nginx/conf/server_blocks/*.conf",), False)
DISTRO = NginxFlavor("distro", "/etc/nginx/nginx.conf", "/etc/nginx",
                     ("/etc/nginx/conf.d/*.conf", "/etc/nginx/sites-enabled/*"), False)


def nginx_flavor(image: str | None) -> NginxFlavor | None:
    """The nginx flavour of an image reference (None when it is not an nginx image we know)."""
    if not image or "$" in image:
        return None
    from dockaudit.knowledge import parse_image

    ref = parse_image(image)
    repository = ref.repository
    if repository in _OFFICIAL_REPOSITORIES:
        return OFFICIAL
    if repository in ("bitnami/nginx", "bitnamilegacy/nginx"):
        return BITNAMI
    if repository.startswith("openresty/openresty"):
        return OPENRESTY
    # third-party images named */nginx (ghcr.io/mailcow/nginx...) keep their configuration their own way
    return None


#: the official image, its mirrors, and the unprivileged variant built from the same entrypoint
_OFFICIAL_REPOSITORIES = frozenset({"library/nginx", "nginx", "nginx/nginx", "nginxinc/nginx-unprivileged",
                                    "nginx/nginx-unprivileged"})


#: programs that mean the container runs more than nginx (or something else entirely)
_NOT_NGINX = frozenset({
    "supervisord", "supervisor", "s6-svscan", "s6-overlay", "init", "pm2", "pm2-runtime", "node", "npm",
    "yarn", "pnpm", "bun", "deno", "python", "python3", "gunicorn", "uvicorn", "hypercorn", "php-fpm",
    "java", "dotnet", "ruby", "bundle", "rails", "puma", "daphne", "uwsgi", "honcho", "foreman", "runsvdir",
    "systemd", "certbot", "caddy", "httpd", "apache2", "traefik", "envoy", "haproxy",
})
_NGINX_PROGRAMS = frozenset({"nginx", "nginx-debug", "openresty"})


def _entrypoint_renders(words: list[str] | None, entrypoint_overridden: bool) -> bool:
    """Does the official image's entrypoint run its ``/docker-entrypoint.d`` scripts (envsubst of
    templates)? Only when its own entrypoint is kept and the command starts with ``nginx``."""
    if entrypoint_overridden:
        return False
    if not words:
        return True
    first = posixpath.basename(words[0])
    if first == "docker-entrypoint.sh":
        return len(words) == 1 or posixpath.basename(words[1]) in ("nginx", "nginx-debug")
    return first in ("nginx", "nginx-debug")


def _runs_nginx_only(words: list[str] | None) -> tuple[bool | None, bool]:
    """(nginx only?, runs envsubst itself?) for a container command; None: cannot tell."""
    from dockaudit.shell import command_from_argv

    if not words:
        return True, False
    first = posixpath.basename(words[0])
    if first in _NGINX_PROGRAMS:
        return True, False
    if first == "docker-entrypoint.sh":
        rest = words[1:]
        if not rest or posixpath.basename(rest[0]) in _NGINX_PROGRAMS:
            return True, False
        words = rest
    commands = command_from_argv(words)
    names = {c.name for c in commands}
    for command in commands:
        if command.name.startswith("php-fpm"):
            names.add("php-fpm")
    envsubst = "envsubst" in names or any("envsubst" in w for w in words)
    if names & _NOT_NGINX:
        return False, envsubst
    if names & _NGINX_PROGRAMS:
        # a shell script that ends in nginx; a background job (`&`) would mean two programs
        joined = " ".join(words)
        if re.search(r"(?<![&|])&(?![&>])", joined):
            return False, envsubst
        return True, envsubst
    return None, envsubst


@dataclass
class NginxService:
    """A compose service that runs nginx, with the configurations nginx reads in it."""

    link: ServiceBuild
    flavor: NginxFlavor
    #: nginx is the only program of the container (so 127.0.0.1 there is nginx itself)
    nginx_only: bool
    #: the container command runs envsubst itself (custom template handling)
    runs_envsubst: bool
    sources: list[FileSource]
    template_dir: str
    template_output_dir: str
    template_suffix: str
    #: the image's entrypoint renders templates at start (official image, entrypoint kept,
    #: command ``nginx ...``)
    renders_templates: bool = False
    #: ``NGINX_ENVSUBST_FILTER``: only variables whose names match it are substituted
    envsubst_filter: str | None = None
    #: the container starts with a command dockaudit cannot see into (``/app/start.sh``)
    custom_command: bool = False
    #: one resolved configuration per entry point (the main nginx.conf, or each default include)
    configs: list[ResolvedConfig] = field(default_factory=list)
    #: container path -> repository file, for every mounted or copied file
    container_files: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> Service:
        return self.link.service

    @property
    def files(self) -> list[str]:
        """Repository files nginx reads in this service, in reading order, each once."""
        seen: dict[str, None] = {}
        for config in self.configs:
            for path in config.files:
                seen.setdefault(path, None)
        return list(seen)

    def rendered_templates(self) -> list[tuple[str, str]]:
        """(container path, repository file) of templates the image renders at start."""
        if not self.renders_templates or self.runs_envsubst:
            return []
        prefix = self.template_dir.rstrip("/") + "/"
        return [(c, h) for c, h in sorted(self.container_files.items())
                if c.startswith(prefix) and c.endswith(self.template_suffix)]


def _environment(service: Service) -> dict[str, str | None]:
    return service.environment


def nginx_services(project: Project) -> list[NginxService]:
    """Every compose service that runs nginx, with its configuration resolved (cached)."""
    cached = getattr(project, "_nginx_services", None)
    if cached is not None:
        return cached
    from dockaudit.link.nginx import container_view, resolve_includes

    out: list[NginxService] = []
    for link in service_builds(project):
        service = link.service
        flavor: NginxFlavor | None = None
        command = None
        if link.builds:
            if link.stage is None:
                continue
            flavor = nginx_flavor(link.image_ref)
            command = start_command(link)
            if flavor is None:
                # a distribution image that runs nginx as its command
                words = command.words if command is not None else None
                if words and posixpath.basename(words[0]) in _NGINX_PROGRAMS:
                    flavor = DISTRO
        else:
            flavor = nginx_flavor(service.image)
            if flavor is not None and (service.command is not None or service.entrypoint is not None):
                command = start_command(link)
        if flavor is None:
            continue
        words = command.words if command is not None else None
        only, envsubst = _runs_nginx_only(words)
        sources = container_sources(link, project)
        if _renders_itself(link, sources):
            envsubst = True
        env = _environment(service)
        template_dir = (env.get("NGINX_ENVSUBST_TEMPLATE_DIR") or "/etc/nginx/templates").rstrip("/") or "/"
        output_dir = (env.get("NGINX_ENVSUBST_OUTPUT_DIR") or "/etc/nginx/conf.d").rstrip("/") or "/"
        suffix = env.get("NGINX_ENVSUBST_TEMPLATE_SUFFIX") or ".template"
        mounts = mounts_of(sources)
        entrypoint_overridden = (service.entrypoint is not None or _sets_entrypoint(link)) and not (
            words and posixpath.basename(words[0]) == "docker-entrypoint.sh")
        renders = flavor.renders_templates and _entrypoint_renders(words, entrypoint_overridden)
        kwargs = {"conf_prefix": flavor.conf_prefix, "template_dir": template_dir,
                  "template_output_dir": output_dir, "template_suffix": suffix}
        if not renders:
            kwargs["template_dir"] = "/nonexistent-template-dir"
        files, _folders = container_view(project, mounts, template_dir=kwargs["template_dir"],
                                         template_output_dir=output_dir, template_suffix=suffix)
        nginx = NginxService(link=link, flavor=flavor, nginx_only=bool(only), runs_envsubst=envsubst,
                             sources=sources, template_dir=template_dir, template_output_dir=output_dir,
                             template_suffix=suffix, renders_templates=renders,
                             envsubst_filter=env.get("NGINX_ENVSUBST_FILTER") or None, container_files=files,
                             custom_command=only is None)
        if flavor.main_conf in files:
            nginx.configs.append(resolve_includes(project, flavor.main_conf, mounts, **kwargs))
        else:
            for pattern in flavor.default_includes:
                folder, name = posixpath.split(pattern)
                for container in sorted(files):
                    if posixpath.dirname(container) != folder:
                        continue
                    base = posixpath.basename(container)
                    if base.startswith(".") or not fnmatch.fnmatchcase(base, name):
                        continue
                    nginx.configs.append(resolve_includes(project, container, mounts, **kwargs))
        out.append(nginx)
    project._nginx_services = out  # type: ignore[attr-defined]
    return out


def _renders_itself(link: ServiceBuild, sources: list[FileSource]) -> bool:
    """Does the image run envsubst at build time, or start-up scripts dockaudit cannot read
    (files placed in ``/docker-entrypoint.d``)?"""
    if any(s.container_path == "/docker-entrypoint.d" or s.container_path.startswith("/docker-entrypoint.d/")
           for s in sources):
        return True
    if link.stage is None:
        return False
    for member in lineage(link.stage):
        for instruction in member.instructions_of("RUN"):
            text = instruction.value + "".join(h.body for h in instruction.heredocs)
            if "envsubst" in text:
                return True
    return False


def _sets_entrypoint(link: ServiceBuild) -> bool:
    """Does the Dockerfile of the service replace the base image's ENTRYPOINT?"""
    if link.stage is None:
        return False
    return any(member.instructions_of("ENTRYPOINT") for member in lineage(link.stage))


def link_of(project: Project, service: Service) -> ServiceBuild | None:
    """The :class:`ServiceBuild` of a service object."""
    for link in service_builds(project):
        if link.service is service:
            return link
    return None


__all__ = [
    "BITNAMI", "DISTRO", "OFFICIAL", "OPENRESTY", "FileSource", "NginxFlavor", "NginxService", "PortEvidence",
    "ServicePorts", "command_ports", "container_sources", "image_copies", "link_of", "mounts_of",
    "nginx_flavor", "nginx_services", "service_ports", "source_of",
]
