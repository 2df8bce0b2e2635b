"""Rules about nginx running as a compose service (DA401–DA405) and single-file nginx pitfalls
(DA410–DA412).

A configuration reaches a service through bind mounts or ``COPY`` into the image of a service whose
Dockerfile is in the project; :func:`dockaudit.link.containers.nginx_services` resolves which files
nginx reads there, following includes, and tells whether nginx is the only program of the
container. Upstream addresses are then checked against the compose model: service names, aliases,
ports.
"""

from __future__ import annotations

import difflib
import ipaddress
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.link.containers import NginxService, ServicePorts
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.parse.nginx import Directive, NginxConfig
    from dockaudit.project import Project


# --- upstream addresses ----------------------------------------------------------------------

#: directives that send requests to an address, and the scheme their bare addresses use
_PASS = {"proxy_pass": "http", "fastcgi_pass": None, "uwsgi_pass": None, "scgi_pass": None,
         "grpc_pass": "grpc", "memcached_pass": None}
_DEFAULT_PORT = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "ws": 80, "wss": 443}
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback", "localhost.localdomain"})


@dataclass
class Target:
    """An address nginx connects to: an upstream ``server`` or a ``*_pass`` argument."""

    directive: Directive
    host: str
    port: int | None
    span: Span
    #: "upstream" for ``server`` lines of an ``upstream`` block, else the directive name
    kind: str
    #: the address as written
    text: str
    upstream: str | None = None
    #: the host is a variable (``$backend``) or contains one
    variable: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.port is not None else self.host


def _split_address(text: str, scheme_default: str | None) -> tuple[str, int | None, bool] | None:
    """``http://app:8000/x`` → ("app", 8000, has_scheme); None for unix sockets and empty values."""
    rest = text
    scheme = None
    match = re.match(r"(?i)^([a-z][a-z0-9+.-]*)://", rest)
    if match:
        scheme = match.group(1).lower()
        rest = rest[match.end():]
    elif "$" in rest.split("/", 1)[0].split(":", 1)[0] and rest.startswith("$"):
        # the whole address is a variable
        pass
    if rest.startswith("unix:") or not rest:
        return None
    hostport = re.split(r"[/?]", rest, maxsplit=1)[0]
    port: int | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        host = hostport[1:close] if close != -1 else hostport
        tail = hostport[close + 1:] if close != -1 else ""
        if tail.startswith(":") and tail[1:].isdecimal():
            port = int(tail[1:])
    else:
        host, sep, port_text = hostport.rpartition(":")
        if not sep:
            host, port_text = hostport, ""
        if port_text.isdecimal():
            port = int(port_text)
        elif sep and "$" not in port_text:
            host = hostport  # not a port: keep the whole text (odd; reported as a host)
    if port is None:
        port = _DEFAULT_PORT.get(scheme or scheme_default or "")
    return host, port, scheme is not None


def _targets(walk: Iterable[tuple[Directive, tuple[Directive, ...]]]) -> Iterator[Target]:
    for directive, parents in walk:
        if not directive.args:
            continue
        in_upstream = bool(parents) and parents[-1].name == "upstream"
        if directive.name == "server" and directive.block is None and in_upstream:
            address = directive.args[0]
            if address.startswith("unix:"):
                continue
            split = _split_address(address, "http")
            if split is None:
                continue
            host, port, _ = split
            upstream = parents[-1].args[0] if parents[-1].args else None
            yield Target(directive, host, port, directive.arg_spans[0], "upstream", address, upstream,
                         "$" in address)
        elif directive.name in _PASS:
            address = directive.args[0]
            in_stream = any(p.name == "stream" for p in parents)
            default = None if in_stream else _PASS[directive.name]
            split = _split_address(address, default)
            if split is None:
                continue
            host, port, _ = split
            yield Target(directive, host, port, directive.arg_spans[0], directive.name, address, None,
                         "$" in host)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _listen_ports(walk: Iterable[tuple[Directive, tuple[Directive, ...]]]) -> set[int]:
    ports: set[int] = set()
    for directive, _parents in walk:
        if directive.name != "listen" or not directive.args:
            continue
        value = directive.args[0]
        if value.startswith("unix:"):
            continue
        tail = value.rsplit("]", 1)[-1] if value.startswith("[") else value
        tail = tail.rsplit(":", 1)[-1]
        if tail.isdecimal():
            ports.add(int(tail))
        elif not any(ch.isdecimal() for ch in value):
            ports.add(80)
    return ports


