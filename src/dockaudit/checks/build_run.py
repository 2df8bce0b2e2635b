"""Cross-file rules about what a service builds and what it then runs (DA501–DA506).

A compose service builds a stage of a Dockerfile (or uses an image another service builds) and
starts a command in it. These rules ask whether that image really has the command
(:func:`command_not_in_image`), the files the command reads (:func:`command_file_not_in_image`),
the tool its healthcheck calls (:func:`healthcheck_tool_missing`), whether two services tag
different builds with one image name (:func:`shared_image_tag`), and whether ``build.args`` and
the Dockerfile's ``ARG`` declarations agree (:func:`build_arg_not_declared`,
:func:`required_arg_not_passed`). What an image contains comes from
:mod:`dockaudit.link.contents`; a service whose ``build.target`` does not exist is left to DA202.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.link.contents import (
    LIKELY_NO,
    NO,
    UNKNOWN,
    YES,
    Presence,
    StageContents,
    contents_of,
    guessed_context,
    node_bin_packages,
    python_module_packages,
    python_script_packages,
)
from dockaudit.link.services import ServiceBuild, lineage, service_builds, start_command
from dockaudit.parse.dockerfile import BUILTIN_ARGS
from dockaudit.shell import SHELLS, command_from_argv, split_commands
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.compose import Service
    from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage
    from dockaudit.project import Project

#: shell builtins and words that are not programs to look up
BUILTINS = frozenset(
    {
        "cd",
        "echo",
        "exit",
        "export",
        "set",
        "unset",
        "test",
        "[",
        "[[",
        "true",
        "false",
        ":",
        "printf",
        "read",
        "source",
        ".",
        "eval",
        "exec",
        "trap",
        "wait",
        "shift",
        "return",
        "local",
        "readonly",
        "umask",
        "ulimit",
        "type",
        "command",
        "hash",
        "alias",
        "let",
        "declare",
        "typeset",
        "builtin",
        "times",
        "kill",
        "getopts",
    }
)
#: ARGs Docker defines by itself (proxies, BuildKit switches, platform)
PREDEFINED_ARGS = (
    frozenset(
        {
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "FTP_PROXY",
            "ftp_proxy",
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
            "SOURCE_DATE_EPOCH",
        }
    )
    | BUILTIN_ARGS
)
PYTHON_SERVERS = frozenset({"uvicorn", "gunicorn", "hypercorn", "granian", "daphne"})
_PYTHON = re.compile(r"^python(?:\d+(?:\.\d+)*)?$")
_MODULE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PRISMA_SCHEMA_COMMANDS = frozenset({"migrate", "generate", "db", "validate", "format", "studio"})


# --- what runs where -------------------------------------------------------------------------


@dataclass
class RunTarget:
    """A container that runs an image whose build dockaudit can see."""

    stage: Stage
    contents: StageContents
    dockerfile_path: str
    link: ServiceBuild | None = None
    #: the service uses an image another service builds
    borrowed_from: ServiceBuild | None = None

    @property
    def service(self) -> Service | None:
        return self.link.service if self.link is not None else None

    @property
    def workdir(self) -> str:
        service = self.service
        if service is not None and service.working_dir:
            return posixpath.normpath(posixpath.join(self.contents.workdir, service.working_dir))
        return self.contents.workdir

    @property
    def who(self) -> str:
        if self.service is not None:
            return f"service {self.service.name!r}"
        return f"the image of {self.dockerfile_path}"

    @property
    def where(self) -> str:
        text = f"{self.stage.label} of {self.dockerfile_path}"
        if self.borrowed_from is not None:
            text += f" (built by service {self.borrowed_from.service.name!r})"
        return text


def _dockerfile_ok(document: Dockerfile | None) -> bool:
    return (
        document is not None
        and bool(document.stages)
        and not any(d.rule == "DA001" for d in document.diagnostics)
    )


def _run_targets(project: Project) -> list[RunTarget]:
    cached = project.__dict__.get("_run_targets")
    if cached is not None:
        return cached
    targets: list[RunTarget] = []
    built: set[str] = set()
    by_image: dict[tuple[int, str], ServiceBuild] = {}
    links = service_builds(project)
    for link in links:
        build = link.service.build
        if build is None or link.stage is None or link.target_missing or not _dockerfile_ok(link.dockerfile):
            continue
        if link.dockerfile_path is None:
            continue
        context = build.context if not (build.remote or build.outside) else None
        contents = contents_of(project, link.stage, context, link.dockerfile_path, build.args)
        targets.append(RunTarget(link.stage, contents, link.dockerfile_path, link))
        built.add(link.dockerfile_path)
        if link.service.image:
            by_image.setdefault((id(link.compose), link.service.image), link)
    for link in links:
        service = link.service
        if service.build is not None or not service.image:
            continue
        builder = by_image.get((id(link.compose), service.image))
        if builder is None or builder.stage is None:
            continue
        source = next((t for t in targets if t.link is builder), None)
        if source is None:
            continue
        targets.append(
            RunTarget(builder.stage, source.contents, source.dockerfile_path, link, borrowed_from=builder)
        )
    for path, document in sorted(project.dockerfiles.items()):
        if path in built or not _dockerfile_ok(document):
            continue
        stage = document.final_stage
        if stage is None:
            continue
        context = guessed_context(project, path, stage)
        targets.append(RunTarget(stage, contents_of(project, stage, context, path), path))
    project.__dict__["_run_targets"] = targets
    return targets


def _external_services(project: Project) -> Iterator[tuple[Service, str]]:
    """Services that only run a registry image nobody in the project builds."""
    built_images = {
        (id(link.compose), link.service.image)
        for link in service_builds(project)
        if link.service.build is not None and link.service.image
    }
    for link in service_builds(project):
        service = link.service
        if service.build is None and service.image and (id(link.compose), service.image) not in built_images:
            yield service, service.image


# --- reading commands ------------------------------------------------------------------------


@dataclass
class Need:
    """Something a command needs in the image."""

    kind: str  # exe, npx, py-module, file, npm-script, prisma-schema, alembic-ini, py-app
    name: str
    word: str
    cwd: str
    command: str
    explicit: str | None = None
    extra: dict = field(default_factory=dict)


def _option_value(args: list[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg[len(name) + 1 :]
            if not name.startswith("--") and len(name) == 2 and arg.startswith(name) and len(arg) > 2:
                return arg[2:]
    return None


def _positionals(args: list[str], takes_value: set[str]) -> list[str]:
    out = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            out.extend(args[index:])
            break
        if arg.startswith("-") and len(arg) > 1:
            if "=" not in arg and arg in takes_value:
                index += 1
            continue
        out.append(arg)
    return out


_SERVER_VALUES = {
    "uvicorn": {
        "--host",
        "--port",
        "--uds",
        "--fd",
        "--reload-dir",
        "--reload-include",
        "--reload-exclude",
        "--reload-delay",
        "--workers",
        "--loop",
        "--http",
        "--ws",
        "--ws-max-size",
        "--ws-max-queue",
        "--ws-ping-interval",
        "--ws-ping-timeout",
        "--ws-per-message-deflate",
        "--lifespan",
        "--interface",
        "--env-file",
        "--log-config",
        "--log-level",
        "--root-path",
        "--limit-concurrency",
        "--backlog",
        "--limit-max-requests",
        "--timeout-keep-alive",
        "--timeout-graceful-shutdown",
        "--ssl-keyfile",
        "--ssl-certfile",
        "--ssl-keyfile-password",
        "--ssl-version",
        "--ssl-cert-reqs",
        "--ssl-ca-certs",
        "--ssl-ciphers",
        "--header",
        "--app-dir",
        "--h11-max-incomplete-event-size",
        "--forwarded-allow-ips",
    },
    "gunicorn": {
        "-c",
        "--config",
        "-b",
        "--bind",
        "-w",
        "--workers",
        "-k",
        "--worker-class",
        "--threads",
        "--worker-connections",
        "--max-requests",
        "--max-requests-jitter",
        "-t",
        "--timeout",
        "--graceful-timeout",
        "--keep-alive",
        "--chdir",
        "--pythonpath",
        "--log-level",
        "--access-logfile",
        "--error-logfile",
        "--log-file",
        "--access-logformat",
        "--log-config",
        "-u",
        "--user",
        "-g",
        "--group",
        "-e",
        "--env",
        "-n",
        "--name",
        "--forwarded-allow-ips",
        "--backlog",
        "-p",
        "--pid",
        "--worker-tmp-dir",
        "--certfile",
        "--keyfile",
        "--limit-request-line",
        "--statsd-host",
        "--logger-class",
        "-m",
        "--umask",
        "--capture-output",
    },
    "hypercorn": {
        "-b",
        "--bind",
        "-w",
        "--workers",
        "-k",
        "--worker-class",
        "-c",
        "--config",
        "--root-path",
        "--log-level",
        "--access-logfile",
        "--error-logfile",
        "--certfile",
        "--keyfile",
        "--keep-alive",
        "--graceful-timeout",
        "--backlog",
        "-u",
        "-g",
        "--user",
        "--group",
        "--umask",
        "--pid",
        "--access-logformat",
        "--log-config",
        "--quic-bind",
        "--insecure-bind",
    },
    "granian": {
        "--host",
        "--port",
        "--interface",
        "--workers",
        "--threads",
        "--blocking-threads",
        "--runtime-threads",
        "--loop",
        "--http",
        "--backlog",
        "--log-level",
        "--ssl-keyfile",
        "--ssl-certificate",
        "--url-path-prefix",
        "--working-dir",
        "--respawn-interval",
        "--pid-file",
        "--workers-lifetime",
        "--runtime-mode",
        "--task-impl",
        "--backpressure",
        "--log-config",
        "--access-log-fmt",
        "--ssl-keyfile-password",
        "--static-path-route",
        "--static-path-mount",
    },
    "daphne": {
        "-b",
        "--bind",
        "-p",
        "--port",
        "-u",
        "--unix-socket",
        "--fd",
        "-e",
        "--endpoint",
        "--websocket_timeout",
        "--ping-interval",
        "--ping-timeout",
        "--application-close-timeout",
        "--root-path",
        "--access-log",
        "--log-fmt",
        "-v",
        "--verbosity",
        "--proxy-headers-host",
        "--proxy-headers-port",
        "--server-name",
    },
}
_NODE_VALUES = {
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "--env-file",
    "--inspect-port",
    "--max-old-space-size",
    "--title",
    "--input-type",
    "--conditions",
    "-C",
    "--stack-size",
}
_PY_VALUES = {"-X", "-W", "--check-hash-based-pycs"}


def _is_install(words: list[str]) -> bool:
    from dockaudit.installs import INSTALL_ACTIONS, _detect

    try:
        detected = _detect(words)
    except Exception:
        return False
    if detected is None:
        return False
    manager, parsed = detected
    return manager != "npx" and parsed.action in INSTALL_ACTIONS.get(manager, ())


def command_needs(words: list[str], cwd: str, depth: int = 0) -> list[Need]:
    """What the command ``words`` (started in ``cwd``) needs from the image."""
    needs: list[Need] = []
    _analyse(list(words), cwd, needs, depth)
    return needs


def _script_needs(script: str, cwd: str, needs: list[Need], depth: int) -> None:
    for command in split_commands(script):
        words = command.words
        if not words:
            continue
        if command.name == "cd":
            target = words[1] if len(words) > 1 else None
            if target is None or "$" in target or target == "-":
                return
            cwd = posixpath.normpath(posixpath.join(cwd, target))
            continue
        if _is_install(words):
            return  # later commands may use what this installs at run time
        if command.name in ("if", "command", "which", "type", "hash"):
            return
        _analyse(words, cwd, needs, depth + 1)


def _analyse(words: list[str], cwd: str, needs: list[Need], depth: int) -> None:
    if not words or depth > 4:
        return
    program = words[0]
    if "$" in program or "`" in program:
        return
    base = posixpath.basename(program)
    args = words[1:]
    text = " ".join(words)
    if base in BUILTINS or not base:
        return
    needs.append(Need("exe", program, program, cwd, text))
    if base in SHELLS:
        script_index = None
        for index, arg in enumerate(args):
            if arg.startswith("-") and "c" in arg[1:] and not arg.startswith("--"):
                script_index = index + 1
                break
            if not arg.startswith("-"):
                break
        if script_index is not None and script_index < len(args):
            _script_needs(args[script_index], cwd, needs, depth)
        elif args and not args[0].startswith("-") and "$" not in args[0]:
            needs.append(Need("file", args[0], args[0], cwd, text, extra={"what": "script"}))
        return
    if base == "npx" or (base in ("npm", "pnpm") and args[:1] in (["exec"], ["x"], ["dlx"])):
        rest = args[1:] if base != "npx" else args
        package = _option_value(rest, "-p", "--package")
        positionals = _positionals(rest, {"-p", "--package", "-c", "--call", "--cache", "-w", "--workspace"})
        if not positionals or "$" in positionals[0]:
            return
        spec = positionals[0]
        name = re.sub(r"(?<=.)@[^/]*$", "", spec)
        bin_name = name.rsplit("/", 1)[-1] if package is None else spec
        if base == "pnpm" and args[:1] == ["dlx"]:
            return  # downloads by design
        explicit_download = any(a in ("-y", "--yes") for a in rest[: rest.index(spec)] if spec in rest)
        needs.append(
            Need(
                "npx",
                bin_name,
                spec,
                cwd,
                text,
                extra={"via": base, "package": package, "yes": explicit_download},
            )
        )
        after = rest[rest.index(spec) + 1 :] if spec in rest else []
        _tool(bin_name, after, cwd, text, needs)
        return
    if base in ("npm", "yarn", "pnpm"):
        positionals = _positionals(
            args, {"--prefix", "-w", "--workspace", "--cwd", "-C", "--dir", "--filter"}
        )
        prefix = _option_value(args, "--prefix", "--cwd", "-C", "--dir")
        folder = posixpath.normpath(posixpath.join(cwd, prefix)) if prefix and "$" not in prefix else cwd
        if not positionals:
            return
        action = positionals[0]
        if action in ("start", "test", "stop", "restart"):
            needs.append(Need("npm-script", action, action, folder, text, extra={"via": base}))
        elif (
            action in ("run", "run-script", "rum", "urn")
            and len(positionals) > 1
            and "$" not in positionals[1]
        ):
            needs.append(
                Need("npm-script", positionals[1], positionals[1], folder, text, extra={"via": base})
            )
        return
    if base in ("node", "nodejs", "bun", "deno"):
        if base != "node" and base != "nodejs":
            return
        if any(a in ("-e", "--eval", "-p", "--print", "-i", "--interactive", "-") for a in args):
            return
        positionals = _positionals(args, _NODE_VALUES)
        if positionals and "$" not in positionals[0]:
            needs.append(Need("file", positionals[0], positionals[0], cwd, text, extra={"what": "node"}))
        return
    if _PYTHON.match(base):
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "-m" and index + 1 < len(args):
                module = args[index + 1]
                if "$" in module:
                    return
                needs.append(Need("py-module", module, module, cwd, text))
                _tool(module.split(".", 1)[0], args[index + 2 :], cwd, text, needs)
                return
            if arg.startswith("-m") and len(arg) > 2:
                needs.append(Need("py-module", arg[2:], arg, cwd, text))
                return
            if arg in ("-c", "-") or arg.startswith("-c"):
                return
            if arg in _PY_VALUES:
                index += 2
                continue
            if arg.startswith("-"):
                index += 1
                continue
            if "$" not in arg:
                needs.append(Need("file", arg, arg, cwd, text, extra={"what": "python"}))
            return
        return
    _tool(base, args, cwd, text, needs)


def _tool(name: str, args: list[str], cwd: str, text: str, needs: list[Need]) -> None:
    """Files and modules a well-known tool reads, given its arguments."""
    if name == "prisma":
        positionals = _positionals(args, {"--schema", "--name", "-n", "--url", "--from-url", "--to-url"})
        if positionals and positionals[0] in _PRISMA_SCHEMA_COMMANDS:
            explicit = _option_value(args, "--schema")
            needs.append(Need("prisma-schema", "schema.prisma", positionals[0], cwd, text, explicit=explicit))
        return
    if name == "alembic":
        positionals = _positionals(args, {"-c", "--config", "-n", "--name", "-x", "--raiseerr"})
        if positionals and positionals[0] not in ("init", "list_templates", "--help"):
            explicit = _option_value(args, "-c", "--config")
            needs.append(Need("alembic-ini", "alembic.ini", positionals[0], cwd, text, explicit=explicit))
        return
    if name in PYTHON_SERVERS:
        positionals = _positionals(args, _SERVER_VALUES.get(name, set()))
        app_dir = _option_value(args, "--app-dir", "--chdir", "--working-dir")
        if name == "granian" or not positionals:
            return
        spec = positionals[0]
        module = spec.split(":", 1)[0]
        if "$" in spec or not _MODULE_PATH.match(module):
            return
        if name == "gunicorn" and ":" not in spec and "(" not in spec:
            pass
        needs.append(
            Need(
                "py-app",
                module,
                spec,
                cwd,
                text,
                explicit=app_dir if app_dir and "$" not in app_dir else None,
            )
        )
        return
    if name == "celery":
        app = _option_value(args, "-A", "--app")
        if app and "$" not in app:
            module = app.split(":", 1)[0]
            if _MODULE_PATH.match(module):
                needs.append(Need("py-app", module, app, cwd, text))
        return
    if name == "streamlit":
        positionals = _positionals(args, {"--server.port", "--server.address"})
        if (
            len(positionals) > 1
            and positionals[0] == "run"
            and "$" not in positionals[1]
            and "://" not in positionals[1]
        ):
            needs.append(Need("file", positionals[1], positionals[1], cwd, text, extra={"what": "python"}))


# --- spans -----------------------------------------------------------------------------------


def _image_start_instructions(stage: Stage) -> list[Instruction]:
    found: dict[str, Instruction] = {}
    for member in reversed(lineage(stage)):
        for inst in member.instructions:
            if inst.keyword == "ENTRYPOINT":
                found["ENTRYPOINT"] = inst
                found.pop("CMD", None)
            elif inst.keyword == "CMD":
                found["CMD"] = inst
    return [found[k] for k in ("ENTRYPOINT", "CMD") if k in found]


def _word_span(target: RunTarget, word: str, fallback: Span | None) -> tuple[Span, str]:
    """Where ``word`` of the start command is written, and a label for it."""
    service = target.service
    if service is not None:
        for key in ("command", "entrypoint"):
            value = getattr(service, key)
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if str(item) == word:
                        return service.value_span_of(key, index), f"the {key} of service {service.name!r}"
                if any(word in str(item) for item in value):
                    for index, item in enumerate(value):
                        if word in str(item):
                            return service.value_span_of(key, index), f"the {key} of service {service.name!r}"
            elif isinstance(value, str) and word in value:
                return service.value_span_of(key), f"the {key} of service {service.name!r}"
        if service.command is not None or service.entrypoint is not None:
            key = "command" if service.command is not None else "entrypoint"
            return service.value_span_of(key), f"the {key} of service {service.name!r}"
    for inst in _image_start_instructions(target.stage):
        if word in inst.line or any(word in a for a in (inst.json_args or [])):
            return inst.locate(word), f"the {inst.keyword} of {target.dockerfile_path}"
    starts = _image_start_instructions(target.stage)
    if starts:
        return starts[-1].span, f"the {starts[-1].keyword} of {target.dockerfile_path}"
    return fallback or Span(target.dockerfile_path, 1, 1, 1, 1), "the command"


def _target_related(target: RunTarget) -> list[Related]:
    out: list[Related] = []
    service = target.service
    if (
        service is not None
        and target.borrowed_from is None
        and service.build is not None
        and service.build.target
    ):
        out.append(
            Related(
                service.value_span_of("build", "target"),
                f"service {service.name!r} builds {target.stage.label}",
            )
        )
    elif target.borrowed_from is not None:
        builder = target.borrowed_from.service
        out.append(Related(builder.value_span_of("image"), f"service {builder.name!r} builds this image"))
    out.append(Related(target.stage.from_instruction.span, f"{target.stage.label} starts here"))
    return out


def _start_words(target: RunTarget) -> tuple[list[str], Span | None, list[str]] | None:
    """(words, span, wrappers) of what the container starts, or None."""
    if target.link is not None:
        link = target.link
        if target.borrowed_from is not None:
            link = ServiceBuild(
                link.compose,
                link.service,
                target.borrowed_from.dockerfile_path,
                target.borrowed_from.dockerfile,
                target.stage,
            )
        started = start_command(link)
        if started is None or not started.words:
            return None
        return list(started.words), started.span, list(started.wrappers)
    starts = _image_start_instructions(target.stage)
    words: list[str] = []
    for inst in starts:
        if inst.json_args is not None:
            words.extend(inst.json_args)
        else:
            commands = split_commands(inst.value)
            if not commands:
                return None
            words.extend(commands[0].words)
    if not words:
        return None
    return words, starts[-1].span if starts else None, []


def _entrypoint_passes_args(target: RunTarget, words: list[str]) -> bool | None:
    """For an entrypoint script: does it ``exec "$@"`` (True), or is it unreadable (None)?"""
    program = words[0]
    path = posixpath.normpath(posixpath.join(target.workdir, program))
    relpath = target.contents.context_source(path)
    if relpath is None:
        return None
    source = target.contents.project.source(relpath)
    if source is None:
        return None
    return '"$@"' in source.text or "$@" in source.text


def _guarded(check, *args) -> list[Finding]:
    """Run ``check(*args)``; a pathologically nested input (RecursionError) yields nothing."""
    try:
        return list(check(*args))
    except RecursionError:
        return []


# --- DA501 -----------------------------------------------------------------------------------


def _other_stages_with(target: RunTarget, check) -> list[Stage]:
    document = target.stage.dockerfile
    if document is None:
        return []
    out = []
    for stage in document.stages:
        if stage is target.stage:
            continue
        contents = contents_of(
            target.contents.project,
            stage,
            target.contents.context,
            target.dockerfile_path,
            target.link.service.build.args
            if target.link is not None and target.link.service.build is not None
            else None,
        )
        try:
            if check(contents).state == YES:
                out.append(stage)
        except RecursionError:
            continue
    return out


def _severity(presence: Presence, cap: Severity | None = None) -> Severity | None:
    severity = None if presence.state == NO else Severity.WARNING
    if cap is not None and (severity is None or severity > cap):
        return cap
    return severity


def _suggest_stage(target: RunTarget, stages: list[Stage]) -> str:
    named = [s for s in stages if s.name]
    if not named:
        return ""
    names = ", ".join(repr(s.name) for s in named[:3])
    verb = "has" if len(named) == 1 else "have"
    if target.service is not None and target.borrowed_from is None:
        return f" ({names} {verb} it: build that target instead?)"
    return f" ({names} {verb} it: copy it from there with COPY --from=<stage>?)"


def _check_executable(target: RunTarget, need: Need) -> Presence:
    contents = target.contents
    program = need.name
    if "/" in program:
        normalized = posixpath.normpath(program)
        if "node_modules/.bin/" in normalized + "/":
            folder = normalized.split("node_modules/.bin")[0].rstrip("/") or "."
            folder = posixpath.normpath(posixpath.join(need.cwd, folder))
            return contents.node_bin(posixpath.basename(normalized), folder)
        path = posixpath.normpath(posixpath.join(need.cwd, program))
        found = contents.file(path)
        if found.state == YES:
            return found
        directory = posixpath.dirname(path)
        if directory in (
            "/usr/local/bin",
            "/usr/bin",
            "/bin",
            "/usr/local/sbin",
            "/usr/sbin",
            "/sbin",
        ) or re.search(r"/(?:\.?venv|env)/bin$", directory):
            return contents.executable(posixpath.basename(path))
        if found.state != NO:
            return found
        # a script of the project: certain only when the build context has it and it was left out
        relative = program[2:] if program.startswith("./") else program.lstrip("/")
        candidates = _in_context(
            target, lambda p: p == relative or p.endswith("/" + relative) or relative.endswith("/" + p)
        )
        if candidates:
            return Presence(
                NO, f"nothing copies it to {path} (the project has {candidates[0]})", found.related
            )
        return Presence(UNKNOWN, "")
    return contents.executable(program)


@rule("DA501")
def command_not_in_image(project: Project) -> Iterator[Finding]:
    """The command a container starts is not in the image it runs.

    The command is the service's effective one (compose ``entrypoint``/``command`` over the
    image's ``ENTRYPOINT``/``CMD``, wrappers such as ``dumb-init``/``tini``/``gosu`` looked
    through, ``sh -c`` scripts split). Its program must come from the base image, a package the
    stage (or a stage it is built FROM) installs with apt/apk/pip/uv/poetry/npm, a file copied in,
    or ``COPY --from`` another stage. ``npx X``, ``npm exec X`` and ``node_modules/.bin/X`` need
    the package X in the stage's ``node_modules`` (devDependencies are gone after
    ``npm ci --omit=dev``); ``python -m X`` needs the distribution X. Error when the files prove
    it missing; warning when it is only missing from the declared dependencies (a transitive
    dependency could still bring it); quiet for unknown base images, install scripts piped into
    a shell, and entrypoint scripts that may exec anything.
    """
    seen: set[tuple] = set()
    for target in _run_targets(project):
        yield from _guarded(_da501_target, target, seen)


def _da501_target(target: RunTarget, seen: set[tuple]) -> Iterator[Finding]:
    """One run target of DA501."""
    started = _start_words(target)
    if started is None:
        return
    words, fallback, _wrappers = started
    cap: Severity | None = None
    program = words[0]
    if ("/" in program or program.endswith(".sh")) and len(words) > 1 and _is_script(program):
        passes = _entrypoint_passes_args(target, words)
        needs = command_needs(words[:1], target.workdir)
        if passes:
            needs += command_needs(words[1:], target.workdir)
            cap = Severity.WARNING
    else:
        needs = command_needs(words, target.workdir)
    for need in needs:
        if _runtime_mount_hides(target, need):
            continue
        if need.kind == "exe":
            presence = _check_executable(target, need)
            subject = f"`{posixpath.basename(need.name)}`" if "/" not in need.name else need.name
        elif need.kind == "npx":
            presence = target.contents.node_bin(need.name, need.cwd)
            subject = f"the {need.name} CLI"
            if presence.state == NO and need.extra.get("yes"):
                # `npx --yes` asks for the download: still fragile offline, but on purpose
                presence = Presence(LIKELY_NO, presence.reason, presence.related)
        elif need.kind == "py-module":
            packages = python_module_packages(need.name)
            if packages is None:
                continue
            presence = target.contents.python_package(packages)
            subject = f"the Python module {need.name}"
        else:
            continue
        if presence.state not in (NO, LIKELY_NO):
            continue
        span, written = _word_span(target, need.word, fallback)
        key = (span, need.kind, need.name)
        if key in seen:
            continue
        seen.add(key)
        yield _command_finding(target, need, presence, span, written, subject, cap)


def _runtime_mount_hides(target: RunTarget, need: Need) -> bool:
    """Does a volume of the service put files where the need is looked up (so the image's
    contents do not decide)?"""
    if target.service is None or not target.service.volumes:
        return False
    if need.kind == "npx":
        return _mounted(target, posixpath.join(need.cwd, "node_modules"))
    if "/" in need.name:
        path = posixpath.normpath(posixpath.join(need.cwd, need.name))
        if "node_modules/.bin" in path:
            return _mounted(target, path.split("node_modules/.bin")[0] + "node_modules")
        return _mounted(target, path)
    entries = [e for e in (target.contents.env().get("PATH") or "").split(":") if e.startswith("/")]
    return any(_mounted(target, posixpath.normpath(e)) for e in entries)


def _is_script(program: str) -> bool:
    base = posixpath.basename(program)
    return (
        base.endswith((".sh", ".bash"))
        or "entrypoint" in base
        or "docker-entry" in base
        or base in ("start", "run", "boot", "init")
    )


def _command_finding(
    target: RunTarget,
    need: Need,
    presence: Presence,
    span: Span,
    written: str,
    subject: str,
    cap: Severity | None,
) -> Finding:
    contents = target.contents
    name = posixpath.basename(need.name)
    if need.kind == "npx":
        other = _other_stages_with(target, lambda c: c.node_bin(need.name, need.cwd))
        via = need.extra.get("via", "npx")
        message = (
            f"{target.who} runs `{need.command}` in {target.where}, which has no {need.name} in "
            f"node_modules: {presence.reason}. {via} would then try to download {need.name} from the "
            "registry when the container starts (this fails without network access, and runs whatever "
            f"version is newest rather than the one package.json pins){_suggest_stage(target, other)}"
        )
        packages = node_bin_packages(need.name) or [need.name]
        fix = (
            f"run the command in a stage whose node_modules has {packages[0]} (for example the stage that "
            f"runs a full `npm ci`), or move {packages[0]} from devDependencies to dependencies"
        )
    elif need.kind == "py-module":
        packages = python_module_packages(need.name) or [need.name]
        other = _other_stages_with(target, lambda c: c.python_package(packages))
        message = (
            f"{target.who} runs `{need.command}`, but {target.where} does not install the Python package "
            f"{packages[0]}: {presence.reason}{_suggest_stage(target, other)}"
        )
        fix = (
            f"install {packages[0]} in that stage (add it to the requirements it installs), or run another "
            "target"
        )
    elif "/" in need.name:
        message = f"{target.who} starts {need.name}, which is not in {target.where}: {presence.reason}"
        fix = "COPY the script into the image (and make it executable), or correct the path"
    else:
        other = _other_stages_with(target, lambda c: c.executable(name))
        python_packages = python_script_packages(name)
        message = (
            f"{target.who} runs `{need.command}`, but `{name}` is not in {target.where}: {presence.reason}"
            f"{_suggest_stage(target, other)}"
        )
        if python_packages is not None:
            fix = (
                f"install {python_packages[0]} in that stage (add it to the requirements it installs), or "
                "build a target that has it"
            )
        else:
            manager = contents.facts.package_manager if contents.facts is not None else None
            if manager == "apk":
                how = f"`apk add --no-cache {name}`"
            elif manager in (None, "apt"):
                how = f"`apt-get install -y --no-install-recommends {name}`"
            else:
                how = f"the {manager} package that provides {name}"
            fix = f"install it in the stage the service runs ({how}), or build a target that has it"
    related = [*presence.related, *_target_related(target)]
    return Finding(
        span=span,
        message=message,
        related=tuple(_dedupe(related)[:6]),
        fix=fix,
        severity=_severity(presence, cap),
    )


def _dedupe(related: list[Related]) -> list[Related]:
    out: list[Related] = []
    seen: set[Span] = set()
    for item in related:
        if item.span in seen:
            continue
        seen.add(item.span)
        out.append(item)
    return out


# --- DA502 -----------------------------------------------------------------------------------


def _context_files(target: RunTarget) -> list[str]:
    context = target.contents.context
    if context is None:
        return []
    tree = target.contents.project.tree
    return list(tree.files) if context == "." else tree.under(context)


def _copied_summary(target: RunTarget) -> str:
    sources: list[str] = []
    for copy in target.contents.copies:
        if copy.from_context:
            sources.extend(copy.sources)
        elif copy.from_stage is not None:
            sources.extend(f"{s} (from {copy.from_stage.label})" for s in copy.sources)
    if not sources:
        return f"{target.stage.label} and the stages it is built on copy nothing from the build context"
    shown = ", ".join(sources[:6]) + (", ..." if len(sources) > 6 else "")
    return f"{target.stage.label} and the stages it is built on copy only {shown}"


def _first_state(contents: StageContents, paths: list[str]) -> Presence:
    """YES/UNKNOWN when any of ``paths`` may be in the image, else the first NO."""
    first: Presence | None = None
    for path in paths:
        found = contents.file(path)
        if found.state in (YES, UNKNOWN):
            return found
        if first is None:
            first = found
    return first or Presence(UNKNOWN)


def _in_context(target: RunTarget, predicate) -> list[str]:
    return sorted(p for p in _context_files(target) if predicate(p))


def _mounted(target: RunTarget, path: str) -> bool:
    service = target.service
    if service is None:
        return False
    for volume in service.volumes:
        if volume.target and (
            path == posixpath.normpath(volume.target)
            or path.startswith(posixpath.normpath(volume.target).rstrip("/") + "/")
        ):
            return True
    return False


def _file_need(target: RunTarget, need: Need) -> tuple[Presence, str, str, list[Related]] | None:
    """(presence, what is missing, fix, related) for a file-like need, or None when fine/unknown."""
    contents = target.contents
    cwd = need.cwd
    if need.kind == "prisma-schema":
        if need.explicit:
            if "$" in need.explicit:
                return None
            paths = [posixpath.normpath(posixpath.join(cwd, need.explicit))]
            wanted = need.explicit
        else:
            _, package_json = contents.package_json_at(cwd)
            configured = None
            if package_json is not None and isinstance(package_json.data.get("prisma"), dict):
                configured = package_json.data["prisma"].get("schema")
            if isinstance(configured, str):
                paths = [posixpath.normpath(posixpath.join(cwd, configured))]
                wanted = configured
            else:
                paths = [
                    posixpath.join(cwd, p)
                    for p in (
                        "prisma/schema.prisma",
                        "schema.prisma",
                        "prisma/schema",
                        "prisma.config.ts",
                        "prisma.config.js",
                    )
                ]
                wanted = "prisma/schema.prisma"
        if any(_mounted(target, p) for p in paths):
            return None
        found = _first_state(contents, paths)
        if found.state != NO:
            return None
        schemas = _in_context(target, lambda p: p.endswith(".prisma"))
        if not schemas:
            return None
        related = [Related(Span(schemas[0], 1, 1, 1, 1), "the schema in the project")]
        return (
            found,
            f"{wanted} (prisma {need.word} reads the schema from it)",
            "COPY the prisma folder into that stage (`COPY prisma ./prisma`), or run the command in a "
            "stage that has it",
            related,
        )
    if need.kind == "alembic-ini":
        if "ALEMBIC_CONFIG" in contents.env():
            return None
        name = need.explicit or "alembic.ini"
        if "$" in name:
            return None
        path = posixpath.normpath(posixpath.join(cwd, name))
        if _mounted(target, path):
            return None
        found = contents.file(path)
        if found.state != NO:
            return None
        candidates = _in_context(target, lambda p: posixpath.basename(p) == posixpath.basename(name))
        if not candidates:
            return None
        related = [Related(Span(candidates[0], 1, 1, 1, 1), "the Alembic configuration in the project")]
        return (
            found,
            f"{name} at {path} (alembic reads it from the working directory)",
            "COPY alembic.ini (and the migrations folder) to the working directory of that stage, or pass "
            "`-c <path>`",
            related,
        )
    if need.kind == "file":
        name = need.name
        if "$" in name or name.startswith("-"):
            return None
        path = posixpath.normpath(posixpath.join(cwd, name))
        options = [path]
        if need.extra.get("what") == "node" and not posixpath.splitext(name)[1]:
            options += [path + ext for ext in (".js", ".mjs", ".cjs")] + [path + "/index.js"]
        if any(_mounted(target, p) for p in options):
            return None
        found = _first_state(contents, options)
        if found.state != NO:
            return None
        relative = name[2:] if name.startswith("./") else name.lstrip("/")
        candidates = _in_context(
            target, lambda p: p == relative or p.endswith("/" + relative) or relative.endswith("/" + p)
        )
        if not candidates:
            return None
        related = [Related(Span(candidates[0], 1, 1, 1, 1), "the file in the project")]
        return (
            found,
            f"{name} (looked for {path})",
            "COPY the file into that stage, or correct the path or working directory",
            related,
        )
    if need.kind == "py-app":
        if contents.python().project_installed:
            return None
        module = need.name
        parts = module.split(".")
        roots = [posixpath.normpath(posixpath.join(cwd, need.explicit)) if need.explicit else cwd]
        for entry in (contents.env().get("PYTHONPATH") or "").split(":"):
            if entry and "$" not in entry:
                roots.append(posixpath.normpath(posixpath.join(cwd, entry)))
        service = target.service
        if service is not None:
            value = service.environment.get("PYTHONPATH")
            if value:
                return None
        options = []
        for root in roots:
            stem = posixpath.join(root, *parts)
            options += [stem + ".py", posixpath.join(stem, "__init__.py"), stem, stem + ".so"]
        if any(_mounted(target, p) for p in options):
            return None
        found = _first_state(contents, options)
        if found.state != NO:
            return None
        module_path = "/".join(parts)
        candidates = _in_context(
            target, lambda p: p.endswith(module_path + ".py") or p.endswith(module_path + "/__init__.py")
        )
        if not candidates:
            return None
        related = [Related(Span(candidates[0], 1, 1, 1, 1), "the module in the project")]
        return (
            found,
            f"the Python module {module} (looked for {module_path}.py under {', '.join(roots)})",
            "COPY the package into the working directory of that stage, or set the working directory "
            "(or --app-dir / PYTHONPATH) to where it is copied",
            related,
        )
    if need.kind == "npm-script":
        folder = cwd
        presence, document = contents.package_json_at(folder)
        if _mounted(target, posixpath.join(folder, "package.json")):
            return None
        if presence.state == NO:
            candidates = _in_context(target, lambda p: posixpath.basename(p) == "package.json")
            if not candidates:
                return None
            return (
                presence,
                f"package.json in {folder} (`{need.command}` reads the scripts from it)",
                "COPY package.json into the working directory of that stage",
                [Related(Span(candidates[0], 1, 1, 1, 1), "the package.json in the project")],
            )
        if presence.state != YES or document is None or not document.data:
            return None
        if need.name in document.scripts:
            return None
        if need.name == "start":
            server = contents.file(posixpath.join(folder, "server.js"))
            if server.state != NO:
                return None
        if need.name in ("stop", "restart", "test"):
            return None
        names = sorted(document.scripts)
        listing = f"its scripts are {', '.join(names[:8])}" if names else "it has no scripts"
        span = document.key_spans.get("scripts") or Span(document.path, 1, 1, 1, 1)
        return (
            Presence(NO, f"{document.path} has no script {need.name!r}; {listing}"),
            f"the script {need.name!r} in {document.path}",
            f"add a {need.name!r} script to package.json, or run an existing one",
            [Related(span, "scripts of the package.json copied into the image")],
        )
    return None


@rule("DA502")
def command_file_not_in_image(project: Project) -> Iterator[Finding]:
    """A file the container's command reads never reaches the image it runs.

    ``prisma migrate``/``generate``/``db`` read ``prisma/schema.prisma`` (or ``--schema``, or the
    ``prisma.schema`` of package.json); ``alembic`` reads ``alembic.ini`` in the working
    directory; ``python app.py``/``node server.js`` need the script; ``uvicorn pkg.main:app``,
    ``gunicorn``, ``celery -A`` need the module under the working directory (or ``--app-dir`` /
    ``PYTHONPATH``); ``npm run X``/``npm start`` need a package.json with that script. The file
    is looked up through the COPY instructions of the stage and the stages it is built on
    (``.dockerignore`` applied, ``COPY --from`` followed) and the service's volumes. Reported
    only when the project has the file, so that it was clearly meant to be there; files a RUN
    may generate, installed projects and unknown base images keep the rule quiet.
    """
    seen: set[tuple] = set()
    for target in _run_targets(project):
        yield from _guarded(_da502_target, target, seen)


def _da502_target(target: RunTarget, seen: set[tuple]) -> Iterator[Finding]:
    """One run target of DA502."""
    started = _start_words(target)
    if started is None:
        return
    words, fallback, _wrappers = started
    if ("/" in words[0] or words[0].endswith(".sh")) and _is_script(words[0]):
        if _entrypoint_passes_args(target, words) and len(words) > 1:
            needs = command_needs(words[1:], target.workdir)
            cap: Severity | None = Severity.WARNING
        else:
            return
    else:
        needs = command_needs(words, target.workdir)
        cap = None
    for need in needs:
        if need.kind in ("exe", "npx", "py-module"):
            continue
        result = _file_need(target, need)
        if result is None:
            continue
        presence, what, fix, related = result
        span, _written = _word_span(target, need.word, fallback)
        key = (span, need.kind, what)
        if key in seen:
            continue
        seen.add(key)
        reason = presence.reason or _copied_summary(target)
        message = (
            f"{target.who} runs `{need.command}`, which needs {what}, but it never reaches "
            f"{target.where}: {reason}"
        )
        yield Finding(
            span=span,
            message=message,
            related=tuple(_dedupe([*related, *presence.related, *_target_related(target)])[:6]),
            fix=fix,
            severity=_severity(presence, cap),
        )


# --- DA503 -----------------------------------------------------------------------------------


def _healthcheck_commands(test) -> list[list[str]] | None:
    """The simple commands of a compose ``healthcheck.test`` (None: disabled or unreadable)."""
    if isinstance(test, str):
        return [c.words for c in split_commands(test)]
    if isinstance(test, list) and test:
        head = str(test[0]).upper()
        rest = [str(t) for t in test[1:]]
        if head == "NONE":
            return None
        if head == "CMD":
            return [c.words for c in command_from_argv(rest)]
        if head == "CMD-SHELL":
            return [c.words for c in split_commands(" ".join(rest))]
    return None


def _dockerfile_healthcheck(stage: Stage) -> Instruction | None:
    found = None
    for member in reversed(lineage(stage)):
        for inst in member.instructions:
            if inst.keyword == "HEALTHCHECK":
                found = inst
    if found is None or found.value.strip().upper().startswith("NONE"):
        return None
    return found


def _instruction_commands(inst: Instruction) -> list[list[str]]:
    if inst.json_args is not None:
        return [c.words for c in command_from_argv(list(inst.json_args))]
    text = re.sub(r"^\s*CMD\s+", "", inst.value, flags=re.I)
    return [c.words for c in split_commands(text)]


def _tools_in(commands: list[list[str]]) -> list[str]:
    out = []
    for words in commands:
        if not words:
            continue
        if _is_install(words):
            break
        name = words[0]
        base = posixpath.basename(name)
        if "$" in name or base in BUILTINS or base in SHELLS:
            continue
        out.append(name)
    return out


def _healthcheck_fix(name: str, facts, stage_label: str) -> str:
    manager = facts.package_manager if facts is not None else None
    if manager == "apk":
        install = f"`RUN apk add --no-cache {name}`"
    elif manager in (None, "apt"):
        install = (
            f"`RUN apt-get update && apt-get install -y --no-install-recommends {name} && rm -rf "
            "/var/lib/apt/lists/*`"
        )
    else:
        install = f"the {manager} package that provides {name}"
    alternative = ""
    if name in ("curl", "wget"):
        if facts is not None and facts.python:
            alternative = (
                ' or use Python, which the image has: `python -c "import urllib.request; '
                "urllib.request.urlopen('http://127.0.0.1:PORT/health')\"`"
            )
        elif facts is not None and facts.node:
            alternative = (
                " or use Node.js, which the image has: `node -e \"fetch('http://127.0.0.1:PORT/health')"
                '.then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`'
            )
    return f"install {name} in {stage_label} ({install}){alternative}"


def _da503_target(target: RunTarget, seen: set[tuple]) -> Iterator[Finding]:
    """One run target of DA503."""
    service = target.service
    checks: list[tuple[list[list[str]], Span, str, Instruction | None]] = []
    healthcheck = service.healthcheck if service is not None else None
    if isinstance(healthcheck, dict) and (healthcheck.get("disable") is True or "test" in healthcheck):
        if healthcheck.get("disable") is True:
            return
        commands = _healthcheck_commands(healthcheck.get("test"))
        if commands is None:
            return
        assert service is not None
        checks.append(
            (
                commands,
                service.value_span_of("healthcheck", "test"),
                f"the healthcheck of service {service.name!r}",
                None,
            )
        )
    else:
        inst = _dockerfile_healthcheck(target.stage)
        if inst is None:
            return
        label = f"the HEALTHCHECK of {target.dockerfile_path}"
        if service is not None:
            label += f" (used by service {service.name!r})"
        checks.append((_instruction_commands(inst), inst.span, label, inst))
    for commands, span, label, inst in checks:
        for tool in _tools_in(commands):
            if "/" in tool:
                tool = posixpath.basename(tool)
            if _runtime_mount_hides(target, Need("exe", tool, tool, target.workdir, tool)):
                continue
            presence = target.contents.executable(tool)
            if presence.state not in (NO, LIKELY_NO):
                continue
            where = inst.locate(tool) if inst is not None else span
            key = (where, tool)
            if key in seen:
                continue
            seen.add(key)
            yield Finding(
                span=where,
                message=(
                    f"{label} runs {tool}, but {target.where} has no {tool}: {presence.reason}. The "
                    "check fails every time and the container is reported unhealthy"
                ),
                related=tuple(_dedupe([*presence.related, *_target_related(target)])[:5]),
                fix=_healthcheck_fix(tool, target.contents.facts, target.stage.label),
                severity=_severity(presence),
            )


def _da503_external(service: Service, image: str, seen: set[tuple]) -> Iterator[Finding]:
    """One item of DA503."""
    healthcheck = service.healthcheck
    if not isinstance(healthcheck, dict) or healthcheck.get("disable") is True:
        return
    commands = _healthcheck_commands(healthcheck.get("test"))
    if not commands:
        return
    from dockaudit.knowledge import base_image_provides

    try:
        facts = base_image_provides(image)
    except Exception:
        facts = None
    if facts is None:
        return
    for tool in _tools_in(commands):
        name = posixpath.basename(tool)
        if facts.has(name) is not False:
            continue
        span = service.value_span_of("healthcheck", "test")
        if (span, name) in seen:
            continue
        seen.add((span, name))
        yield Finding(
            span=span,
            message=(
                f"the healthcheck of service {service.name!r} runs {name}, but the image {image} does "
                f"not ship {name}. The check fails every time and the container is reported unhealthy"
            ),
            related=(Related(service.value_span_of("image"), f"runs {image}"),),
            fix=(
                f"use a tool the image has (for example {_probe_tool(facts)}), or build an image on "
                f"{image} that installs {name}"
            ),
        )


@rule("DA503")
def healthcheck_tool_missing(project: Project) -> Iterator[Finding]:
    """A healthcheck calls a program the image does not have.

    Compose ``healthcheck.test`` (``CMD``, ``CMD-SHELL`` or a string) and the image's
    ``HEALTHCHECK CMD`` (inherited from the stages a stage is built on) are checked against the
    image: ``curl`` on ``python:3.12-slim``, ``node:20-slim`` or an ``nvidia/cuda`` runtime image
    where no instruction installs it, ``wget`` on Debian slim images. Services that only name a
    registry image are checked against what dockaudit knows about that image; unknown images are
    left alone. The healthcheck then fails on every run and the container stays ``unhealthy``
    (and ``depends_on: condition: service_healthy`` never starts its dependents).
    """
    seen: set[tuple] = set()
    for target in _run_targets(project):
        yield from _guarded(_da503_target, target, seen)
    for service, image in _external_services(project):
        yield from _guarded(_da503_external, service, image, seen)


def _probe_tool(facts) -> str:
    if facts.has("wget"):
        return "wget"
    if facts.python:
        return "python"
    if facts.node:
        return "node"
    return "a shell test"


# --- DA504 -----------------------------------------------------------------------------------


def _build_identity(link: ServiceBuild) -> tuple:
    build = link.service.build
    assert build is not None
    stage = link.stage
    target = stage.index if stage is not None else (build.target or "").lower()
    return (
        build.context,
        build.dockerfile if build.dockerfile_inline is None else build.dockerfile_inline,
        target,
        tuple(sorted((k, "" if v is None else str(v)) for k, v in build.args.items())),
    )


def _differences(a: ServiceBuild, b: ServiceBuild) -> list[str]:
    first, second = a.service.build, b.service.build
    assert first is not None and second is not None
    out = []
    if first.context != second.context:
        out.append(f"context {first.context_raw!r} vs {second.context_raw!r}")
    if (first.dockerfile, first.dockerfile_inline) != (second.dockerfile, second.dockerfile_inline):
        first_file = first.dockerfile_raw or first.dockerfile
        second_file = second.dockerfile_raw or second.dockerfile
        out.append(f"dockerfile {first_file!r} vs {second_file!r}")
    stage_a = a.stage.name or str(a.stage.index) if a.stage is not None else first.target
    stage_b = b.stage.name or str(b.stage.index) if b.stage is not None else second.target
    same_file = (first.dockerfile, first.dockerfile_inline) == (second.dockerfile, second.dockerfile_inline)
    if same_file and (
        (a.stage is not None and b.stage is not None and a.stage is not b.stage)
        or (a.stage is None and (first.target or "").lower() != (second.target or "").lower())
    ):
        described_a = f"target {stage_a!r}" if first.target else f"the final stage ({stage_a})"
        described_b = f"target {stage_b!r}" if second.target else f"the final stage ({stage_b})"
        out.append(f"{described_a} vs {described_b}")
    if dict(first.args) != dict(second.args):
        keys = sorted(
            set(first.args) ^ set(second.args)
            | {k for k in first.args if k in second.args and first.args[k] != second.args[k]}
        )
        out.append(f"build args ({', '.join(keys[:4])})")
    return out


def _renamed(image: str, service: str) -> str:
    repository, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:
        return f"{image}-{service}"
    return f"{repository}-{service}:{tag}"


@rule("DA504")
def shared_image_tag(project: Project) -> Iterator[Finding]:
    """Two services tag different builds with the same ``image:`` name.

    When services both ``build:`` and set the same ``image:`` (after interpolation) but build a
    different target, Dockerfile, context or args, ``docker compose build`` tags both results
    with that one name: whichever finishes last wins, and every service using the name runs that
    image — the other service runs the wrong program (a migration job starts the web server, or
    the web server starts without its build output). The same build under one name, or one
    service building and the others only using the image, is fine.
    """
    for compose in project.compose_projects:
        by_image: dict[str, list[ServiceBuild]] = {}
        for link in service_builds(project):
            if link.compose is not compose:
                continue
            service = link.service
            if service.build is None or not service.image or link.target_missing or service.build.remote:
                continue
            by_image.setdefault(service.image, []).append(link)
        for image, links in by_image.items():
            if len(links) < 2:
                continue
            first = links[0]
            for other in links[1:]:
                if _build_identity(other) == _build_identity(first):
                    continue
                differences = _differences(first, other)
                if not differences:
                    continue
                service, earlier = other.service, first.service
                yield Finding(
                    span=service.value_span_of("image"),
                    message=(
                        f"services {earlier.name!r} and {service.name!r} both tag their build as image "
                        f"{image!r}, but build different things ({'; '.join(differences)}): the build "
                        "that finishes last owns the tag, and both services run that one image, so one "
                        "of them runs the wrong target"
                    ),
                    related=(
                        Related(earlier.value_span_of("image"), f"service {earlier.name!r} tags {image!r}"),
                        Related(earlier.span_of("build"), f"service {earlier.name!r} builds here"),
                        Related(service.span_of("build"), f"service {service.name!r} builds here"),
                    ),
                    fix=(
                        f"give each build its own image name (for example {_renamed(image, service.name)}), "
                        "or let one service "
                        "build the image and the other use it with the same build settings"
                    ),
                )


# --- DA505 / DA506 ---------------------------------------------------------------------------


def _needed_stages(stage: Stage) -> list[Stage]:
    """The stages BuildKit builds for ``stage``: its lineage and the stages it copies or mounts from."""
    from dockaudit.installs import run_mounts

    document = stage.dockerfile
    out: list[Stage] = []
    todo = [stage]
    while todo:
        current = todo.pop()
        if current in out:
            continue
        out.append(current)
        if current.parent is not None:
            todo.append(current.parent)
        if document is None:
            continue
        refs = [inst.flag("from") for inst in current.instructions if inst.keyword in ("COPY", "ADD")]
        refs += [m.from_ for inst in current.instructions if inst.keyword == "RUN" for m in run_mounts(inst)]
        for ref in refs:
            if not ref:
                continue
            found = document.stage(ref)
            if found is not None and found not in out:
                todo.append(found)
    return out


def _arg_spans(service: Service, key: str) -> Span:
    node = service.node_at("build", "args")
    if node is not None and node.kind == "seq":
        for item in node.value:
            text = str(item.value) if item.kind == "scalar" else ""
            if text == key or text.startswith(key + "="):
                return item.span
    if node is not None and node.kind == "map" and key in node.value:
        return service.span_of("build", "args", key)
    return service.span_of("build", "args")


def _compose_builds(project: Project) -> Iterator[ServiceBuild]:
    for link in service_builds(project):
        build = link.service.build
        if build is None or link.stage is None or link.target_missing or not _dockerfile_ok(link.dockerfile):
            continue
        yield link


def _da505_link(link: ServiceBuild) -> Iterator[Finding]:
    """One item of DA505."""
    build = link.service.build
    assert build is not None and link.stage is not None and link.dockerfile is not None
    if not build.args:
        return
    document = link.dockerfile
    declared: set[str] = set(document.global_arg_defaults)
    stages = _needed_stages(link.stage)
    for stage in stages:
        for inst in stage.instructions:
            if inst.keyword == "ARG":
                declared.update(kv.key for kv in inst.key_values)
    for key in build.args:
        if key in declared or key in PREDEFINED_ARGS or key.startswith("BUILDKIT_"):
            continue
        elsewhere = [
            inst
            for inst in document.instructions
            if inst.keyword == "ARG" and any(kv.key == key for kv in inst.key_values)
        ]
        if elsewhere:
            stage = (
                document.stages[elsewhere[0].stage]
                if 0 <= elsewhere[0].stage < len(document.stages)
                else None
            )
            detail = (
                f"; `ARG {key}` is declared only in {stage.label if stage else 'another stage'}, which "
                f"{link.stage.label} does not build"
            )
            related: tuple[Related, ...] = (Related(elsewhere[0].span, f"ARG {key}"),)
        else:
            detail = ""
            related = (
                Related(link.stage.from_instruction.span, f"{link.stage.label}, built by this service"),
            )
        yield Finding(
            span=_arg_spans(link.service, key),
            message=(
                f"service {link.service.name!r} passes build arg {key}, but {link.dockerfile_path} does "
                f"not declare `ARG {key}` in {link.stage.label} or the stages it builds{detail}: Docker "
                'ignores the value ("build-args were not consumed")'
            ),
            related=related,
            fix=f"declare `ARG {key}` in the stage that uses it, or remove it from build.args",
        )


@rule("DA505")
def build_arg_not_declared(project: Project) -> Iterator[Finding]:
    """A compose ``build.args`` entry that no ``ARG`` of the Dockerfile declares.

    Docker passes only the args a stage declares with ``ARG`` (before the first FROM, or inside
    one of the stages the target builds); any other is ignored with a warning ("build-args ...
    were not consumed"), so the value the compose file sets has no effect. Docker's predefined
    args (proxies, ``BUILDKIT_*``, ``SOURCE_DATE_EPOCH``, the platform args) are always accepted.
    """
    for link in _compose_builds(project):
        yield from _guarded(_da505_link, link)


_GUARD = (
    r"(?:\[\[?[^\]\n]*\$\{{?{name}\b|\btest\s[^;&|\n]*\$\{{?{name}\b|\bcase\s+\"?\$\{{?{name}\b"
    r"|\$\{{{name}(?::?[-+=?]))"
)


def _da506_link(link: ServiceBuild) -> Iterator[Finding]:
    """One item of DA506."""
    from dockaudit.parse.dockerfile import variable_references

    build = link.service.build
    assert build is not None and link.stage is not None and link.dockerfile is not None
    document = link.dockerfile
    passed = set(build.args)
    reported: set[str] = set()
    for stage in sorted(_needed_stages(link.stage), key=lambda s: s.index):
        declared: dict[str, Instruction] = {}
        env_names: set[str] = set()
        for member in lineage(stage)[1:]:
            env_names |= set(member.env)
        for inst in stage.instructions:
            if inst.keyword == "ARG":
                for kv in inst.key_values:
                    if (
                        kv.value is None
                        and document.global_arg_defaults.get(kv.key) is None
                        and kv.key not in PREDEFINED_ARGS
                        and kv.key not in passed
                    ):
                        declared[kv.key] = inst
                    else:
                        declared.pop(kv.key, None)
                continue
            if inst.keyword == "ENV":
                for kv in inst.key_values:
                    declared.pop(kv.key, None)
                    env_names.add(kv.key)
                continue
            if inst.keyword not in ("RUN", "COPY", "ADD", "WORKDIR", "USER") or not declared:
                continue
            texts = [inst.line[inst.value_offset :]] + [h.body for h in inst.heredocs]
            for name, arg_inst in list(declared.items()):
                if name in reported or name in env_names:
                    continue
                used = False
                for text in texts:
                    if inst.keyword == "RUN":
                        if re.search(r"\$\{?" + re.escape(name) + r"\b", text) is None:
                            continue
                        if re.search(_GUARD.format(name=re.escape(name)), text):
                            continue
                        used = True
                    else:
                        refs = [r for r in variable_references(text, document.escape) if r.name == name]
                        if any(not r.has_default for r in refs):
                            used = True
                if not used:
                    continue
                reported.add(name)
                span = link.service.span_of("build", "args") if build.args else link.service.span_of("build")
                yield Finding(
                    span=span,
                    message=(
                        f"service {link.service.name!r} builds {link.stage.label} of "
                        f"{link.dockerfile_path}, which declares `ARG {name}` without a default and uses "
                        f"it in {inst.keyword} (line {inst.span.line}), but build.args does not set "
                        f"{name}: it is empty in the build"
                    ),
                    related=(
                        Related(arg_inst.span, f"ARG {name} has no default"),
                        Related(inst.span, f"uses ${name}"),
                    ),
                    fix=(
                        f"pass it in the service's build.args (`{name}: <value>` or "
                        f"`{name}: ${{{name}}}` from .env), or give the ARG a default "
                        f"(`ARG {name}=<value>`)"
                    ),
                )


@rule("DA506")
def required_arg_not_passed(project: Project) -> Iterator[Finding]:
    """An ``ARG`` without a default that the built stages use, and compose never passes.

    For services built by compose: an ``ARG NAME`` with no default (neither in the stage nor as a
    global ARG re-declared there) that a later instruction of a stage the target builds uses
    (``RUN``, ``COPY``/``ADD``, ``WORKDIR``, ``USER``), while ``build.args`` does not set NAME.
    The value is then empty: ``pip install torch==${TORCH_VERSION}`` becomes
    ``pip install torch==``. Uses that test the variable (``[ -n "$NAME" ]``, ``${NAME:-x}``) are
    optional by design and skipped; FROM lines are DA103's. Dockerfiles built without compose may
    be built with ``--build-arg``, so they are not checked.
    """
    for link in _compose_builds(project):
        yield from _guarded(_da506_link, link)
