"""Rules about env files and their templates (DA301–DA306).

Compose reads variables from two different places, and most mistakes come from mixing them up:

* **interpolation** — ``${VAR}`` in a compose file is replaced when compose *loads the file*,
  from the shell and from the ``.env`` beside the compose file (or the file given with
  ``docker compose --env-file``). ``env_file:`` entries are never read for this;
* **the container's environment** — ``environment:`` and ``env_file:`` of a service set
  variables inside the container.

Templates (``.env.example``, ``.env.production.example``; see
:func:`dockaudit.parse.envfile.template_for`) document both: the template of ``.env`` documents
interpolation, the template of an ``env_file:`` documents what the container gets.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.parse.envfile import template_for
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.interpolate import VarUse
    from dockaudit.link.containers import NginxService
    from dockaudit.parse.compose import ComposeProject, Node, Service
    from dockaudit.parse.envfile import EnvEntry
    from dockaudit.project import Project

#: variables every shell sets; compose files use them on purpose (``${HOME}/.cache``)
SHELL_VARIABLES = frozenset({"HOME", "USER", "PWD", "UID", "GID", "HOSTNAME", "PATH", "SHELL", "LOGNAME",
                             "TERM", "TMPDIR", "LANG", "OLDPWD", "USERNAME", "XDG_RUNTIME_DIR"})
#: prefixes of variables compose and the docker CLI read themselves
TOOL_PREFIXES = ("COMPOSE_", "DOCKER_", "BUILDKIT_")


def _join(folder: str, name: str) -> str:
    return name if folder in (".", "") else f"{folder}/{name}"


def _keys(project: Project, relpath: str) -> dict[str, object] | None:
    """Keys of an env file in the tree (None when it is absent or unreadable)."""
    if relpath not in project.tree.files:
        return None
    env = project.env_file(relpath)
    if env is None:
        return None
    return env.keys


@dataclass
class _Documented:
    """An env file with what documents it: the file itself (when present) and its templates."""

    path: str
    exists: bool
    templates: list[str]
    keys: set[str]

    @property
    def files(self) -> list[str]:
        return ([self.path] if self.exists else []) + self.templates

    @property
    def documented(self) -> bool:
        return bool(self.files)

    @property
    def where(self) -> str:
        """The file to add a variable to: the template if any, else the file."""
        return self.templates[0] if self.templates else self.path


def _documented(project: Project, relpath: str, cache: dict[str, _Documented]) -> _Documented:
    if relpath in cache:
        return cache[relpath]
    exists = relpath in project.tree.files
    templates = template_for(project, relpath)
    keys: set[str] = set()
    # a local, git-ignored `.env` beside its template documents nothing for the next person: judge
    # by the template, so that a developer's machine and CI agree
    local_only = exists and bool(templates) and is_gitignored(project, relpath)
    for path in ([relpath] if exists and not local_only else []) + templates:
        found = _keys(project, path)
        if found is not None:
            keys |= set(found)
    result = _Documented(relpath, exists, templates, keys)
    cache[relpath] = result
    return result


# --- where a variable is used ------------------------------------------------------------------


@dataclass
class _Place:
    path: str
    start: tuple[int, int]
    end: tuple[int, int]
    service: str
    env_key: str | None


def _places(project: Project, files: list[str]) -> list[_Place]:
    """Services and ``environment:`` entries of the compose files as written, with their extents."""
    out: list[_Place] = []
    for relpath in files:
        document = project.document(relpath, "compose")
        if document is None:
            continue
        for name, node in document.services.items():
            span = node.span
            out.append(_Place(relpath, (span.line, span.column), (span.end_line, span.end_column), name,
                              None))
            env = node.get("environment")
            if env is None:
                continue
            if env.kind == "map":
                for key, child in env.value.items():
                    s = child.span
                    out.append(_Place(relpath, (s.line, s.column), (s.end_line, s.end_column), name, key))
            elif env.kind == "seq":
                for item in env.value:
                    if item.kind != "scalar" or item.value is None:
                        continue
                    key = str(item.value).partition("=")[0].strip()
                    s = item.span
                    out.append(_Place(relpath, (s.line, s.column), (s.end_line, s.end_column), name, key))
    return out


def _place_of(places: list[_Place], span: Span) -> tuple[str | None, str | None]:
    """(service, environment key) whose text contains ``span`` (innermost first)."""
    at = (span.line, span.column)
    service: str | None = None
    for place in places:
        if place.path != span.path or not (place.start <= at <= place.end):
            continue
        if place.env_key is not None:
            return place.service, place.env_key
        service = place.service
    return service, None


def _needs_value(use: VarUse) -> bool:
    if use.nested or not use.required:
        return False
    name = use.name
    return name not in SHELL_VARIABLES and not name.startswith(TOOL_PREFIXES)


# --- DA301 -------------------------------------------------------------------------------------


def _ref_text(use: VarUse) -> str:
    if use.modifier in ("?", ":?"):
        return f"${{{use.name}{use.modifier}...}}"
    return f"${{{use.name}}}"


@rule("DA301")
def variable_missing_from_template(project: Project) -> Iterator[Finding]:
    """A variable compose needs is not in the env template, or an nginx template's variable
    never reaches the nginx container.

    Compose interpolation (``${VAR}``, ``$VAR``, ``${VAR:?err}`` without a default) reads the
    shell and the ``.env`` beside the compose file — never ``env_file:`` entries. The variable
    must be documented where users keep their settings: ``.env`` / its template when the project
    has one; otherwise the templates of the services' env files (run compose with
    ``--env-file``). A variable only defined in an ``env_file:`` is reported too, and so is
    ``environment: [X=${X}]`` overriding the ``X`` of the service's env file with an empty value.
    For nginx templates rendered by the official image, every ``${VAR}`` must be in the nginx
    service's environment (``environment:``, ``env_file:``, the image's ``ENV``).
    """
    cache: dict[str, _Documented] = {}
    seen: set = set()
    for compose in project.compose_projects:
        yield from _compose_variables(project, compose, cache, seen)
    yield from _nginx_template_variables(project, cache, seen)


def _compose_variables(project: Project, compose: ComposeProject, cache: dict[str, _Documented],
                       seen: set) -> Iterator[Finding]:
    dotenv = _documented(project, _join(compose.directory, ".env"), cache)
    service_docs: dict[str, list[_Documented]] = {}
    for service in compose.services.values():
        docs = []
        for ref in service.env_files:
            if ref.path is not None and not ref.outside:
                docs.append(_documented(project, ref.path, cache))
        service_docs[service.name] = docs
    env_file_docs: list[_Documented] = []
    for docs in service_docs.values():
        for doc in docs:
            if doc.documented and doc not in env_file_docs:
                env_file_docs.append(doc)
    if dotenv.documented:
        mode = "dotenv"
        known = dotenv.keys
    elif env_file_docs:
        mode = "env_file"
        known = set().union(*(d.keys for d in env_file_docs))
    else:
        return  # nothing documents this project's variables: they come from the shell or CI
    places = _places(project, compose.files)
    for use in compose.variables:
        if not _needs_value(use) or use.span.path not in compose.files:
            continue
        compose_file = use.span.path
        key = (use.name, use.span)
        if key in seen:
            continue
        service_name, env_key = _place_of(places, use.span)
        own_docs = [d for d in service_docs.get(service_name or "", []) if d.documented]
        required = use.modifier in ("?", ":?")
        outcome = ("compose refuses to start" if required else
                   "compose warns and substitutes an empty string")
        if use.name in known:
            if mode != "env_file" or env_key != use.name or service_name is None:
                continue
            in_env_file = [d for d in own_docs if use.name in d.keys]
            if not in_env_file:
                continue
            seen.add(key)
            doc = in_env_file[0]
            yield Finding(
                use.span,
                f"`{env_key}={_ref_text(use)}` in `environment:` of service {service_name!r} overrides the "
                f"{use.name} that env_file {doc.path} passes to the container with the value compose "
                f"*interpolates* — from the shell or `.env`, not from env_file. Unless compose runs with "
                f"`--env-file {doc.path}`, the container gets an empty {use.name}",
                related=(Related(Span.whole_file(doc.where), f"{use.name} is defined here"),),
                fix=f"remove the `{env_key}` line (env_file already passes it), or give a default "
                    f"(`${{{use.name}:-...}}`)",
                severity=Severity.WARNING,
            )
            continue
        seen.add(key)
        if mode == "dotenv":
            where = dotenv.where
            defined_in = [d for docs in service_docs.values() for d in docs if use.name in d.keys]
            if defined_in:
                doc = defined_in[0]
                message = (f"{_ref_text(use)} has no default and {use.name} is defined only in {doc.where}, "
                           f"an env_file: compose does NOT interpolate from env_file (it only passes those "
                           f"variables into the container). {compose_file} is interpolated from the shell "
                           f"and {dotenv.path}, which "
                           f"{'lacks' if dotenv.exists else 'would be created from'} "
                           f"{where if not dotenv.exists else 'it'}; {outcome}")
                related = (Related(Span.whole_file(doc.where), f"{use.name} is defined here (env_file)"),
                           Related(Span.whole_file(where), f"add {use.name} here"))
            else:
                message = (f"{_ref_text(use)} has no default and {use.name} is not defined in {where}, the "
                           f"env file compose reads to interpolate {compose_file}; {outcome}")
                related = (Related(Span.whole_file(where), f"add {use.name} here"),)
            fix = f"add `{use.name}=` to {where}, or give a default: `${{{use.name}:-<value>}}`"
        else:
            target = own_docs[0] if own_docs else env_file_docs[0]
            where = target.where
            dotenv_name = dotenv.path
            message = (f"{_ref_text(use)} has no default and {use.name} is not defined in {where}, where "
                       "this "
                       f"project keeps its variables. Compose interpolates {compose_file} from the shell and "
                       f"{dotenv_name} (absent; or the file given with `--env-file`), never from env_file "
                       f"entries; {outcome}")
            related = (Related(Span.whole_file(where), f"add {use.name} here"),)
            fix = (f"add `{use.name}=` to {where} and run compose with `--env-file {target.path}` (or create "
                   f"{dotenv_name}), or give a default: `${{{use.name}:-<value>}}`")
        yield Finding(use.span, message, related=related, fix=fix)


def service_env_names(project: Project, service: Service, cache: dict[str, _Documented] | None = None,
                      stage_env: dict[str, str] | None = None) -> set[str] | None:
    """Names a service's container gets: ``environment:``, ``env_file:`` (or its templates) and
    the image's ``ENV``; None when an env file can be read nowhere (then nobody knows)."""
    cache = {} if cache is None else cache
    names = set(service.environment)
    for ref in service.env_files:
        if ref.path is None or ref.outside:
            return None
        doc = _documented(project, ref.path, cache)
        if not doc.documented:
            if ref.required:
                return None
            continue
        names |= doc.keys
    if stage_env:
        names |= set(stage_env)
    return names


