"""Rules that read one Dockerfile: stages, FROM arguments, and lines Docker reads differently
from how they look."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.installs import run_mounts
from dockaudit.parse.dockerfile import (
    BUILTIN_ARGS,
    Dockerfile,
    Instruction,
    Stage,
    VarRef,
    expand,
    split_words,
    variable_references,
)
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.project import Project


def _dockerfiles(project: Project) -> Iterable[tuple[str, Dockerfile]]:
    return project.dockerfiles.items()


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (edits, with adjacent transpositions)."""
    if a == b:
        return 0
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _close_to(word: str, candidates: Iterable[str]) -> str | None:
    """A candidate that ``word`` is probably a typo of (1 edit for short words, 2 for long)."""
    lowered = word.lower()
    if len(lowered) < 4:
        return None
    limit = 1 if len(lowered) <= 6 else 2
    best: tuple[int, str] | None = None
    for candidate in candidates:
        d = _distance(lowered, candidate.lower())
        if 0 < d <= limit and (best is None or d < best[0]):
            best = (d, candidate)
    return best[1] if best else None


# --- DA101 -----------------------------------------------------------------------------------


@rule("DA101")
def duplicate_stage_name(project: Project) -> Iterator[Finding]:
    """Two ``FROM ... AS name`` with the same name (compared case-insensitively, as Docker does).

    Docker does not stop the build: ``FROM name`` lines resolve to the stage defined before them,
    while ``COPY --from=name``, ``RUN --mount=from=name`` and ``--target name`` resolve to the
    last one, so one of the two stages is silently unreachable by name.
    """
    for _path, document in _dockerfiles(project):
        first_by_key: dict[str, Stage] = {}
        for stage in document.stages:
            key = stage.key
            if not key or stage.name_span is None:
                continue
            first = first_by_key.get(key)
            if first is None:
                first_by_key[key] = stage
                continue
            related = ()
            if first.name_span is not None:
                related = (Related(first.name_span, f"first stage named {first.name!r}"),)
            yield Finding(
                span=stage.name_span,
                message=(f"stage name {stage.name!r} is already used by the FROM on line "
                         f"{first.from_instruction.span.line}; `--target {key}`, `COPY --from={key}` and "
                         f"`RUN --mount=from={key}` all reach only the last stage of that name"),
                related=related,
                fix=f"Give each stage its own name, e.g. `AS {key}-{stage.index}`, and update the "
                    "references (COPY --from, FROM, compose `build.target`).",
            )


# --- DA102 -----------------------------------------------------------------------------------

_IMAGE_HINTS = ("/", ":", ".", "@")


def _stage_reference_findings(document: Dockerfile, stage: Stage, inst: Instruction, kind: str,
                              ref: str, span: Span) -> Iterator[Finding]:
    what = "COPY --from" if kind == "copy" else "RUN --mount from="
    count = len(document.stages)
    if not ref:
        return
    if kind == "copy" and "$" in ref:
        yield Finding(
            span=span,
            message=(f"`COPY --from={ref}`: Docker does not expand variables in --from and fails the "
                     "build (\"variable expansion is not supported for --from\")"),
            fix="Declare the image as a global ARG and make it a stage: `ARG SRC=image:tag` before the "
                "first FROM, `FROM ${SRC} AS src`, then `COPY --from=src ...`.",
        )
        return
    if ref.isdecimal():
        index = int(ref)
        if kind == "mount":
            named = document.stages[index].name if index < count else None
            yield Finding(
                span=span,
                message=(f"`RUN --mount=from={ref}`: mounts do not take stage indexes; Docker looks up "
                         f"a stage named {ref!r}, finds none and tries to pull an image called {ref!r}"),
                fix=(f"Use the stage name: `from={named}`." if named else
                     "Name the stage (`FROM ... AS name`) and use `from=name`."),
            )
            return
        if index >= count:
            yield Finding(
                span=span,
                message=(f"`COPY --from={ref}`: there is no stage {index}; this Dockerfile has {count} "
                         f"stage{'s' if count != 1 else ''} (numbered from 0)"),
                fix="Refer to an earlier stage, preferably by name (`FROM ... AS builder`, "
                    "`COPY --from=builder`).",
            )
            return
        target = document.stages[index]
    else:
        target = document.stage(ref)
        if target is None:
            if any(c in ref for c in _IMAGE_HINTS):
                return  # an image reference: pulled by Docker
            close = _close_to(ref, [s.name for s in document.stages if s.name])
            if close is None:
                return  # a bare image name such as `alpine` or `busybox`
            near = document.stage(close)
            finding = Finding(
                span=span,
                message=(f"`{what}{'=' if kind == 'copy' else ''}{ref}` names no stage, so Docker will "
                         f"try to pull an image called {ref!r}; did you mean stage {close!r}?"),
                related=((Related(near.name_span, f"stage {close!r}"),)
                         if near is not None and near.name_span is not None else ()),
                fix=f"Write `{close}` if you meant the stage.",
                severity=Severity.WARNING,
            )
            yield finding
            return
    related = (Related(target.from_instruction.keyword_span, f"FROM of {target.label}"),)
    if target is stage:
        yield Finding(
            span=span,
            message=(f"{what} refers to {target.label}, the stage this instruction is in; a stage cannot "
                     "copy or mount from itself (Docker: circular dependency)"),
            related=related,
            fix="Copy from the stage that produced the files, or split this stage in two.",
        )
    elif target.index > stage.index:
        yield Finding(
            span=span,
            message=(f"{what} refers to {target.label}, which is defined later (line "
                     f"{target.from_instruction.span.line}); Docker needs the source stage defined "
                     f"before {stage.label}"),
            related=related,
            fix="Move that stage above this one, or copy from an earlier stage.",
        )