def _config_walk(nginx: NginxService) -> list[tuple[Directive, tuple[Directive, ...]]]:
    out: list[tuple[Directive, tuple[Directive, ...]]] = []
    seen: set[int] = set()
    for config in nginx.configs:
        for directive, parents in config.walk():
            if id(directive) in seen:
                continue
            seen.add(id(directive))
            out.append((directive, parents))
    return out


def _upstream_names(walk: Iterable[tuple[Directive, tuple[Directive, ...]]]) -> set[str]:
    return {d.args[0] for d, _ in walk if d.name == "upstream" and d.block is not None and d.args}


# --- the compose side ------------------------------------------------------------------------


def _compose_of(project: Project, service: Service) -> ComposeProject | None:
    for compose in project.compose_projects:
        if compose.services.get(service.name) is service:
            return compose
    return None


def _links(project: Project):
    from dockaudit.link.services import service_builds

    return {id(link.service): link for link in service_builds(project)}


def _service_aliases(service: Service) -> set[str]:
    """Names other containers may use for ``service`` besides its name."""
    names: set[str] = set()
    data = service.data
    for key in ("container_name", "hostname"):
        value = data.get(key)
        if isinstance(value, str) and value:
            names.add(value)
    for network in service.networks.values():
        if isinstance(network, dict):
            aliases = network.get("aliases")
            if isinstance(aliases, list):
                names.update(str(a) for a in aliases if a)
    return names


def _known_hosts(project: Project, nginx_service: Service) -> set[str]:
    """Every name a container of this project may resolve: services, aliases, links, extra_hosts."""
    names: set[str] = set()
    for compose in project.compose_projects:
        for service in compose.services.values():
            names.add(service.name)
            names |= _service_aliases(service)
            for key in ("links", "external_links"):
                value = service.data.get(key)
                if isinstance(value, list):
                    for item in value:
                        text = str(item)
                        names.update(p for p in text.split(":") if p)
    for entry in nginx_service.extra_hosts:
        host = re.split(r"[:=]", entry, maxsplit=1)[0].strip()
        if host:
            names.add(host)
    return {n.lower() for n in names}


def _on_external_network(compose: ComposeProject | None, service: Service) -> bool:
    """Is the service attached to a network other stacks may share (``external: true``)?"""
    if compose is None:
        return True
    networks = compose.data.get("networks") if isinstance(compose.data, dict) else None
    networks = networks if isinstance(networks, dict) else {}
    attached = list(service.networks) or ["default"]
    for name in attached:
        spec = networks.get(name)
        if isinstance(spec, dict) and (spec.get("external") or spec.get("name")):
            return True
    return False


def _service_by_host(compose: ComposeProject, host: str) -> Service | None:
    host = host.lower()
    for service in compose.services.values():
        if service.name.lower() == host or host in {a.lower() for a in _service_aliases(service)}:
            return service
    return None


def _port_note(ports: ServicePorts, port: int) -> tuple[Span, str] | None:
    evidence = ports.first(port)
    if evidence is None:
        return None
    what = {"ports": f"publishes {port}", "expose": f"exposes {port}", "EXPOSE": f"EXPOSE {port}",
            "command": f"listens on {port} (its command)", "PORT": f"sets its port to {port}",
            "default": f"listens on {port} (the server's default)"}[evidence.what]
    return evidence.span, what


def _mount_related(nginx: NginxService, host_file: str) -> list[Related]:
    from dockaudit.link.containers import source_of

    for container, host in nginx.container_files.items():
        if host == host_file:
            source = source_of(nginx.sources, container)
            if source is not None:
                how = "mounted" if source.origin == "mount" else "copied"
                return [Related(source.span, f"{how} into service {nginx.service.name!r} at {container}")]
    return []