def _nginx_template_variables(project: Project, cache: dict[str, _Documented],
                              seen: set) -> Iterator[Finding]:
    from dockaudit.checks.nginx_compose import env_like, env_refs, nginx_defined_variables
    from dockaudit.link.containers import nginx_services

    for nginx in nginx_services(project):
        rendered = nginx.rendered_templates()
        if not rendered:
            continue
        stage = nginx.link.stage
        names = service_env_names(project, nginx.service, cache, stage.env if stage is not None else None)
        if names is None:
            continue
        defined = nginx_defined_variables(d for config in nginx.configs for d, _ in config.walk())
        for container, host in rendered:
            config = project.nginx_config(host)
            if config is None:
                continue
            for name, span in env_refs(config):
                if name in names or not env_like(name) or name in defined:
                    continue
                if nginx.envsubst_filter and not _matches(nginx.envsubst_filter, name):
                    continue  # not substituted at all: DA404's concern, not a missing variable
                key = (name, span)
                if key in seen:
                    continue
                seen.add(key)
                yield _nginx_variable_finding(nginx, host, container, name, span)


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return True


def _nginx_variable_finding(nginx: NginxService, host: str, container: str, name: str, span: Span) -> Finding:
    service = nginx.service
    env_node = service.node_at("environment")
    related = [Related(service.span_of("environment") if env_node is not None else service.span,
                       f"environment of service {service.name!r}")]
    for source in nginx.sources:
        if source.host_path == host or host.startswith(source.host_path.rstrip("/") + "/"):
            related.append(Related(source.span, f"rendered at start from {container}"))
            break
    files = [ref.raw for ref in service.env_files]
    where = "its `environment:`" + (f" or env_file ({', '.join(files)})" if files else "")
    return Finding(
        span,
        f"`${{{name}}}` in {host} is filled in from the environment of service {service.name!r} when the "
        f"nginx image renders the template, but {name} is not in {where}; envsubst then leaves "
        f"`${{{name}}}` in the config and nginx fails with 'unknown \"{name}\" variable'",
        related=tuple(related),
        fix=f"add `{name}: ${{{name}:-<default>}}` to the `environment:` of service {service.name!r}",
    )


