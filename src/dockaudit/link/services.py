"""Links between compose services, the Dockerfile stages they build, and what those stages contain.

These are the questions cross-file rules ask: which stage does this service run, which stages
feed it (parents and ``COPY --from`` sources), what command does the container start with, and
which host files are mounted where.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage
    from dockaudit.project import Project


@dataclass
class ServiceBuild:
    """A compose service together with the Dockerfile stage it runs (when it builds one)."""

    compose: ComposeProject
    service: Service
    dockerfile_path: str | None = None
    dockerfile: Dockerfile | None = None
    #: the ``target`` stage, or the final stage when no target is given
    stage: Stage | None = None
    #: ``build.target`` names a stage that does not exist
    target_missing: bool = False

    @property
    def builds(self) -> bool:
        return self.service.build is not None

    @property
    def image_ref(self) -> str | None:
        """The base image of the stage's lineage (the FROM of the root stage), or the service image."""
        if self.stage is not None:
            return lineage(self.stage)[-1].base_image
        return self.service.image


def service_builds(project: Project) -> list[ServiceBuild]:
    """Every service of every compose project, linked to its Dockerfile and stage."""
    cached = getattr(project, "_service_builds", None)
    if cached is not None:
        return cached
    out: list[ServiceBuild] = []
    for compose in project.compose_projects:
        for service in compose.services.values():
            link = ServiceBuild(compose, service)
            build = service.build
            if build is not None and build.dockerfile and build.dockerfile_inline is None:
                link.dockerfile_path = build.dockerfile
                link.dockerfile = project.dockerfile(build.dockerfile)
                if link.dockerfile is not None:
                    if build.target:
                        link.stage = link.dockerfile.stage(build.target)
                        link.target_missing = link.stage is None
                    else:
                        link.stage = link.dockerfile.final_stage
            out.append(link)
    project._service_builds = out  # type: ignore[attr-defined]
    return out


def lineage(stage: Stage) -> list[Stage]:
    """The stage and its parent stages, nearest first (``FROM deps AS builder`` → builder, deps)."""
    chain = [stage]
    seen = {id(stage)}
    current = stage.parent
    while current is not None and id(current) not in seen:
        chain.append(current)
        seen.add(id(current))
        current = current.parent
    return chain


def copy_sources(stage: Stage) -> list[tuple[Instruction, Stage]]:
    """``COPY --from=<stage>`` instructions of the stage's lineage, with the stage they copy from."""
    out = []
    for member in lineage(stage):
        dockerfile_stages = _stages_of(member)
        for instruction in member.instructions:
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            source = instruction.flag("from")
            if not source:
                continue
            found = _stage_lookup(dockerfile_stages, source)
            if found is not None:
                out.append((instruction, found))
    return out


def _stages_of(stage: Stage) -> list[Stage]:
    """The stages of the Dockerfile ``stage`` belongs to (through its back reference)."""
    document = getattr(stage, "dockerfile", None)
    if document is not None:
        return list(document.stages)
    stages = getattr(stage, "all_stages", None)
    if not stages and stage.dockerfile is not None:
        stages = stage.dockerfile.stages
    return list(stages) if stages else []


def _stage_lookup(stages: list[Stage], key: str) -> Stage | None:
    if key.isascii() and key.isdigit():
        index = int(key)
        return stages[index] if 0 <= index < len(stages) else None
    lowered = key.lower()
    for candidate in stages:
        if candidate.name and candidate.name.lower() == lowered:
            return candidate
    return None


# --- the container's command -------------------------------------------------------------------

#: entrypoints that run their arguments as the real command
WRAPPERS = frozenset({"dumb-init", "tini", "/sbin/tini", "/usr/bin/tini", "/tini", "/usr/bin/dumb-init",
                      "gosu", "su-exec", "/usr/bin/env", "env", "exec", "nohup", "catatonit"})


@dataclass
class StartCommand:
    """The command a container starts with, and where it was written."""

    words: list[str] | None          # exec form, or the split shell form
    shell: str | None                # shell form text, when written as a string
    span: Span | None
    origin: str                      # "compose" or "dockerfile"
    wrappers: list[str] = field(default_factory=list)


def _split_shell(text: str) -> list[str]:
    from dockaudit.shell import split_commands

    commands = split_commands(text)
    return commands[0].words if commands else []


def start_command(link: ServiceBuild) -> StartCommand | None:
    """Resolve what the container executes: compose ``entrypoint``/``command`` over the image's.

    Wrappers such as ``dumb-init --`` or ``tini --`` are looked through, so the result names the
    program that really has to exist in the image.
    """
    service = link.service
    entry, entry_span, entry_origin = None, None, None
    cmd, cmd_span, cmd_origin = None, None, None
    if service.entrypoint is not None:
        entry, entry_span, entry_origin = service.entrypoint, service.span_of("entrypoint"), "compose"
    if service.command is not None:
        cmd, cmd_span, cmd_origin = service.command, service.span_of("command"), "compose"
    if link.stage is not None:
        image_entry, image_cmd = _image_start(link.stage)
        if entry is None and image_entry is not None:
            entry, entry_span, entry_origin = image_entry
        # compose `entrypoint:` clears the image's CMD (Docker semantics)
        if cmd is None and image_cmd is not None and service.entrypoint is None:
            cmd, cmd_span, cmd_origin = image_cmd
    words: list[str] = []
    shell = None
    origin = cmd_origin or entry_origin or "compose"
    span = cmd_span or entry_span
    for part in (entry, cmd):
        if part is None:
            continue
        if isinstance(part, str):
            shell = part if shell is None else shell
            words.extend(_split_shell(part))
        else:
            words.extend(str(w) for w in part)
    if not words:
        return None
    wrappers: list[str] = []
    while words and posixpath.basename(words[0]) in {posixpath.basename(w) for w in WRAPPERS}:
        wrappers.append(words.pop(0))
        while words and (words[0] == "--" or (words[0].startswith("-") and wrappers[-1] != "env")):
            words.pop(0)
        if wrappers[-1] in ("gosu", "su-exec") and words:
            words.pop(0)  # the user to switch to
        if wrappers[-1] in ("env", "/usr/bin/env"):
            while words and "=" in words[0] and not words[0].startswith("-"):
                words.pop(0)
    if entry is not None and entry_span is not None and words and span is entry_span:
        origin = entry_origin or origin
    return StartCommand(words=words or None, shell=shell, span=span, origin=origin, wrappers=wrappers)


def _image_start(stage: Stage):
    """(ENTRYPOINT, CMD) of a stage, each as (value, span, "dockerfile") or None; inherited from parents."""
    entry = cmd = None
    for member in reversed(lineage(stage)):
        for instruction in member.instructions:
            if instruction.keyword == "ENTRYPOINT":
                value = instruction.json_args if instruction.json_args is not None else instruction.value
                entry = (value, instruction.span, "dockerfile")
                cmd = None  # a new ENTRYPOINT resets CMD inherited from the base
            elif instruction.keyword == "CMD":
                value = instruction.json_args if instruction.json_args is not None else instruction.value
                cmd = (value, instruction.span, "dockerfile")
    return entry, cmd


# --- mounts ------------------------------------------------------------------------------------


def container_mounts(service: Service) -> dict[str, str]:
    """Bind mounts of a service inside the root: container path → root-relative host path."""
    mounts: dict[str, str] = {}
    for volume in service.volumes:
        if volume.type == "bind" and volume.host_path is not None and volume.target:
            mounts[posixpath.normpath(volume.target)] = volume.host_path
    return mounts