def _once(seen: set, key) -> bool:
    if key in seen:
        return False
    seen.add(key)
    return True


# --- DA401 -----------------------------------------------------------------------------------


@rule("DA401")
def nginx_upstream_loopback(project: Project) -> Iterator[Finding]:
    """An nginx compose service proxies to ``127.0.0.1``/``localhost``/``0.0.0.0``/``[::1]``.

    Inside the nginx container the loopback address is the nginx container itself, not the app
    container: requests fail with "connection refused" (502). The address must be the compose
    service name (``app:3000``). Quiet when the service shares another network namespace
    (``network_mode: host`` or ``service:...``), when the container runs more than nginx
    (supervisord, a shell starting the app too, an image not built on nginx), and when nginx
    itself listens on that port (an internal ``server`` block).
    """
    from dockaudit.link.containers import nginx_services, service_ports

    links = _links(project)
    seen: set = set()
    for nginx in nginx_services(project):
        service = nginx.service
        if service.network_mode or not nginx.nginx_only:
            continue
        walk = _config_walk(nginx)
        listening = _listen_ports(walk)
        compose = _compose_of(project, service)
        for target in _targets(walk):
            if target.variable or not _is_loopback(target.host):
                continue
            port = target.port
            if port is not None and port in listening:
                continue
            if not _once(seen, target.span):
                continue
            candidates: list[tuple[Service, tuple[Span, str] | None]] = []
            if compose is not None and port is not None:
                for other in compose.services.values():
                    if other is service:
                        continue
                    link = links.get(id(other))
                    if link is None:
                        continue
                    note = _port_note(service_ports(link, project), port)
                    if note is not None:
                        candidates.append((other, note))
            where = f"{target.host}:{port}" if port is not None else target.host
            related = [Related(s, f"service {o.name!r} {what}") for o, (s, what) in
                       [(o, n) for o, n in candidates if n is not None]]
            related += _mount_related(nginx, target.directive.file)
            if candidates:
                names = [o.name for o, _ in candidates]
                replacement = f"{names[0]}:{port}"
                also = f" (or {', '.join(n + ':' + str(port) for n in names[1:])})" if len(names) > 1 else ""
                message = (f"{where} is the nginx container itself, not your app: nginx runs as compose "
                           f"service {service.name!r}, where the loopback address never reaches another "
                           f"container. Service {names[0]!r} serves port {port}; use `{replacement}`{also}")
                fix = f"replace `{where}` with `{replacement}` (the compose service name)"
            else:
                message = (f"{where} is the nginx container itself: nginx runs as compose service "
                           f"{service.name!r}, and nothing in that container listens on "
                           f"{port if port is not None else 'that port'}. Use the compose service name of "
                           "the app (`app:3000`), or `host.docker.internal` (with `extra_hosts: "
                           "[\"host.docker.internal:host-gateway\"]`) if the app runs on the host")
                fix = "address the upstream by its compose service name"
            yield Finding(target.span, message, related=tuple(related[:6]), fix=fix)


# --- DA402 -----------------------------------------------------------------------------------