# --- DA302 -------------------------------------------------------------------------------------

#: dependencies that load ``.env`` files in application code (so any key may be read there)
_DOTENV_LIBRARIES = frozenset({
    "python-dotenv", "pydantic-settings", "django-environ", "environs", "python-decouple", "dynaconf",
    "dotenv", "dotenv-flow", "dotenv-expand", "@dotenvx/dotenvx", "dotenvx", "next", "vite", "nuxt",
    "react-scripts", "@nestjs/config", "env-cmd", "dotenv-cli", "@t3-oss/env-nextjs", "astro",
    "@sveltejs/kit",
})


def _app_reads_dotenv(project: Project) -> bool:
    from dockaudit.parse.manifests import canonical

    names: set[str] = set()
    for document in project.requirements_files.values():
        names.update(canonical(r.name) for r in document.requirements)
    for document in project.pyprojects.values():
        names.update(canonical(r.name) for r in document.all_requirements())
    for document in project.package_jsons.values():
        for table in (document.dependencies, document.dev_dependencies):
            names.update(table)
    return bool(names & _DOTENV_LIBRARIES)


def _used_names(project: Project, composes: list[ComposeProject]) -> set[str]:
    used: set[str] = set()
    for compose in composes:
        used.update(use.name for use in compose.variables)
        for service in compose.services.values():
            used.update(service.environment)
            if service.build is not None:
                used.update(service.build.args)
    for dockerfile in project.dockerfiles.values():
        for stage in dockerfile.stages:
            used.update(stage.env)
            used.update(stage.args)
        used.update(dockerfile.global_arg_defaults)
    for config in project.nginx_configs.values():
        used.update(name for name, _span in config.env_refs)
    for env in project.env_files.values():
        for entry in env.entries:
            used.update(ref.name for ref in entry.refs)
    return used


