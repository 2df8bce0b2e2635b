"""Rules about compose projects as compose loads them: build targets and paths, paths outside the
scanned root, interpolation syntax, and references that stop compose from loading the project.

DA201 (duplicate keys) is emitted by the compose parser itself.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.project import Project


def _services(project: Project) -> Iterator[tuple[ComposeProject, Service]]:
    for compose in project.compose_projects:
        for service in compose.services.values():
            yield compose, service


def _excluded(project: Project, relpath: str) -> bool:
    """Is ``relpath`` (or a folder above it) hidden from the scan by ``exclude`` or tool folders?"""
    from dockaudit.globs import compile_globs

    parts = relpath.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    if any(p in project.tree.skipped for p in prefixes):
        return True
    if not project.config.exclude:
        return False
    matches = compile_globs(project.config.exclude)
    return any(matches(p) for p in prefixes)


def _similar(word: str, candidates: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return found[0] if found else None


def _context_span(service: Service) -> Span:
    build = service.build
    if build is not None and build.node is not None and build.node.kind == "map":
        return service.value_span_of("build", "context")
    return service.value_span_of("build")


@rule("DA202")
def build_target_unknown(project: Project) -> Iterator[Finding]:
    """A service's ``build.target`` names no stage of the Dockerfile it builds.

    The Dockerfile is the one compose would use (``build.dockerfile`` inside ``build.context``,
    ``Dockerfile`` by default). Stage names compare without regard to case, as in BuildKit.
    Skipped when the Dockerfile cannot be read or has a parse error, and when the target is empty
    because its variable is not set.
    """
    for _compose, service in _services(project):
        build = service.build
        if build is None or not build.target or build.dockerfile is None:
            continue
        if build.dockerfile_inline is not None:
            continue
        dockerfile = project.dockerfile(build.dockerfile)
        if dockerfile is None or not dockerfile.stages:
            continue
        if any(d.rule == "DA001" for d in dockerfile.diagnostics):
            continue
        if dockerfile.stage(build.target) is not None:
            continue
        names = [stage.name for stage in dockerfile.stages if stage.name]
        if names:
            listing = f"its stages are {', '.join(names)}"
            guess = _similar(build.target.lower(), [n.lower() for n in names])
            if guess is not None:
                listing += f" (did you mean {next(n for n in names if n.lower() == guess)!r}?)"
        else:
            listing = "none of its stages has a name (name one with `FROM <image> AS <name>`)"
        related = [Related(stage.from_instruction.span, f"stage {stage.name}") for stage in dockerfile.stages
                   if stage.name]
        if not related:
            related = [Related(dockerfile.stages[0].from_instruction.span, "first stage of the Dockerfile")]
        yield Finding(
            span=service.value_span_of("build", "target"),
            message=(f"service {service.name!r} builds target {build.target!r}, but {build.dockerfile} has "
                     f"no stage of that name; {listing}. The build fails with \"target stage could not be "
                     "found\""),
            related=tuple(related[:8]),
            fix="set build.target to one of the Dockerfile's stage names, or name the stage you meant",
        )


@rule("DA203")
def build_path_missing(project: Project) -> Iterator[Finding]:
    """A service's build context folder, or its Dockerfile, does not exist in the project.

    Remote contexts (URLs, git) are skipped, contexts outside the scanned root are reported by
    DA204 instead, and paths inside excluded or tool folders (``node_modules``, ``.venv``...) are
    not judged, since the scan did not list them.
    """
    for _compose, service in _services(project):
        build = service.build
        if build is None or build.remote or build.outside or build.context is None:
            continue
        if _excluded(project, build.context):
            continue
        tree = project.tree
        if not tree.is_dir(build.context):
            if build.context in tree.files:
                problem = "is a file, not a folder (compose needs the folder that holds the Dockerfile)"
            else:
                problem = f"does not exist (looked for {build.context}/ from the project root)"
            yield Finding(
                span=_context_span(service),
                message=f"build context {build.context_raw!r} of service {service.name!r} {problem}",
                fix="point build.context at an existing folder, relative to the compose file",
            )
            continue
        if build.dockerfile_inline is not None or build.dockerfile is None:
            continue
        if build.dockerfile in tree.files or _excluded(project, build.dockerfile):
            continue
        folder = posixpath.dirname(build.dockerfile) or "."
        siblings = {posixpath.basename(p): p for p in tree.files if (posixpath.dirname(p) or ".") == folder}
        if build.dockerfile_raw is None:
            others = sorted(p for p, kind in tree.classified.items() if kind == "dockerfile"
                            and (build.context == "." or p.startswith(build.context + "/")))
            hint = f"; Dockerfiles in the context: {', '.join(others[:5])}" if others else ""
            if "Containerfile" in siblings:
                hint = ("; compose does not fall back to the Containerfile there, name it with "
                        "build.dockerfile")
            yield Finding(
                span=service.span_of("build"),
                message=(f"service {service.name!r} builds {build.context_raw!r} without build.dockerfile, "
                         f"but there is no Dockerfile in {build.context}/{hint}"),
                fix="add the Dockerfile, or set build.dockerfile to the file to build (relative to the "
                    "context)",
            )
            continue
        name = posixpath.basename(build.dockerfile)
        case_match = next((p for n, p in siblings.items() if n.lower() == name.lower()), None)
        guess = case_match or (siblings.get(_similar(name, siblings)) if siblings else None)
        hint = f"; did you mean {guess}?" if guess else ""
        if case_match:
            hint += " (file names are case-sensitive on Linux)"
        yield Finding(
            span=service.value_span_of("build", "dockerfile"),
            message=(f"build.dockerfile {build.dockerfile_raw!r} of service {service.name!r} does not exist "
                     f"(looked for {build.dockerfile}; the path is relative to the build context){hint}"),
            fix="correct build.dockerfile; it is resolved inside build.context, not next to the compose file",
        )


_ESCAPE_TEXT = {
    "build context": ("build context", "the Dockerfile and context checks are skipped for this service"),
    "dockerfile": ("build.dockerfile", "the Dockerfile checks are skipped for this service"),
    "env_file": ("env_file", "the variables it defines are unknown to the env-file checks"),
    "include": ("included file", "the services it defines are not checked"),
    "extends": ("extended file", "the settings this service inherits are not checked"),
    "bind mount": ("bind-mount source", "the mounted files are not checked"),
}


@rule("DA204")
def compose_path_outside_root(project: Project) -> Iterator[Finding]:
    """A compose path leaves the scanned root, so dockaudit cannot read what it points to.

    Covers build contexts and Dockerfiles, ``env_file``, ``include``, ``extends: file:`` and
    relative bind-mount sources that climb out with ``..``. Absolute bind mounts and absolute
    ``env_file`` paths name files on the deployment host and are not reported.
    """
    seen: set[tuple[Span, str]] = set()
    for compose in project.compose_projects:
        for escape in compose.project_escapes:
            key = (escape.span, escape.kind)
            if key in seen:
                continue
            seen.add(key)
            what, consequence = _ESCAPE_TEXT.get(escape.kind, (escape.kind, "it is not checked"))
            owner = f" of service {escape.service!r}" if escape.service else ""
            yield Finding(
                span=escape.span,
                message=(f"{what} {escape.raw!r}{owner} is outside the scanned root; dockaudit does not read "
                         f"outside the root, so {consequence}"),
                fix="scan the folder that contains both (for example the repository root), or move the "
                    "files inside this project",
            )


def _diagnostics(project: Project, rule_id: str) -> Iterator[Finding]:
    seen: set[tuple[Span, str]] = set()
    for compose in project.compose_projects:
        for finding in compose.diagnostics:
            if finding.rule != rule_id or (finding.span, finding.message) in seen:
                continue
            seen.add((finding.span, finding.message))
            yield Finding(span=finding.span, message=finding.message, related=finding.related,
                          fix=finding.fix)


@rule("DA205")
def invalid_interpolation(project: Project) -> Iterator[Finding]:
    """A ``$`` expression in a compose file that compose cannot interpolate.

    ``${`` without a valid variable name, ``${VAR`` without its ``}``, an unknown modifier
    (``${VAR:x}``), or a modified reference whose ``}`` is on another line. Compose refuses the
    whole file ("invalid interpolation format"). Also reported inside defaults, which compose
    only evaluates when the variable is unset.
    """
    yield from _diagnostics(project, "DA205")


@rule("DA206")
def compose_load_error(project: Project) -> Iterator[Finding]:
    """Compose cannot assemble the project: an ``include:`` or ``extends:`` target is missing,
    ``extends`` names a service that does not exist or forms a cycle, or an override file
    replaces a mapping or list with a value of another type."""
    yield from _diagnostics(project, "DA206")