@rule("DA402")
def nginx_upstream_unknown_host(project: Project) -> Iterator[Finding]:
    """An nginx compose service proxies to a host name nothing in the project defines.

    Single-label names (no dot) inside a compose network resolve only to services, network
    aliases, container names, hostnames, links and ``extra_hosts`` entries; a ``proxy_pass``
    to an ``upstream`` block name is fine. nginx resolves static upstream hosts at start and
    exits with "host not found in upstream". Names with dots (external hosts), IP addresses,
    variables (``$backend``), ``network_mode`` services and services attached to an
    ``external`` network (other stacks may provide the name) are not judged.
    """
    from dockaudit.link.containers import nginx_services

    seen: set = set()
    for nginx in nginx_services(project):
        service = nginx.service
        if service.network_mode:
            continue
        compose = _compose_of(project, service)
        if _on_external_network(compose, service):
            continue
        walk = _config_walk(nginx)
        upstreams = {u.lower() for u in _upstream_names(walk)}
        known = _known_hosts(project, service) | upstreams
        for target in _targets(walk):
            host = target.host
            if target.variable or "$" in host or not host or "." in host:
                continue
            if _is_ip(host) or _is_loopback(host):
                continue
            if host.lower() in known:
                continue
            if not _once(seen, target.span):
                continue
            services = sorted(s.name for s in compose.services.values()) if compose is not None else []
            guess = difflib.get_close_matches(host.lower(), sorted(known), n=1, cutoff=0.7)
            hint = f" (did you mean {guess[0]!r}?)" if guess else ""
            listing = f"; the services are {', '.join(services)}" if services else ""
            kind = "upstream server" if target.kind == "upstream" else target.kind
            yield Finding(
                target.span,
                f"{kind} host {host!r}{hint} is not a compose service, network alias, container_name, "
                f"extra_hosts entry or upstream block of this project{listing}. nginx in service "
                f"{service.name!r} cannot resolve it and exits with \"host not found in upstream\"",
                related=tuple(_mount_related(nginx, target.directive.file)),
                fix="use the compose service name (or add a network alias / extra_hosts entry for it)",
            )


# --- DA403 -----------------------------------------------------------------------------------


@rule("DA403")
def nginx_upstream_port_not_exposed(project: Project) -> Iterator[Finding]:
    """An nginx compose service proxies to a port the target service does not listen on.

    The target's ports come from compose ``ports:`` targets and ``expose:``, ``EXPOSE`` of the
    Dockerfile it builds, ``--port``/``--bind`` flags and ``PORT`` settings of its command, and
    the default port of a known server (uvicorn, gunicorn: 8000; ``next start``: 3000). Two
    cases are reported: the port is the *host* side of a ``ports:`` mapping (``"8080:3000"``;
    between containers the container port counts), or the target's Dockerfile/command shows
    where it listens and it is elsewhere. Registry images with nothing but compose ports, and
    ports written with variables, are not judged. Heuristic: ``EXPOSE`` is documentation, and an
    app may listen on more ports than it declares.
    """
    from dockaudit.link.containers import nginx_services, service_ports

    links = _links(project)
    seen: set = set()
    for nginx in nginx_services(project):
        service = nginx.service
        if service.network_mode:
            continue
        compose = _compose_of(project, service)
        if compose is None:
            continue
        for target in _targets(_config_walk(nginx)):
            if target.variable or target.port is None or "." in target.host or _is_ip(target.host):
                continue
            other = _service_by_host(compose, target.host)
            if other is None or other is service or other.network_mode:
                continue
            link = links.get(id(other))
            if link is None:
                continue
            ports = service_ports(link, project)
            port = target.port
            if port in ports.ports or ports.unknown:
                continue
            if not _once(seen, target.span):
                continue
            published = ports.published.get(port)
            if published is not None:
                container_port, span = published
                yield Finding(
                    target.span,
                    f"{target.address} is the host port service {other.name!r} publishes (`{port}:"
                    f"{container_port}`); between containers the container port counts, so nginx must "
                    f"use `{target.host}:{container_port}`",
                    related=(Related(span, f"service {other.name!r} publishes {port} → {container_port}"),),
                    fix=f"change the upstream port to {container_port}",
                )
                continue
            if not ports.strong or not ports.ports:
                continue
            listed = sorted(ports.ports)
            related = []
            for number in listed[:4]:
                note = _port_note(ports, number)
                if note is not None:
                    related.append(Related(note[0], f"service {other.name!r} {note[1]}"))
            shown = ", ".join(str(p) for p in listed[:6])
            yield Finding(
                target.span,
                f"service {other.name!r} is not known to listen on port {port}: it declares {shown}. "
                f"nginx would get \"connection refused\" (502); use `{target.host}:{listed[0]}`, or expose "
                f"{port} if the app really listens there",
                related=tuple(related),
                fix=f"point the upstream at the port the service listens on ({shown})",
            )