@rule("DA302")
def template_key_unused(project: Project) -> Iterator[Finding]:
    """A key of the ``.env`` template that nothing reads.

    Only templates of a ``.env`` that serves compose interpolation alone are judged: ``.env``
    is no service's ``env_file``, no service bind-mounts its folder, no dependency of the project
    loads ``.env`` files in code (python-dotenv, pydantic-settings, Next.js, Vite...), and at
    least one key of the template is used by compose. A key is used when compose interpolates
    it, a service lists it in ``environment:`` or ``build.args``, a Dockerfile declares it as
    ``ENV``/``ARG``, an nginx template or another env file refers to it, or it is a compose /
    Docker CLI setting (``COMPOSE_*``, ``DOCKER_*``). Heuristic: the key may be read by a script
    dockaudit does not see.
    """
    composes_by_dir: dict[str, list[ComposeProject]] = {}
    for compose in project.compose_projects:
        composes_by_dir.setdefault(compose.directory, []).append(compose)
    if not composes_by_dir:
        return
    app_dotenv: bool | None = None
    used: set[str] | None = None
    for directory, composes in sorted(composes_by_dir.items()):
        dotenv = _join(directory, ".env")
        templates = template_for(project, dotenv)
        if not templates:
            continue
        if any(ref.path == dotenv for c in composes for s in c.services.values() for ref in s.env_files):
            continue
        if any(_mounts_folder(s, directory) for c in composes for s in c.services.values()):
            continue
        if app_dotenv is None:
            app_dotenv = _app_reads_dotenv(project)
        if app_dotenv:
            return
        if used is None:
            used = _used_names(project, list(project.compose_projects))
        for template in templates:
            env = project.env_file(template)
            if env is None:
                continue
            keys = [e for e in env.entries]
            if not any(e.key in used for e in keys):
                continue
            for entry in keys:
                if entry.key in used or entry.key.startswith(TOOL_PREFIXES):
                    continue
                yield Finding(
                    entry.key_span,
                    f"{entry.key} in {template} is used by nothing dockaudit can see: {dotenv} only feeds "
                    "compose interpolation (it is no service's env_file), and no compose file, Dockerfile "
                    "or "
                    f"nginx template refers to {entry.key}. A container does not get it",
                    related=tuple(Related(Span.whole_file(c.files[0]), "interpolated with " + dotenv)
                                  for c in composes[:1] if c.files),
                    fix=f"remove {entry.key}, or pass it to the service that needs it "
                        f"(`environment: {{{entry.key}: ${{{entry.key}}}}}`)",
                )