@rule("DA102")
def copy_from_unknown_stage(project: Project) -> Iterator[Finding]:
    """``COPY --from`` / ``RUN --mount=from=`` naming a stage that cannot be the source.

    Fires when the value is the current stage, a stage defined later, a stage index that does not
    exist, a stage index in a mount (not supported), a variable in ``COPY --from`` (not expanded
    by Docker), or a bare name one or two typos away from a stage name (warning). Any other name
    is an image to pull (``--from=nginx:1.27``, ``--from=busybox``) and is not reported; stage
    names are compared case-insensitively, as Docker does.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for inst in stage.instructions:
                if inst.keyword == "COPY":
                    for flag in inst.flags:
                        if flag.name == "from":
                            yield from _stage_reference_findings(document, stage, inst, "copy",
                                                                 flag.value or "", flag.span)
                elif inst.keyword == "RUN" and any(f.name == "mount" for f in inst.flags):
                    needs_scope = any("$" in (f.value or "") for f in inst.flags if f.name == "mount")
                    variables = stage.env_at(inst) if needs_scope else None
                    for mount in run_mounts(inst, variables):
                        if mount.from_:
                            yield from _stage_reference_findings(document, stage, inst, "mount",
                                                                 mount.from_, mount.span)


# --- DA103 -----------------------------------------------------------------------------------


def _from_reference_finding(document: Dockerfile, stage: Stage, ref: VarRef, span: Span,
                            where: str) -> Finding | None:
    name = ref.name
    if name in BUILTIN_ARGS or ref.depth > 0:
        return None
    declared = document.global_arg_defaults
    if name not in declared:
        later = [i for i in document.instructions
                 if i.keyword == "ARG" and i.stage >= 0 and any(kv.key == name for kv in i.key_values)]
        hint = ""
        if later:
            hint = (f" (`ARG {name}` on line {later[0].span.line} is inside a stage; only ARGs "
                    "before the first FROM are visible to FROM)")
        else:
            close = _close_to(name, [*declared, *sorted(BUILTIN_ARGS)])
            if close:
                hint = f"; did you mean {close}?"
        related = (Related(later[0].keyword_span, f"ARG {name} inside a stage"),) if later else ()
        fix = f"Declare it before the first FROM: `ARG {name}=<default>`."
        if ref.modifier in (":-", "-"):
            return Finding(
                span=span,
                message=(f"{where} uses ${{{name}{ref.modifier}...}} but no ARG {name} is declared before "
                         f"the first FROM, so the default is always used and `--build-arg {name}=...` "
                         f"cannot change it{hint}"),
                related=related, fix=fix, severity=Severity.WARNING,
            )
        if ref.modifier in (":+", "+"):
            return Finding(
                span=span,
                message=(f"{where} uses ${{{name}{ref.modifier}...}} but no ARG {name} is declared before "
                         f"the first FROM, so it always expands to nothing{hint}"),
                related=related, fix=fix, severity=Severity.WARNING,
            )
        result = expand(stage.base, declared, document.escape)
        return Finding(
            span=span,
            message=(f"{where} uses ${name}, but no ARG {name} is declared before the first FROM: it "
                     f"expands to nothing (base image `{result or '(blank)'}`){hint}"),
            related=related, fix=fix,
        )
    if declared[name] is None and ref.modifier not in (":-", "-", ":+", "+"):
        arg = next((i for i in document.global_args if any(kv.key == name for kv in i.key_values)), None)
        result = expand(stage.base, declared, document.escape)
        return Finding(
            span=span,
            message=(f"{where} uses ${name}, and `ARG {name}` has no default: unless every build passes "
                     f"`--build-arg {name}=...` (or compose `build.args`), the base image is "
                     f"`{result or '(blank)'}`"),
            related=(Related(arg.keyword_span, f"ARG {name} without a default"),) if arg else (),
            fix=f"Give it a default: `ARG {name}=<value>`, or use `${{{name}:-<value>}}` in the FROM.",
            severity=Severity.WARNING,
        )
    return None


@rule("DA103")
def undefined_arg_in_from(project: Project) -> Iterator[Finding]:
    """A FROM (image or ``--platform``) uses a variable that no ARG before the first FROM declares.

    Error when the variable is undeclared (it expands to an empty string: a broken or different
    image); warning when it is declared without a default (empty unless every build passes it),
    or undeclared but used as ``${VAR:-default}`` (the default can never be overridden).
    BuildKit's built-in platform ARGs (``BUILDPLATFORM``, ``TARGETARCH`` ...) are defined.
    """
    passed = _compose_build_args(project)
    for path, document in _dockerfiles(project):
        findings: list[Finding] = []
        for stage in document.stages:
            inst = stage.from_instruction
            if "$" in stage.base:
                for ref in variable_references(stage.base, document.escape):
                    span = inst.value_span(ref.start, ref.end)
                    findings.append(_from_reference_finding(document, stage, ref, span, "FROM"))
            for flag in inst.flags:
                if flag.name == "platform" and flag.value and "$" in flag.value:
                    for ref in variable_references(flag.value, document.escape):
                        findings.append(
                            _from_reference_finding(document, stage, ref, flag.span, "FROM --platform"))
        builds = passed.get(path)
        for finding in findings:
            if finding is None:
                continue
            if finding.severity == Severity.WARNING and "has no default" in finding.message:
                # An ARG without default in FROM is the "must be passed" idiom: judge it by the builds
                # we can see. Compose passes it: fine. No compose build: we cannot see how it is
                # built (a script's --build-arg), so only a note.
                name = finding.message.split("`ARG ", 1)[1].split("`", 1)[0]
                if builds is None:
                    finding.severity = Severity.NOTE
                elif all(name in args for args in builds):
                    continue
            yield finding


def _compose_build_args(project: Project) -> dict[str, list[set[str]]]:
    """Dockerfile path -> the build-arg names each compose service building it passes."""
    from dockaudit.link.services import service_builds

    out: dict[str, list[set[str]]] = {}
    for link in service_builds(project):
        if link.dockerfile_path and link.service.build is not None:
            out.setdefault(link.dockerfile_path, []).append(set(link.service.build.args))
    return out


# --- DA104 -----------------------------------------------------------------------------------


@rule("DA104")
def inline_comment(project: Project) -> Iterator[Finding]:
    """``ENV``/``ARG``/``LABEL`` with a ``#`` after whitespace, outside quotes.

    Docker only treats ``#`` as a comment at the start of a line. In ``ENV A=1  # note`` the
    words ``#`` and ``note`` are read as more ``name=value`` pairs and the build fails; in the
    legacy ``ENV A 1 # note`` form the comment becomes part of the value; in ``ARG A=1 # note``
    it declares build arguments named ``#`` and ``note`` (warning).
    """
    for _path, document in _dockerfiles(project):
        for inst in document.instructions:
            if inst.keyword not in ("ENV", "ARG", "LABEL") or "#" not in inst.value:
                continue
            finding = _inline_comment(inst)
            if finding is not None:
                yield finding


def _inline_comment(inst: Instruction) -> Finding | None:
    value = inst.value
    words = split_words(value, inst.escape)
    if len(words) < 2:
        return None
    legacy = inst.keyword != "ARG" and "=" not in words[0][0]
    candidates = words[2:] if legacy else words[1:]
    comment_at = next((i for i, (w, _, _) in enumerate(candidates) if w.startswith("#")), None)
    if comment_at is None:
        return None
    comment_words = candidates[comment_at:]
    start = comment_words[0][1]
    comment = value[start:].strip()
    span = inst.value_span(start, len(value))
    keep = value[:start].rstrip()
    fix = (f"Put the comment on its own line above the instruction: `{comment}` on one line, then "
           f"`{inst.keyword} {keep}`.")
    keyword = inst.keyword
    if keyword == "ARG":
        names = [w.split("=", 1)[0] for w, _, _ in comment_words]
        shown = ", ".join(f"`{n}`" for n in names[:4]) + (" ..." if len(names) > 4 else "")
        return Finding(
            span=span,
            message=(f"`#` does not start a comment here: ARG reads `{comment}` as more build argument "
                     f"declarations ({shown})"),
            fix=fix, severity=Severity.WARNING,
        )
    if legacy:
        key = words[0][0]
        raw = value[len(key):].strip()
        effective = expand(raw, {}, inst.escape)
        return Finding(
            span=span,
            message=(f"`#` does not start a comment here: `{keyword} {key} ...` (space form) takes the "
                     f"whole rest of the line, so {key} is set to `{effective}`"),
            fix=fix,
        )
    without_eq = [w for w, _, _ in comment_words if "=" not in w]
    if without_eq:
        return Finding(
            span=span,
            message=(f"`#` does not start a comment here: Docker reads `{comment}` as more name=value "
                     f"pairs of this {keyword} and fails the build (`{without_eq[0]}` has no `=`)"),
            fix=fix,
        )
    return Finding(
        span=span,
        message=(f"`#` does not start a comment here: Docker reads `{comment}` as more name=value pairs "
                 f"and sets {keyword} keys starting with `#`"),
        fix=fix,
    )