# --- DA404 -----------------------------------------------------------------------------------

_NGINX_DEFINERS = ("set", "map", "geo", "split_clients", "perl_set", "js_set", "set_by_lua_block",
                   "set_by_lua", "set_by_lua_file")
_NAMED_CAPTURE = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")


def nginx_defined_variables(directives: Iterable[Directive]) -> set[str]:
    """Variables a configuration defines itself: ``set``, ``map``, ``geo``..., named regex captures."""
    names: set[str] = set()
    for directive in directives:
        if directive.name in _NGINX_DEFINERS and directive.args:
            first = directive.name in ("set", "perl_set", "js_set") or directive.name.startswith("set_by")
            index = 0 if first else len(directive.args) - 1
            value = directive.args[index]
            if value.startswith("$"):
                names.add(value[1:].strip("{}"))
        for arg in directive.args:
            if "(?" in arg:
                names.update(_NAMED_CAPTURE.findall(arg))
    return names


def env_refs(config: NginxConfig) -> list[tuple[str, Span]]:
    """``${NAME}`` references of a config outside Lua blocks (``content_by_lua_block {...}``)."""
    lua = [d.span for d, _ in config.walk() if d.raw_block is not None]
    if not lua:
        return list(config.env_refs)
    return [(name, span) for name, span in config.env_refs
            if not any(_inside(span, block) for block in lua)]


def _inside(span: Span, block: Span) -> bool:
    return (block.line, block.column) <= (span.line, span.column) <= (block.end_line, block.end_column)


def env_like(name: str) -> bool:
    """Does a ``${NAME}`` reference look like an environment variable rather than nginx's own?"""
    return any(c.isupper() for c in name)