def _mounts_folder(service: Service, folder: str) -> bool:
    for volume in service.volumes:
        host = volume.host_path
        if volume.type != "bind" or host is None:
            continue
        if host == "." or folder == host or folder.startswith(host.rstrip("/") + "/"):
            return True
    return False


# --- DA303 -------------------------------------------------------------------------------------


@rule("DA303")
def env_file_missing(project: Project) -> Iterator[Finding]:
    """An ``env_file:`` that neither exists nor has a template, and is required.

    Compose refuses to start when a required env file is missing ("env file ... not found"), and
    nothing in the repository tells a newcomer which variables to put in it. When a template
    exists (``.env.production.example``) the file is created at deploy time and nothing is
    reported. Files in folders the scan skips are not judged.
    """
    from dockaudit.checks.compose import _excluded

    seen: set[Span] = set()
    orphans: dict[str, list[str]] | None = None
    for compose in project.compose_projects:
        for service in compose.services.values():
            for ref in service.env_files:
                if not ref.required or ref.outside or ref.path is None or ref.span in seen:
                    continue
                if _TEMPLATE_NAME.search(posixpath.basename(ref.span.path)):
                    continue  # docker-compose.override.example.yml: copied and adapted, not run
                if posixpath.basename(ref.path) == "stack.env":
                    continue  # Portainer writes stack.env from the variables entered in its UI
                if project.tree.exists(ref.path) or template_for(project, ref.path):
                    continue
                if _excluded(project, ref.path):
                    continue
                if orphans is None:
                    orphans = _orphan_templates(project)
                if orphans.get(posixpath.dirname(ref.path) or "."):
                    continue  # `sample.env` beside `speech.env`: a template under another name
                if _generated_by_script(project, compose.directory, ref.path):
                    continue  # `make .env` / `./setup.sh` writes it
                if _template_above(project, ref.path):
                    continue  # docker/nvidia/.env from docker/.env.example (`cp ../.env.example .env`)
                seen.add(ref.span)
                folder, name = posixpath.split(ref.path)
                example = _join(folder, f"{name}.example")
                yield Finding(
                    ref.span,
                    f"env_file {ref.raw!r} of service {service.name!r} does not exist ({ref.path}) and has "
                    "no "
                    f"template such as {example}: on a fresh checkout `docker compose up` fails with "
                    "\"env file not found\", and nothing says which variables it needs",
                    fix=f"commit a template ({example}) listing the variables with empty values, or make the "
                        f"file optional (`env_file: [{{path: {ref.raw}, required: false}}]`, compose 2.24+)",
                )


_TEMPLATE_NAME = re.compile(r"(?i)example|sample|template|dist\b|tpl")


_SCRIPT_NAMES = re.compile(r"(?i)^(?:makefile|gnumakefile|justfile|taskfile\.ya?ml"
                           r"|[\w.-]+\.(?:sh|bash|ps1|mk))$")


def _generated_by_script(project: Project, directory: str, env_path: str) -> bool:
    """Does a Makefile or shell script beside the compose file (or at the root) write the env
    file?"""
    name = re.escape(posixpath.basename(env_path))
    writes = re.compile(rf"(?m)(?:>>?|\bcp\s+\S+|\btee(?:\s+-a)?|\bmv\s+\S+)\s*['\"]?(?:\S*/)?{name}"
                        rf"['\"]?(?:\s|$)|^(?:\S*/)?{name}\s*:")
    folders = {directory, "."}
    for path in project.tree.files:
        folder, base = posixpath.split(path)
        if (folder or ".") not in folders or not _SCRIPT_NAMES.match(base):
            continue
        source = project.source(path)
        if source is not None and writes.search(source.text):
            return True
    return False


def _template_above(project: Project, env_path: str) -> bool:
    """Is there a template of the same name in a folder above (shared by several variants)?"""
    folder, name = posixpath.split(env_path)
    while folder:
        folder = posixpath.dirname(folder)
        if template_for(project, _join(folder or ".", name)):
            return True
    return False