@rule("DA404")
def nginx_template_not_rendered(project: Project) -> Iterator[Finding]:
    """An nginx template is put where nothing renders it, or a config nginx reads uses ``${VAR}``.

    The official nginx image runs envsubst only on ``*.template`` files in
    ``/etc/nginx/templates`` (``NGINX_ENVSUBST_TEMPLATE_DIR``) and writes the result to
    ``/etc/nginx/conf.d``. A template mounted or copied anywhere else is never rendered (and
    ``conf.d/*.conf`` does not include a ``.template``), a file in the templates folder without
    the suffix is neither rendered nor read, and a plain ``.conf`` with ``${API_DOMAIN}`` is read
    as is: nginx takes it for an nginx variable and fails with ``unknown "API_DOMAIN"
    variable``. Quiet when the container command runs envsubst itself. Only names with an
    upper-case letter count as environment variables (nginx's own are lower case).
    """
    from dockaudit.link.containers import nginx_services

    seen: set = set()
    for nginx in nginx_services(project):
        if nginx.runs_envsubst or nginx.custom_command:
            continue
        suffix = nginx.template_suffix
        template_prefix = nginx.template_dir.rstrip("/") + "/"
        rendered_hosts = {h for _c, h in nginx.rendered_templates()}
        if nginx.renders_templates:
            for source in nginx.sources:
                inside = (source.container_path + "/").startswith(template_prefix)
                if project.tree.is_dir(source.host_path):
                    if inside:
                        continue
                    prefix = "" if source.host_path == "." else source.host_path + "/"
                    top = [p for p in project.tree.under(source.host_path)
                           if "/" not in p[len(prefix):] and project.tree.classified.get(p) == "nginx"]
                    templates = sorted(p for p in top if p.endswith(suffix))
                    if not templates or len(templates) != len(top) or not _once(seen, source.span):
                        continue  # plain configs beside them: the templates may be leftovers
                    yield Finding(
                        source.span,
                        f"{source.host_path}/ holds nginx templates "
                        f"({', '.join(posixpath.basename(t) for t in templates[:3])}) "
                        f"but goes to {source.container_path}; the nginx image renders only "
                        f"{nginx.template_dir}/*{suffix} and reads no {suffix} file, so these are ignored",
                        related=tuple(Related(Span.whole_file(t), "template") for t in templates[:3]),
                        fix=f"mount the folder at {nginx.template_dir} (its *.conf{suffix} files are "
                            "rendered "
                            "into /etc/nginx/conf.d)",
                    )
                    continue
                host = source.host_path
                name = posixpath.basename(source.container_path)
                if host.endswith(suffix) and project.tree.classified.get(host) == "nginx":
                    # a template renamed to a plain name (`.../nginx.conf`) is read as it is: the
                    # ${VAR} check below reports it at the variables
                    if (inside and name.endswith(suffix)) or not name.endswith(suffix):
                        continue
                    if not _once(seen, source.span):
                        continue
                    yield Finding(
                        source.span,
                        f"{host} is an envsubst template but is placed at {source.container_path}; the nginx "
                        f"image renders only {nginx.template_dir}/*{suffix} (into "
                        f"{nginx.template_output_dir}), and nginx reads no {suffix} file, so this "
                        "configuration "
                        "is ignored",
                        related=(Related(Span.whole_file(host), "the template"),),
                        fix=f"mount it at {posixpath.join(nginx.template_dir, name)}",
                    )
                elif inside and not name.endswith(suffix) and project.tree.classified.get(host) == "nginx":
                    if not _once(seen, source.span):
                        continue
                    yield Finding(
                        source.span,
                        f"{source.container_path} is in the templates folder without the {suffix} suffix: "
                        f"the nginx image neither renders nor reads it",
                        related=(Related(Span.whole_file(host), "the config"),),
                        fix=f"name it {name}{suffix} in the container, or mount it under /etc/nginx/conf.d",
                    )
        # configs nginx reads as they are, with ${VAR} in them
        defined = nginx_defined_variables(d for d, _ in _config_walk(nginx))
        for host in nginx.files:
            if host in rendered_hosts:
                continue
            config = project.nginx_config(host)
            if config is None:
                continue
            for name, span in env_refs(config):
                if not env_like(name) or name in defined or not _once(seen, span):
                    continue
                related = _mount_related(nginx, host)
                yield Finding(
                    span,
                    f"nginx reads {host} as it is (it is not rendered from {nginx.template_dir}/*{suffix}), "
                    "so "
                    f"`${{{name}}}` is not replaced by the environment variable: nginx takes it for its own "
                    f"variable and fails with 'unknown \"{name}\" variable'",
                    related=tuple(related),
                    fix=(f"mount it as a template ({nginx.template_dir}/<name>.conf{suffix}) so that the "
                         "image "
                         "renders it" if nginx.renders_templates else
                         "render it before nginx starts (envsubst) or write the value in"),
                )


# --- DA405 -----------------------------------------------------------------------------------


@rule("DA405")
def nginx_include_missing(project: Project) -> Iterator[Finding]:
    """An ``include`` names a file inside a mounted folder that does not exist there.

    The folder comes from the repository (a bind mount or ``COPY``), so the file would have to be
    in it; nginx fails to start with "open() ... failed (No such file or directory)". Wildcard
    includes that match nothing are allowed by nginx and not reported; paths no mount covers
    (``mime.types`` and other files of the image) are not judged.
    """
    from dockaudit.link.containers import nginx_services, source_of

    seen: set = set()
    for nginx in nginx_services(project):
        for config in nginx.configs:
            for unresolved in config.unresolved:
                if unresolved.reason != "missing" or not _once(seen, unresolved.span):
                    continue
                source = source_of(nginx.sources, unresolved.container_path)
                related = []
                where = ""
                if source is not None:
                    how = "mounted" if source.origin == "mount" else "copied"
                    related.append(Related(source.span,
                                           f"{source.host_path} is {how} at {source.container_path}"))
                    rel = unresolved.container_path[len(source.container_path.rstrip('/')) + 1:]
                    where = f" ({source.host_path}/{rel} does not exist)"
                yield Finding(
                    unresolved.span,
                    f"include {unresolved.container_path}: no such file in the folder service "
                    f"{nginx.service.name!r} mounts there{where}; nginx fails to start",
                    related=tuple(related),
                    fix="add the file to the mounted folder, or fix the include path",
                )