def _orphan_templates(project: Project) -> dict[str, list[str]]:
    """Env templates (by folder) that are the conventional template of no ``env_file:`` of the
    project (``sample.env`` may document ``speech.env``)."""
    claimed: set[str] = set()
    for compose in project.compose_projects:
        for service in compose.services.values():
            for ref in service.env_files:
                if ref.path is not None:
                    claimed.update(template_for(project, ref.path))
    out: dict[str, list[str]] = {}
    for path, kind in project.tree.classified.items():
        if kind != "env" or path in claimed:
            continue
        env = project.env_file(path)
        if env is not None and env.is_template:
            out.setdefault(posixpath.dirname(path) or ".", []).append(path)
    return out


# --- secrets -------------------------------------------------------------------------------------

_SECRET_KEY = re.compile(
    r"(?i)(?:^|_)(?:secret|password|passwd|pass|pwd|token|api_?key|apikey|secret_?key|access_?key|client_?secret"
    r"|auth_?key|signing_?key|encryption_?key|credentials?)$|private_?key")
_NOT_SECRET_KEY = re.compile(r"(?i)(?:_file|_path|_dir|_url|_uri|_host|_user|_username|_name|_id)$|^pwd$")
_KNOWN_TOKENS = re.compile(
    r"^(?:AKIA|ASIA)[0-9A-Z]{16}$|^sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}$|^gh[pousr]_[A-Za-z0-9]{30,}$"
    r"|^github_pat_[A-Za-z0-9_]{40,}$|^xox[abprs]-[A-Za-z0-9-]{10,}$|^glpat-[A-Za-z0-9_\-]{20,}$"
    r"|^AIza[0-9A-Za-z_\-]{35}$|^hf_[A-Za-z0-9]{30,}$|^sk_live_[A-Za-z0-9]{20,}$|^rk_live_[A-Za-z0-9]{20,}$"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n|\s)*[A-Za-z0-9+/=\s\\n]{200,}")
_PLACEHOLDER = re.compile(
    r"(?i)^<.*>$|^\[.*\]$|^\{\{.*\}\}$|^x{3,}$|^\*{3,}$|^\.{3}|^-+$|change|your[-_ ]?|example|placeholder"
    r"|replace"
    r"|todo|fixme|dummy|fake|sample|xxx|insert|fill[-_ ]?in|generate|redacted|\$\{|\$\(|^(?:none|null|nil|"
    r"false|true|empty|undefined)$")
#: words in a value that mark it as a made-up default rather than a generated secret
_DICTIONARY = re.compile(r"(?i)secret|passw|token|change|default|sample|demo|insecure|unsafe|test|local|dev"
                         r"|key|admin|user|pass")
_WEAK = frozenset({
    "changeme", "change_me", "change-me", "changeit", "change_it", "secret", "secrets", "password", "passwd",
    "pass", "123456", "12345678", "123456789", "1234", "12345", "1234567890", "admin", "root", "test",
    "default",
    "qwerty", "letmein", "supersecret", "super_secret", "super-secret", "mysecret", "my_secret", "my-secret",
    "secretkey", "secret_key", "secret-key", "mypassword", "password123", "password1", "admin123", "p@ssw0rd",
    "pa55word", "postgres", "mysql", "guest", "token", "jwt_secret", "jwtsecret", "key", "apikey",
})
_WEAK_PATTERN = re.compile(
    r"(?i)^(?:please[-_ ]?)?change[-_ ]?(?:me|it|this)|^(?:your|my)[-_ ]?(?:super[-_ ]?)?(?:[a-z]+[-_ ])?"
    r"(?:secret|password|token|key)(?:[-_ ]?(?:key|here|value))*$|^(?:secret|password)\d*$")
#: names of files and folders that hold test data, where only unmistakable tokens count
_TEST_WORDS = re.compile(r"(?i)(?:^|[./_-])(?:test|tests|testing|fixtures?|mock|demo|dev|development|local|ci"
                         r"|e2e)"
                         r"(?:$|[./_-])")


#: secrets the deployment makes up itself (a guessable value is exploitable), as opposed to keys and
#: tokens a third party issues (a placeholder there only breaks the integration)
_OWN_SECRET_KEY = re.compile(
    r"(?i)(?:^|_)(?:password|passwd|pass|pwd|secret|secret_?key|signing_?key|encryption_?key|app_?key"
    r"|session_?key|private_?key|jwt_?secret|jwt_?key|master_?key)$")