# --- single-file checks ----------------------------------------------------------------------


def _walks(project: Project) -> Iterator[tuple[str, list[tuple[Directive, tuple[Directive, ...]]], bool]]:
    """(label, directives with parents, whole configuration?) for every configuration we can see:
    each nginx service's resolved configs, then each nginx file no service reads."""
    from dockaudit.link.containers import nginx_services

    covered: set[str] = set()
    for nginx in nginx_services(project):
        if not nginx.configs:
            continue
        for config in nginx.configs:
            covered.update(config.files)
        # the conf.d files of one container share one http block: upstreams, resolvers and
        # headers of one file are seen by the others
        yield nginx.service.name, _config_walk(nginx), True
    for path, config in sorted(project.nginx_configs.items()):
        if path in covered:
            continue
        whole = any(d.name == "http" for d in config.directives)
        yield path, list(config.walk()), whole


@rule("DA410")
def nginx_variable_proxy_without_resolver(project: Project) -> Iterator[Finding]:
    """``proxy_pass`` (or another ``*_pass``) takes its host from a variable, with no ``resolver``.

    With a variable in the host nginx resolves the name per request, which needs a ``resolver``
    directive; without one requests fail with 502 and "no resolver defined to resolve ...". In
    Docker the embedded DNS is ``resolver 127.0.0.11``. Quiet when the variable is set to an
    ``upstream`` block name or an IP address, or comes from a ``map`` (which may yield upstream
    names). Checked only where the whole configuration is visible. Heuristic severity: the
    variable may hold an address.
    """
    seen: set = set()
    for _label, walk, whole in _walks(project):
        if not whole:
            continue
        upstreams = _upstream_names(walk)
        resolvers = [parents for d, parents in walk if d.name == "resolver"]
        sets: dict[str, list[str]] = {}
        mapped: set[str] = set()
        for directive, _parents in walk:
            if directive.name == "set" and len(directive.args) >= 2 and directive.args[0].startswith("$"):
                sets.setdefault(directive.args[0][1:], []).append(directive.args[1])
            elif directive.name in ("map", "geo", "split_clients", "perl_set", "js_set") and directive.args:
                mapped.add(directive.args[-1].lstrip("$"))
        for target in _targets(walk):
            if target.kind == "upstream" or not target.variable:
                continue
            names = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", target.host or target.text)
            if not names:
                continue
            if any(n in mapped for n in names):
                continue
            values = [v for n in names for v in sets.get(n, [])]
            if values and all(_value_resolves_statically(v, upstreams) for v in values):
                continue
            parents = next(p for d, p in walk if d is target.directive)
            if any(_encloses(r, parents) for r in resolvers):
                continue
            if not _once(seen, target.span):
                continue
            yield Finding(
                target.span,
                f"{target.kind} {target.text!r} takes its host from a variable, so nginx resolves it per "
                "request and needs a `resolver`; none is set here, so requests fail with 502 (\"no resolver "
                "defined to resolve ...\")",
                fix="add `resolver 127.0.0.11 valid=30s;` (Docker's DNS) to the server or http block, or use "
                    "a "
                    "static host / upstream block",
            )


def _value_resolves_statically(value: str, upstreams: set[str]) -> bool:
    split = _split_address(value, "http")
    if split is None:
        return True
    host = split[0]
    return host in upstreams or _is_ip(host) or "$" in host


def _encloses(resolver_parents: tuple[Directive, ...], parents: tuple[Directive, ...]) -> bool:
    """Is a ``resolver`` at ``resolver_parents`` in effect for a directive inside ``parents``?"""
    if len(resolver_parents) > len(parents):
        return False
    return all(a is b for a, b in zip(resolver_parents, parents))


_SECURITY_HEADERS = frozenset({
    "strict-transport-security", "content-security-policy", "content-security-policy-report-only",
    "x-frame-options", "x-content-type-options", "referrer-policy", "permissions-policy", "x-xss-protection",
    "cross-origin-opener-policy", "cross-origin-embedder-policy", "cross-origin-resource-policy",
})