_THIRD_PARTY = re.compile(r"(?i)client_?secret|(?:^|_)(?:slack|github|gitlab|google|azure|aws|stripe|openai"
                          r"|twilio|sendgrid|mailgun|smtp|oidc|oauth|discord|telegram)_")


def is_secret_key(key: str) -> bool:
    """Does a variable name say it holds a secret (``JWT_SECRET``, ``DB_PASSWORD``, ``*_API_KEY``)?"""
    return bool(_SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.search(key)


def looks_real(value: str, strict: bool = False) -> bool:
    """Does a value look like a real secret rather than a placeholder or a dev default?"""
    text = value.strip()
    if re.search(r"(?i)example|dummy|fake|placeholder|x{6,}|0{8,}", text):
        return False  # AWS's documented AKIAIOSFODNN7EXAMPLE and friends
    if _KNOWN_TOKENS.search(text):
        return True
    if strict or len(text) < 8 or text.lower() in _WEAK or _PLACEHOLDER.search(text):
        return False
    if _DICTIONARY.search(text):
        return False  # "taiga-secret-key", "django-insecure-...": a default, not a leaked secret
    if text.startswith(("/", "./", "~/", "file:", "http://", "https://")) or len(text.split()) > 2:
        return False
    classes = sum(bool(re.search(p, text)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if len(set(text)) < 5:
        return False
    return (len(text) >= 16 and classes >= 2) or classes >= 3


def mask(value: str) -> str:
    """A value shown without giving it away: its first characters (for long values) and length."""
    text = value.strip()
    if len(text) >= 16:
        return f"`{text[:3]}…` ({len(text)} characters)"
    return f"({len(text)} characters)"


def _gitignore_patterns(project: Project, folder: str) -> list[tuple[bool, bool, bool, re.Pattern[str]]]:
    path = _join(folder, ".gitignore")
    if path not in project.tree.files:
        return []
    source = project.source(path)
    if source is None:
        return []
    out = []
    for line in source.text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        out.append((negated, dir_only, anchored, _glob(line)))
    return out


def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            close = pattern.find("]", i + 1)
            if close == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:close].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = close
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def is_gitignored(project: Project, relpath: str) -> bool:
    """Do the ``.gitignore`` files of the root and the folders above ``relpath`` ignore it?"""
    parts = relpath.split("/")
    ignored = False
    for depth in range(len(parts)):
        folder = "/".join(parts[:depth]) or "."
        patterns = _gitignore_patterns(project, folder)
        if not patterns:
            continue
        rest = parts[depth:]
        candidates = ["/".join(rest[:k]) for k in range(1, len(rest) + 1)]
        for negated, dir_only, anchored, regex in patterns:
            for index, candidate in enumerate(candidates):
                is_dir = index < len(candidates) - 1
                if dir_only and not is_dir:
                    continue
                subject = candidate if anchored else candidate.rsplit("/", 1)[-1]
                if regex.match(subject):
                    ignored = not negated
                    break
    return ignored


@rule("DA304")
def committed_secret(project: Project) -> Iterator[Finding]:
    """An env file in the project, or a compose ``environment:`` entry, holds a real-looking secret.

    Keys named like secrets (``*_SECRET``, ``*_PASSWORD``, ``*_TOKEN``, ``*_API_KEY``,
    ``*PRIVATE_KEY*``, AWS keys) with a value that is not empty, not a placeholder
    (``changeme``, ``<...>``, ``xxx``, ``${...}``) and looks random (length, mixed characters) or
    matches a known token format (``AKIA...``, ``sk-...``, ``ghp_...``). Env files that are
    templates or ignored by ``.gitignore`` are skipped; in test/dev files only known token
    formats count. Compose ``environment:`` literals are reported as warnings. Values are masked
    in messages. Heuristic.
    """
    for relpath, env in sorted(project.env_files.items()):
        if env.is_template or is_gitignored(project, relpath):
            continue
        strict = bool(_TEST_WORDS.search(relpath))
        for entry in env.entries:
            if not entry.has_equals or not is_secret_key(entry.key) or entry.refs or "$" in entry.raw:
                continue
            if not looks_real(entry.value, strict):
                continue
            templates = template_for(project, relpath)
            keep = templates[0] if templates else f"{relpath}.example"
            yield Finding(
                entry.value_span,
                f"{entry.key} in {relpath} holds what looks like a real secret {mask(entry.value)}, and the "
                "file "
                "is part of the project (not a template, not in .gitignore): whoever has the repository or "
                "the "
                f"build context has the secret",
                fix=f"remove {relpath} from version control, add it to .gitignore, rotate the secret, and "
                    "keep "
                    f"the key with an empty value in {keep}",
            )
    seen: set[Span] = set()
    for compose in project.compose_projects:
        for service in compose.services.values():
            for key, node in _environment_literals(project, service):
                if node.span in seen:
                    continue
                seen.add(node.span)
                yield Finding(
                    node.span,
                    f"`{key}` of service {service.name!r} is written into the compose file with what looks "
                    "like a "
                    f"real secret {mask(_literal_value(node, key))}",
                    fix=f"use interpolation (`{key}: ${{{key}:?set {key} in .env}}`), an env_file that is "
                        "not "
                        "committed, or compose secrets",
                    severity=Severity.WARNING,
                )


def _raw_text(project: Project, node: Node) -> str | None:
    source = project.sources.get(node.span.path)
    if source is None:
        return None
    return source.text[node.start:node.end]


def _literal_value(node: Node, key: str) -> str:
    value = "" if node.value is None else str(node.value)
    if node.kind == "scalar" and value.startswith(key + "="):
        value = value[len(key) + 1:]
    return value


def _environment_literals(project: Project, service: Service) -> Iterator[tuple[str, Node]]:
    env = service.node_at("environment")
    if env is None:
        return
    if env.kind == "map":
        items = [(key, child) for key, child in env.value.items()]
    elif env.kind == "seq":
        items = [(str(item.value).partition("=")[0], item) for item in env.value
                 if item.kind == "scalar" and item.value is not None and "=" in str(item.value)]
    else:
        return
    for key, node in items:
        if node.kind != "scalar" or node.value is None or not is_secret_key(key):
            continue
        raw = _raw_text(project, node)
        if raw is None or "$" in raw:
            continue
        if looks_real(_literal_value(node, key), bool(_TEST_WORDS.search(node.span.path))):
            yield key, node


# --- DA305 -------------------------------------------------------------------------------------


def is_weak(value: str) -> bool:
    """A placeholder secret that works as is, and so tends to be deployed unchanged."""
    text = value.strip().strip("\"'")
    if not text:
        return False
    return text.lower() in _WEAK or bool(_WEAK_PATTERN.search(text))


@rule("DA305")
def weak_template_secret(project: Project) -> Iterator[Finding]:
    """An env template gives a secret a weak value that works as is (``JWT_SECRET=changeme``).

    Whoever copies the template and forgets one line deploys a guessable secret, and the app
    starts without complaint. An empty value (the app or compose then fails loudly) or an
    instruction such as ``<generate with openssl rand -hex 32>`` is fine.
    """
    for relpath, env in sorted(project.env_files.items()):
        if not env.is_template:
            continue
        for entry in env.entries:
            if not entry.has_equals or not is_secret_key(entry.key) or entry.refs:
                continue
            if not _OWN_SECRET_KEY.search(entry.key) or _THIRD_PARTY.search(entry.key):
                continue
            if not is_weak(entry.value):
                continue
            yield Finding(
                entry.value_span,
                f"{entry.key}={entry.raw} in the template {relpath} is a weak secret that works as is: a "
                "deploy "
                "that copies the template and misses this line runs with a guessable secret",
                fix=f"leave it empty (`{entry.key}=`) or write how to make one "
                    f"(`{entry.key}=<openssl rand -hex 32>`), and make the app refuse to start without it",
            )


# --- DA306 -------------------------------------------------------------------------------------


@rule("DA306")
def env_duplicate_key(project: Project) -> Iterator[Finding]:
    """A key is defined twice in one env file; compose silently uses the last value.

    The first definition is dead text that readers (and ``grep``) take for the setting.
    """
    for relpath, env in sorted(project.env_files.items()):
        first: dict[str, EnvEntry] = {}
        for entry in env.entries:
            previous = first.get(entry.key)
            if previous is None:
                first[entry.key] = entry
                continue
            yield Finding(
                entry.key_span,
                f"{entry.key} is defined again in {relpath} (first on line {previous.key_span.line}); "
                "compose "
                "uses this last value and ignores the first",
                related=(Related(previous.key_span, f"first {entry.key}"),),
                fix=f"keep one {entry.key} line",
            )