@rule("DA411")
def nginx_add_header_dropped(project: Project) -> Iterator[Finding]:
    """A block with its own ``add_header`` silently drops the headers of the enclosing level.

    nginx inherits ``add_header`` from the previous level only when the current level has none:
    one ``add_header`` in a ``location`` discards every header set at ``server`` (or ``http``)
    level for that location — typically security headers such as ``Strict-Transport-Security``.
    Warning when a security header is lost, note otherwise. Quiet when ``add_header_inherit`` is
    used (nginx 1.29.3+).
    """
    seen: set = set()
    for _label, walk, _whole in _walks(project):
        if any(d.name == "add_header_inherit" for d, _ in walk):
            continue
        by_block: dict[int, list[Directive]] = {}
        blocks: dict[int, tuple[Directive, tuple[Directive, ...]]] = {}
        for directive, parents in walk:
            if directive.block is not None:
                blocks[id(directive)] = (directive, parents)
            if directive.name == "add_header" and parents:
                by_block.setdefault(id(parents[-1]), []).append(directive)
        for block_id, headers in by_block.items():
            block, parents = blocks.get(block_id, (None, ()))
            if block is None or block.name not in ("location", "if", "server", "limit_except"):
                continue
            inherited: list[Directive] = []
            for ancestor in reversed(parents):
                if ancestor.name not in ("http", "server", "location", "if", "limit_except"):
                    continue
                if by_block.get(id(ancestor)):
                    inherited = by_block[id(ancestor)]
                    break
            own = {h.args[0].lower() for h in headers if h.args}
            dropped = [h for h in inherited if h.args and h.args[0].lower() not in own]
            if not dropped:
                continue
            first = headers[0]
            if not _once(seen, first.span):
                continue
            names = [h.args[0] for h in dropped]
            security = [n for n in names if n.lower() in _SECURITY_HEADERS]
            yield Finding(
                first.span,
                f"this add_header makes the {block.name} block drop the headers set at the enclosing level: "
                f"{', '.join(names[:6])}{' (security headers among them)' if security else ''}. nginx "
                "inherits add_header only into blocks that have none of their own",
                related=tuple(Related(h.span, "dropped here") for h in dropped[:6]),
                fix="repeat the enclosing level's add_header lines in this block (an include snippet helps), "
                    "or "
                    "move this header up",
                severity=Severity.WARNING if security else Severity.NOTE,
            )


@rule("DA412")
def nginx_alias_traversal(project: Project) -> Iterator[Finding]:
    """A prefix ``location`` without a trailing slash uses an ``alias`` with one (path traversal).

    ``location /static { alias /srv/static/; }`` serves ``/static../app/.env`` as
    ``/srv/static/../app/.env``: one level above the folder is readable. Regex locations are
    not judged.
    """
    seen: set = set()
    for _path, config in sorted(project.nginx_configs.items()):
        for directive, parents in _own_walk(config):
            if directive.name != "alias" or not directive.args or not parents:
                continue
            location = parents[-1]
            if location.name != "location" or not location.args:
                continue
            modifier = location.args[0] if len(location.args) > 1 else ""
            if modifier not in ("", "^~"):
                continue
            path = location.args[-1]
            alias = directive.args[0]
            if path.endswith("/") or not alias.endswith("/") or "$" in alias:
                continue
            if not _once(seen, directive.span):
                continue
            yield Finding(
                directive.span,
                f"location {path!r} has no trailing slash but its alias {alias!r} has one: a request for "
                f"{path}../ reaches the folder above {alias} (path traversal)",
                related=(Related(location.arg_spans[-1], "the location"),),
                fix=f"end the location with a slash too ({path + '/'!r}), so that both paths end the same "
                    "way",
            )


def _own_walk(config: NginxConfig) -> Iterator[tuple[Directive, tuple[Directive, ...]]]:
    yield from config.walk()


__all__ = ["Target", "env_like", "env_refs", "nginx_defined_variables"]
