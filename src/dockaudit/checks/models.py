"""Rules about models baked into images at build time, and build-time settings that leak into the
runtime: Hugging Face caches and offline mode, deprecated cache variables, mounts that hide what
the image baked, mirrors/proxies kept in the final image, and secrets in ``ARG``/``ENV``.

Model downloads are recognised in ``RUN`` instructions: ``huggingface-cli download`` /
``hf download``, ``modelscope download``, ``python -c "..."`` snippets and Python scripts of the
build context (read with :mod:`ast`, never run) that call ``snapshot_download``,
``hf_hub_download``, ``from_pretrained``, ``pipeline``, ``SentenceTransformer``,
``WhisperModel``, ``whisper.load_model`` or ``torch.hub``; a script whose name says it downloads
models (``download_models.py``) counts even when it is not in the scanned tree.

Where the files land is worked out the way the libraries do it: ``--local-dir``/``local_dir=``
(a plain folder, loaded by path), ``cache_dir=`` (an explicit cache), or the library cache from
the environment in effect at that ``RUN`` (``HF_HUB_CACHE``, ``HF_HOME``, ``XDG_CACHE_HOME``,
``TRANSFORMERS_CACHE``, ``MODELSCOPE_CACHE``, ``TORCH_HOME``, else ``$HOME/.cache/...`` of the
user the ``RUN`` runs as), and compared with the cache the container will use (the final
stage's ``ENV`` and ``USER``, the compose service's ``environment``, ``env_file`` and ``user``).
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.checks.context import BuildUnit, build_units, context_view, real_dockerfiles
from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.parse.dockerfile import expand
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.parse.dockerfile import Instruction, Stage
    from dockaudit.project import Project
    from dockaudit.shell import Command

_PYTHON = re.compile(r"^python(?:\d+(?:\.\d+)*)?$")
_DOWNLOAD_SCRIPT = re.compile(r"(?i)(?:download|fetch|prefetch|preload|cache)[_-]?(?:all[_-]?)?"
                              r"(?:models?|weights|checkpoints?)"
                              r"|(?:models?|weights)[_-]?(?:download|fetch)")
_OUTPUT_OPTIONS = frozenset({
    "--output", "--out", "-o", "--dir", "--local-dir", "--local_dir", "--target", "--dest", "--destination",
    "--model-dir", "--model_dir", "--models-dir", "--save-dir", "--save_dir", "--path", "--output-dir",
    "--output_dir", "--root", "--download-root", "--download_root",
})
_TRUE = frozenset({"1", "true", "yes", "on"})
#: ``uv run`` options followed by a value
_UV_RUN_VALUE_OPTIONS = frozenset({
    "--with", "--with-editable", "--with-requirements", "--python", "-p", "--extra", "--group",
    "--only-group", "--no-group", "--env-file", "--index", "--default-index", "--index-url",
    "--extra-index-url", "--project", "--directory", "--package", "--from", "--config-file",
    "--cache-dir", "-w",
})


# --- downloads -------------------------------------------------------------------------------


@dataclass
class Download:
    """A model download run at build time."""

    #: hub | transformers | modelscope | whisper | torch | unknown
    kind: str
    #: cache (the library cache from the environment) | cache_dir (explicit) | local | unknown
    dest_type: str
    dest: str | None
    instruction: Instruction
    stage: Stage
    span: Span
    tool: str
    #: variables set for this command only (``HF_HOME=/x cmd``, ``export`` earlier in the RUN)
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    kind: str
    dest_type: str
    dest: str | None


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _call_name(node: ast.Call) -> tuple[str, str]:
    """(name, dotted prefix) of a call: ``hub.snapshot_download(...)`` → ("snapshot_download", "hub")."""
    func = node.func
    if isinstance(func, ast.Name):
        return func.id, ""
    if isinstance(func, ast.Attribute):
        prefix = ""
        value = func.value
        if isinstance(value, ast.Name):
            prefix = value.id
        elif isinstance(value, ast.Attribute):
            prefix = value.attr
        return func.attr, prefix
    return "", ""


def _python_downloads(code: str) -> list[_Call] | None:
    """Model downloads in Python source (None when it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    modelscope_names: set[str] = set()
    saves: list[str | None] = []
    calls: list[tuple[ast.Call, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "modelscope":
            modelscope_names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Call):
            name, prefix = _call_name(node)
            if name in ("save_pretrained", "save"):
                target = _literal(node.args[0]) if node.args else _literal(_kw(node, "save_directory"))
                saves.append(target)
            calls.append((node, name, prefix))
    out: list[_Call] = []
    for node, name, prefix in calls:
        if name in ("snapshot_download", "hf_hub_download", "model_file_download"):
            kind = "modelscope" if (name in modelscope_names or prefix == "modelscope"
                                    or name == "model_file_download") else "hub"
            out.append(_with_dest(node, kind, ("local_dir",), ("cache_dir",)))
        elif name == "from_pretrained" or (name == "pipeline" and prefix in ("", "transformers")):
            if saves:
                out.append(_Call("transformers", "local", saves[0]))
            else:
                out.append(_with_dest(node, "transformers", (), ("cache_dir",)))
        elif name in ("SentenceTransformer", "CrossEncoder"):
            if saves:
                out.append(_Call("hub", "local", saves[0]))
            else:
                out.append(_with_dest(node, "hub", (), ("cache_folder",)))
        elif name == "WhisperModel" or (name == "download_model" and prefix == "faster_whisper"):
            out.append(_with_dest(node, "hub", ("output_dir",), ("download_root", "cache_dir")))
        elif name == "load_model" and prefix == "whisper":
            out.append(_with_dest(node, "whisper", (), ("download_root",)))
        elif (name in ("load", "load_state_dict_from_url", "download_url_to_file") and prefix == "hub") or \
                name == "load_state_dict_from_url":
            out.append(_with_dest(node, "torch", (), ("model_dir",)))
    return out


def _kw(node: ast.Call, name: str) -> ast.AST | None:
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _with_dest(node: ast.Call, kind: str, local_kws: tuple[str, ...], cache_kws: tuple[str, ...]) -> _Call:
    for name in local_kws:
        value = _kw(node, name)
        if value is not None:
            return _Call(kind, "local", _literal(value))
    for name in cache_kws:
        value = _kw(node, name)
        if value is not None:
            return _Call(kind, "cache_dir", _literal(value))
    return _Call(kind, "cache", None)


def _option(words: list[str], *names: str) -> tuple[bool, str | None]:
    for index, word in enumerate(words):
        for name in names:
            if word == name:
                return True, words[index + 1] if index + 1 < len(words) else None
            if word.startswith(name + "="):
                return True, word[len(name) + 1:]
    return False, None


def image_file_source(project: Project, unit: BuildUnit, stage: Stage, inst: Instruction,
                      path: str) -> str | None:
    """The context file (root-relative) that a path used by ``inst`` comes from, following the
    ``COPY`` instructions before it and the ``WORKDIR`` it runs in; None if unknown."""
    from dockaudit.checks.context import copy_sources

    if "$" in path:
        return None
    view = context_view(project, unit.context)
    by_inst: dict[int, list] = {}
    for source in copy_sources(unit):
        by_inst.setdefault(id(source.instruction), []).append(source)
    placements: list[tuple[str, str, bool]] = []  # (context path, destination, destination is a folder)
    target = None
    for member, current, workdir, _user in _walk(stage):
        if current is inst:
            target = posixpath.normpath(posixpath.join(workdir, path))
            break
        sources = by_inst.get(id(current))
        if current.keyword not in ("COPY", "ADD") or not sources:
            continue
        args = current.json_args if current.json_args is not None else current.args
        raw_dest = args[-1] if args else ""
        dest = expand(raw_dest, member.env_at(current), current.escape) if "$" in raw_dest else raw_dest
        if not dest:
            continue
        dest_dir = dest.endswith("/") or len(sources) > 1
        dest = posixpath.normpath(posixpath.join(workdir, dest))
        placements.extend((s.path, dest, dest_dir) for s in sources if not s.wildcard)
    if target is None:
        return None
    for src, dest, dest_dir in reversed(placements):  # a later COPY wins
        if src == "." or view.is_dir(src):
            if target == dest or target.startswith(dest.rstrip("/") + "/"):
                rel = posixpath.relpath(target, dest)
                candidate = rel if src == "." else posixpath.normpath(posixpath.join(src, rel))
                if candidate in view.files:
                    return view.root_path(candidate)
        else:
            placed = posixpath.join(dest, posixpath.basename(src)) if dest_dir else dest
            if placed == target and src in view.files:
                return view.root_path(src)
    return None


def _script_file(project: Project, unit: BuildUnit, path: str,
                 where: tuple[Stage, Instruction] | None = None) -> str | None:
    """The context file a script path in a RUN most likely is (root-relative), or None."""
    if where is not None:
        found = image_file_source(project, unit, where[0], where[1], path)
        if found is not None:
            return found
    view = context_view(project, unit.context)
    clean = posixpath.normpath(path).lstrip("/")
    if clean in view.files:
        return view.root_path(clean)
    tail = "/" + clean
    matches = [f for f in view.files if f.endswith(tail) or f == clean]
    if len(matches) == 1:
        return view.root_path(matches[0])
    if not matches and "/" not in clean:
        named = [f for f in view.files if posixpath.basename(f) == clean]
        if len(named) == 1:
            return view.root_path(named[0])
    return None


def _command_downloads(project: Project, unit: BuildUnit, command: Command,
                       where: tuple[Stage, Instruction] | None = None) -> list[_Call]:
    words = command.words
    if not words:
        return []
    name = command.name
    args = words[1:]
    if name in ("huggingface-cli", "hf") and args[:1] == ["download"]:
        has_local, local = _option(args, "--local-dir")
        if has_local:
            return [_Call("hub", "local", local)]
        has_cache, cache = _option(args, "--cache-dir")
        if has_cache:
            return [_Call("hub", "cache_dir", cache)]
        return [_Call("hub", "cache", None)]
    if name == "modelscope" and args[:1] == ["download"]:
        has_local, local = _option(args, "--local_dir", "--local-dir")
        if has_local:
            return [_Call("modelscope", "local", local)]
        has_cache, cache = _option(args, "--cache_dir", "--cache-dir")
        if has_cache:
            return [_Call("modelscope", "cache_dir", cache)]
        return [_Call("modelscope", "cache", None)]
    if name == "uv" and args[:1] == ["run"]:
        index = 1
        while index < len(args) and args[index].startswith("-"):
            option = args[index]
            index += 2 if option in _UV_RUN_VALUE_OPTIONS else 1
        rest = args[index:]
        if rest:
            return _command_downloads(project, unit, _rewrap(command, rest), where)
        return []
    if not _PYTHON.match(name):
        if name.endswith(".py"):
            return _script_downloads(project, unit, words[0], args, where)
        return []
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] not in ("-c", "-m"):
        index += 1
    if index >= len(args):
        return []
    if args[index] == "-c" and index + 1 < len(args):
        found = _python_downloads(args[index + 1])
        if found is None:
            found = _text_downloads(args[index + 1])
        return found
    if args[index] == "-m" and index + 1 < len(args):
        module = args[index + 1]
        return _script_downloads(project, unit, module.replace(".", "/") + ".py", args[index + 2:], where)
    return _script_downloads(project, unit, args[index], args[index + 1:], where)


def _rewrap(command: Command, words: list[str]) -> Command:
    from dockaudit.shell import Command as _Command

    return _Command(words=words, assignments=command.assignments, start=command.start, end=command.end)


def _text_downloads(code: str) -> list[_Call]:
    if re.search(r"\b(?:snapshot_download|hf_hub_download|from_pretrained)\b", code):
        return [_Call("unknown", "unknown", None)]
    return []


def _script_downloads(project: Project, unit: BuildUnit, script: str, args: list[str],
                      where: tuple[Stage, Instruction] | None = None) -> list[_Call]:
    if "$" in script:
        return []
    named = bool(_DOWNLOAD_SCRIPT.search(posixpath.basename(script)))
    output = any(a.split("=", 1)[0] in _OUTPUT_OPTIONS for a in args)
    path = _script_file(project, unit, script, where)
    if path is not None:
        source = project.source(path)
        calls = _python_downloads(source.text) if source is not None else None
        if calls is not None:
            if output:
                return [_Call(c.kind, "local", None) for c in calls]
            return calls
    if not named:
        return []
    return [_Call("unknown", "local" if output else "unknown", None)]


def _walk(stage: Stage) -> Iterator[tuple[Stage, Instruction, str, str | None]]:
    """Every instruction of the stage's lineage (farthest parent first) with the WORKDIR and USER
    in effect when it runs."""
    from dockaudit.link.services import lineage

    workdir, user = "/", None
    for member in reversed(lineage(stage)):
        for inst in member.instructions:
            yield member, inst, workdir, user
            if inst.keyword == "WORKDIR" and inst.value:
                value = expand(inst.value, member.env_at(inst), inst.escape) if "$" in inst.value else \
                    expand(inst.value, {}, inst.escape)
                workdir = posixpath.normpath(posixpath.join(workdir, value)) if value else workdir
            elif inst.keyword == "USER" and inst.value:
                user = inst.value
                if "$" in user:
                    user = expand(user, member.env_at(inst), inst.escape)


def stage_downloads(project: Project, unit: BuildUnit,
                    stage: Stage) -> list[tuple[Download, str, str | None]]:
    """Model downloads in the lineage of ``stage`` with the WORKDIR and USER of their RUN."""
    from dockaudit.checks.context import commands_of

    cache = getattr(project, "_dockaudit_downloads", None)
    if cache is None:
        cache = {}
        project._dockaudit_downloads = cache  # type: ignore[attr-defined]
    key = (id(unit), id(stage))
    if key in cache:
        return cache[key]
    out: list[tuple[Download, str, str | None]] = []
    for member, inst, workdir, user in _walk(stage):
        if inst.keyword != "RUN":
            continue
        exported: dict[str, str] = {}
        for command, span in commands_of(inst):
            if command.name == "export":
                for word in command.args:
                    name, eq, value = word.partition("=")
                    if eq:
                        exported[name] = value
                continue
            for call in _command_downloads(project, unit, command, (stage, inst)):
                overrides = {**exported, **command.assignments}
                dest = call.dest
                if dest is not None and ("$" in dest or not dest):
                    dest = None if "$" in (dest or "$") else dest
                if dest is not None and not dest.startswith("/"):
                    dest = posixpath.normpath(posixpath.join(workdir, dest))
                download = Download(call.kind, call.dest_type, dest, inst, member, span,
                                    command.words[0] if command.words else "", overrides)
                out.append((download, workdir, user))
    cache[key] = out
    return out


# --- caches ----------------------------------------------------------------------------------


def _is_root(user: str | None) -> bool:
    if user is None:
        return True
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0")


def _known_user(user: str | None) -> bool:
    if user is None:
        return True
    name = user.split(":", 1)[0].strip()
    return bool(name) and "$" not in name


def _home(env: dict[str, str | None], user: str | None) -> str | None:
    home = env.get("HOME")
    if home:
        return home
    return "/root" if _is_root(user) else None


def cache_path(kind: str, env: dict[str, str | None], user: str | None) -> str | None:
    """Where a library caches downloads for this environment and user (None: unknown home)."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value else None

    home = _home(env, user)
    xdg = get("XDG_CACHE_HOME") or (f"{home}/.cache" if home else None)
    hf_home = get("HF_HOME") or (f"{xdg}/huggingface" if xdg else None)
    hub = get("HF_HUB_CACHE") or get("HUGGINGFACE_HUB_CACHE") or (f"{hf_home}/hub" if hf_home else None)
    if kind == "hub":
        return hub
    if kind == "transformers":
        return get("TRANSFORMERS_CACHE") or get("PYTORCH_TRANSFORMERS_CACHE") or \
            get("PYTORCH_PRETRAINED_BERT_CACHE") or hub
    if kind == "modelscope":
        return get("MODELSCOPE_CACHE") or (f"{home}/.cache/modelscope/hub" if home else None)
    if kind == "whisper":
        return f"{xdg}/whisper" if xdg else None
    if kind == "torch":
        return get("TORCH_HOME") or (f"{xdg}/torch" if xdg else None)
    return None


#: variables that decide where each library looks, for messages
_CACHE_VARS = {
    "hub": ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"),
    "transformers": ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "HF_HUB_CACHE", "HF_HOME",
                     "XDG_CACHE_HOME", "HOME"),
    "modelscope": ("MODELSCOPE_CACHE", "HOME"),
    "whisper": ("XDG_CACHE_HOME", "HOME"),
    "torch": ("TORCH_HOME", "XDG_CACHE_HOME", "HOME"),
}
_LIBRARY = {"hub": "huggingface_hub", "transformers": "transformers", "modelscope": "modelscope",
            "whisper": "whisper", "torch": "torch.hub"}


@dataclass
class Runtime:
    """What a container of one image sees: its environment, user, and where they come from."""

    stage: Stage
    env: dict[str, str | None]
    user: str | None
    service: Service | None = None
    compose: ComposeProject | None = None
    #: where each variable was set last (for related locations)
    origins: dict[str, Span] = field(default_factory=dict)
    user_span: Span | None = None
    #: some environment comes from files or the shell that dockaudit cannot read
    uncertain: bool = False


def runtimes(project: Project, unit: BuildUnit) -> list[Runtime]:
    """One :class:`Runtime` per compose service of the build (or per target when standalone)."""
    out: list[Runtime] = []
    for target in unit.targets:
        services = [(c, s) for c, s in unit.services if _target_of(unit, s) is target]
        image_env: dict[str, str | None] = dict(target.env)
        origins = {k: i.span for k, i in target.env_definitions.items()}
        user = target.user
        user_span = None
        for _member, inst, _workdir, _user in _walk(target):
            if inst.keyword == "USER":
                user_span = inst.span
        if not services:
            out.append(Runtime(target, image_env, user, origins=dict(origins), user_span=user_span))
            continue
        for compose, service in services:
            env = dict(image_env)
            here = dict(origins)
            uncertain = False
            for ref in service.env_files:
                if ref.path is None or ref.path not in project.tree.files:
                    uncertain = uncertain or ref.required or ref.path is None
                    continue
                document = project.env_file(ref.path)
                if document is None:
                    uncertain = True
                    continue
                for key, entry in document.keys.items():
                    if entry.has_equals:
                        env[key] = entry.value
                        here[key] = entry.span
            for key, value in service.environment.items():
                if value is None:
                    uncertain = True
                    env.pop(key, None)
                    continue
                env[key] = value
                here[key] = _env_span(service, key)
            runtime_user = service.user or user
            runtime = Runtime(target, env, runtime_user, service, compose, here,
                              service.span_of("user") if service.user else user_span, uncertain)
            out.append(runtime)
    return out


def _env_span(service: Service, key: str) -> Span:
    node = service.node_at("environment")
    if node is not None and node.kind == "map" and key in node.value:
        return service.span_of("environment", key)
    if node is not None and node.kind == "seq":
        for item in node.value:
            if item.kind == "scalar" and str(item.value).split("=", 1)[0] == key:
                return item.span
    return service.span_of("environment")


def _target_of(unit: BuildUnit, service: Service) -> Stage | None:
    build = service.build
    if build is None:
        return None
    if build.target:
        return unit.dockerfile.stage(build.target)
    return unit.dockerfile.stages[-1] if unit.dockerfile.stages else None


def _cache_mount_over(inst: Instruction, stage: Stage, path: str) -> str | None:
    """The target of a ``RUN --mount=type=cache|tmpfs`` that ``path`` lies under, if any."""
    from dockaudit.installs import run_mounts

    if not any(f.name == "mount" for f in inst.flags):
        return None
    for mount in run_mounts(inst, stage.env_at(inst)):
        if mount.type not in ("cache", "tmpfs") or not mount.target:
            continue
        target = posixpath.normpath(mount.target)
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return target
    return None


def _describe_env(kind: str, env: dict[str, str | None], user: str | None) -> str:
    parts = [f"{name}={env[name]}" for name in _CACHE_VARS.get(kind, ()) if env.get(name)]
    who = "root" if _is_root(user) else f"user {user.split(':', 1)[0]}"
    return ", ".join([*parts, f"as {who}"])


def _offline(env: dict[str, str | None], kind: str) -> str | None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if kind != "hub" else ("HF_HUB_OFFLINE",):
        value = env.get(name)
        if value is not None and value.strip().lower() in _TRUE:
            return name
    return None


# --- DA840 -----------------------------------------------------------------------------------


@rule("DA840")
def baked_models_not_used(project: Project) -> Iterator[Finding]:
    """Models downloaded at build time that the container will not use as they are.

    Three cases, per download and per container (compose service, or the image alone):

    - the download goes into a ``RUN --mount=type=cache`` (or tmpfs) folder: cache mounts are not
      part of the image, so nothing was baked (warning);
    - the library cache at build time differs from the one the container uses: another
      ``HF_HOME``/``HF_HUB_CACHE``/``TRANSFORMERS_CACHE`` in the final stage or the compose
      service, or another user (a download run as root lands in ``/root/.cache``, a container
      running as ``USER app`` looks in its own home): the container downloads again at start, or
      fails with ``HF_HUB_OFFLINE=1`` (warning);
    - the cache is the same but the container is not told to stay offline (``HF_HUB_OFFLINE=1``,
      ``TRANSFORMERS_OFFLINE=1``): at start the libraries still contact the Hub (or the
      ``HF_ENDPOINT`` mirror) to look for newer files, and download them if the repository moved
      on (warning; a note when the download is only known from a script's name, or when the
      service's environment comes from files dockaudit cannot read).

    Downloads into a plain folder (``--local-dir``, ``local_dir=``, ``save_pretrained``, a
    script given ``--output``) are loaded by path and are not judged here.
    """
    reported: set[tuple[str, int, int, str]] = set()
    for unit in build_units(project):
        for runtime in runtimes(project, unit):
            for download, _workdir, build_user in stage_downloads(project, unit, runtime.stage):
                finding = _judge(download, build_user, runtime)
                if finding is None:
                    continue
                key = (finding.span.path, finding.span.line, finding.span.column, finding.message[:40])
                if key in reported:
                    continue
                reported.add(key)
                yield finding


def _judge(download: Download, build_user: str | None, runtime: Runtime) -> Finding | None:
    inst, stage = download.instruction, download.stage
    build_env = {**stage.env_at(inst), **download.overrides}
    who = f"service {runtime.service.name!r}" if runtime.service is not None else "the container"
    related: list[Related] = []
    # where the files land at build time
    if download.dest_type in ("local", "cache_dir"):
        if download.dest is not None:
            mount = _cache_mount_over(inst, stage, download.dest)
            if mount is not None:
                return _cache_mount_finding(download, mount, download.dest)
        return None
    kinds = [download.kind] if download.kind != "unknown" else ["hub", "transformers"]
    for kind in kinds:
        built = cache_path(kind, build_env, build_user)
        if built is None:
            continue
        mount = _cache_mount_over(inst, stage, built)
        if mount is not None:
            return _cache_mount_finding(download, mount, built)
        used = cache_path(kind, runtime.env, runtime.user)
        root_home = built.startswith("/root/")
        if used is None and _is_root(build_user) and not _is_root(runtime.user) and root_home:
            used = f"the home folder of user {runtime.user.split(':', 1)[0]}"  # type: ignore[union-attr]
        if used is None or used == built:
            continue
        for name in _CACHE_VARS.get(kind, ()):
            if runtime.env.get(name) != build_env.get(name) and name in runtime.origins:
                related.append(Related(runtime.origins[name], f"{name} for the container"))
        if runtime.user_span is not None and _is_root(build_user) != _is_root(runtime.user):
            related.append(Related(runtime.user_span, f"the container runs as {runtime.user}"))
        offline = _offline(runtime.env, kind)
        outcome = (f"fails to find them ({offline} is set)" if offline
                   else "downloads them again at every start of a new container")
        unreadable = ""
        if built.startswith("/root/") and not _is_root(runtime.user):
            unreadable = "; /root is not even readable for that user"
        return Finding(
            span=download.span,
            message=(f"{download.tool} downloads models into {built} "
                     f"({_describe_env(kind, build_env, build_user)}), "
                     f"but {who} looks for them in {used} "
                     f"({_describe_env(kind, runtime.env, runtime.user)}): "
                     f"the baked models are not used and {_LIBRARY.get(kind, kind)} {outcome}{unreadable}. "
                     "Set HF_HOME (or the library's cache variable) to one folder with ENV before the "
                     "download "
                     "and keep it for the container"),
            related=tuple(related[:4]),
            fix="ENV HF_HOME=/opt/models before the download RUN, readable by the runtime user, "
                "and no other HF_HOME in compose",
        )
    if download.kind not in ("hub", "transformers", "unknown"):
        return None
    offline = _offline(runtime.env, download.kind if download.kind != "unknown" else "transformers")
    if offline:
        return None
    severity = None
    doubt = ""
    if download.kind == "unknown" or download.dest_type == "unknown":
        severity = Severity.NOTE
        doubt = " (dockaudit only knows this from the script's name)"
    elif runtime.uncertain:
        severity = Severity.NOTE
        doubt = " (unless an env file dockaudit cannot read sets it)"
    endpoint = runtime.env.get("HF_ENDPOINT") or "https://huggingface.co"
    target = runtime.service.name if runtime.service is not None else None
    where = (f"the environment of service {target!r}" if target else
             f"the final stage ({runtime.stage.label})")
    if runtime.service is not None:
        related.append(Related(runtime.service.span_of("environment"), "the container's environment"))
    else:
        related.append(Related(runtime.stage.from_instruction.span, "the final stage"))
    return Finding(
        span=download.span,
        message=(f"models are baked at build time{doubt}, but {who} does not run offline: without "
                 f"HF_HUB_OFFLINE=1 the container still contacts {endpoint} at start to check for newer "
                 "files "
                 f"(and downloads them if the repository changed, or waits for timeouts where there is no "
                 f"network); set HF_HUB_OFFLINE=1 in {where}"),
        related=tuple(related),
        fix="ENV HF_HUB_OFFLINE=1 in the final stage (after the download), or HF_HUB_OFFLINE: \"1\" in the "
            "compose service's environment",
        severity=severity,
    )


def _cache_mount_finding(download: Download, mount: str, dest: str) -> Finding:
    return Finding(
        span=download.span,
        message=(f"{download.tool} downloads models into {dest}, inside the cache mount {mount} of this "
                 "RUN: cache "
                 "mounts are not part of the image, so no model is baked and the container downloads them at "
                 "start; download to a folder outside the cache mount"),
        related=(Related(download.instruction.span, "RUN with the cache mount"),),
        fix="drop the cache mount for the model folder, or download with --local-dir to a folder outside it",
    )


# --- DA841 -----------------------------------------------------------------------------------

DEPRECATED_CACHE_VARS = ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE")


@rule("DA841")
def transformers_cache_deprecated(project: Project) -> Iterator[Finding]:
    """``TRANSFORMERS_CACHE`` (or ``PYTORCH_TRANSFORMERS_CACHE``, ``PYTORCH_PRETRAINED_BERT_CACHE``)
    set in a Dockerfile ``ENV``/``ARG``, a compose ``environment`` or an env file.

    transformers deprecated these variables in favour of ``HF_HOME`` (or ``HF_HUB_CACHE``) and
    removed them in v5: with transformers 5 the setting is ignored and models go to the default
    cache, so a folder baked or mounted for them is no longer used. huggingface_hub (and
    ``huggingface-cli download``) never read them.
    """
    for path, document in real_dockerfiles(project):
        for inst in document.instructions:
            if inst.keyword not in ("ENV", "ARG"):
                continue
            for kv in inst.key_values:
                if kv.key in DEPRECATED_CACHE_VARS:
                    yield _deprecated_finding(kv.key, kv.key_span, f"{inst.keyword} in {path}")
    for compose in project.compose_projects:
        for service in compose.services.values():
            for key in service.environment:
                if key in DEPRECATED_CACHE_VARS:
                    yield _deprecated_finding(key, _env_span(service, key), f"service {service.name!r}")
    for path, env in sorted(project.env_files.items()):
        for entry in env.entries:
            if entry.key in DEPRECATED_CACHE_VARS:
                yield _deprecated_finding(entry.key, entry.key_span, path)


def _deprecated_finding(name: str, span: Span, where: str) -> Finding:
    return Finding(
        span=span,
        message=(f"{name} is deprecated and removed in transformers v5 ({where}): with transformers 5 it is "
                 "ignored and models are cached under HF_HOME instead; use HF_HOME (or HF_HUB_CACHE for the "
                 "hub cache folder itself)"),
        fix=f"replace {name}=<dir> with HF_HOME=<dir> (models then go to <dir>/hub)",
    )


# --- DA842 -----------------------------------------------------------------------------------

_CODE_EXTENSIONS = (".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".html", ".css", ".vue", ".svelte",
                    ".go", ".rb", ".php", ".java", ".sh")


@rule("DA842")
def mount_hides_baked_files(project: Project) -> Iterator[Finding]:
    """A compose volume mounted over a folder the image baked models (or code) into.

    - A bind mount (or tmpfs) over models a ``RUN`` downloaded: the container sees the host
      folder instead, so the baked models are never used (warning).
    - A named or anonymous volume over such models: Docker copies the image's files into a volume
      only when the volume is created empty, so after a rebuild with other models the container
      keeps the old ones (note).
    - A named or anonymous volume over code the Dockerfile copied (``COPY . /app`` with a volume
      on ``/app``): after a rebuild the container still runs the old code from the volume (note).

    Bind mounts over copied code are the usual development setup and are only reported for
    production compose files (DA858).
    """
    for unit in build_units(project):
        for runtime in runtimes(project, unit):
            service = runtime.service
            if service is None:
                continue
            downloads = stage_downloads(project, unit, runtime.stage)
            reported: set[int] = set()
            for volume in service.volumes:
                if not volume.target or not volume.target.startswith("/"):
                    continue
                target = posixpath.normpath(volume.target)
                for download, _workdir, build_user in downloads:
                    place = _download_place(download, build_user)
                    if place is None or not _under(place, target) or id(volume) in reported:
                        continue
                    reported.add(id(volume))
                    yield _hidden_models(volume, target, place, download, service)
                if id(volume) in reported or volume.type == "bind" or volume.type == "tmpfs":
                    continue
                copied = _copied_code_under(project, unit, runtime.stage, target)
                if copied is not None:
                    inst, dest = copied
                    reported.add(id(volume))
                    name = f"volume {volume.source!r}" if volume.source else "an anonymous volume"
                    yield Finding(
                        span=volume.span,
                        message=(f"service {service.name!r} mounts {name} on {target}, where the image has "
                                 "the code "
                                 f"copied to {dest}: Docker fills a volume from the image only when it is "
                                 "created, "
                                 "so after a rebuild the container keeps running the old code from the "
                                 "volume; "
                                 "mount the volume on a data folder only"),
                        related=(Related(inst.span, f"copies code to {dest}"),),
                        fix="remove the volume, or mount it on a folder that holds data, not code",
                        severity=Severity.NOTE,
                    )


def _download_place(download: Download, build_user: str | None) -> str | None:
    if download.dest_type in ("local", "cache_dir"):
        return download.dest
    if download.dest_type != "cache":
        return None
    env = {**download.stage.env_at(download.instruction), **download.overrides}
    kind = download.kind if download.kind != "unknown" else "hub"
    return cache_path(kind, env, build_user)


def _under(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def _hidden_models(volume, target: str, place: str, download: Download, service: Service) -> Finding:
    if volume.type in ("bind", "tmpfs"):
        what = f"the host folder {volume.source}" if volume.type == "bind" else "an empty tmpfs"
        return Finding(
            span=volume.span,
            message=(f"service {service.name!r} mounts {what} on {target}, over the models the image "
                     "downloaded "
                     f"to {place}: the container sees the mount instead, so the baked models are never used "
                     "(and are downloaded again, or missing, at start); mount it elsewhere or stop baking "
                     "them"),
            related=(Related(download.span, f"downloads models to {place}"),),
            fix="mount the host folder on another path, or remove the download from the Dockerfile",
        )
    name = f"volume {volume.source!r}" if volume.source else "an anonymous volume"
    return Finding(
        span=volume.span,
        message=(f"service {service.name!r} mounts {name} on {target}, over the models the image downloaded "
                 "to "
                 f"{place}: Docker copies them into the volume only when it is created empty, so after a "
                 "rebuild "
                 "with other models the container keeps the old ones; remove the volume (the models are in "
                 "the "
                 "image) or recreate it after each model change"),
        related=(Related(download.span, f"downloads models to {place}"),),
        fix="remove the volume, or `docker compose down -v` whenever the baked models change",
        severity=Severity.NOTE,
    )


def _copied_code_under(project: Project, unit: BuildUnit, stage: Stage,
                       target: str) -> tuple[Instruction, str] | None:
    """A ``COPY`` from the context whose code the mount at ``target`` hides, if any."""
    from dockaudit.checks.context import copy_sources

    view = context_view(project, unit.context)
    by_inst: dict[int, list] = {}
    for source in copy_sources(unit):
        by_inst.setdefault(id(source.instruction), []).append(source)
    for member, inst, workdir, _user in _walk(stage):
        if inst.keyword not in ("COPY", "ADD") or id(inst) not in by_inst:
            continue
        args = inst.json_args if inst.json_args is not None else inst.args
        if not args:
            continue
        raw_dest = args[-1]
        dest = expand(raw_dest, member.env_at(inst), inst.escape) if "$" in raw_dest else raw_dest
        if not dest:
            continue
        dest = posixpath.normpath(posixpath.join(workdir, dest))
        for source in by_inst[id(inst)]:
            if source.wildcard:
                continue
            if _under(dest, target):
                files = view.files_under(source.path) if view.is_dir(source.path) else [source.path]
                if any(f.endswith(_CODE_EXTENSIONS) for f in files):
                    return inst, dest
            elif _under(target, dest) and view.is_dir(source.path):
                rel = posixpath.relpath(target, dest)
                inner = posixpath.normpath(posixpath.join(source.path, rel)) if source.path != "." else rel
                files = view.files_under(inner)
                if any(f.endswith(_CODE_EXTENSIONS) for f in files):
                    return inst, target
    return None


# --- DA843 -----------------------------------------------------------------------------------

#: settings only the build needs (package indexes, model mirrors, proxies)
BUILD_ONLY_VARS = {
    "HF_ENDPOINT": "a Hugging Face mirror",
    "PIP_INDEX_URL": "a pip index", "PIP_EXTRA_INDEX_URL": "a pip index", "PIP_TRUSTED_HOST": "a pip host",
    "UV_INDEX_URL": "a uv index", "UV_EXTRA_INDEX_URL": "a uv index", "UV_DEFAULT_INDEX": "a uv index",
    "UV_INDEX": "a uv index",
    "npm_config_registry": "an npm registry", "NPM_CONFIG_REGISTRY": "an npm registry",
    "YARN_REGISTRY": "a yarn registry", "YARN_NPM_REGISTRY_SERVER": "a yarn registry",
    "GOPROXY": "a Go module proxy",
    "HTTP_PROXY": "a proxy", "HTTPS_PROXY": "a proxy", "http_proxy": "a proxy", "https_proxy": "a proxy",
    "ALL_PROXY": "a proxy", "all_proxy": "a proxy",
}
_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


@rule("DA843")
def build_setting_in_runtime(project: Project) -> Iterator[Finding]:
    """A build-only setting set with ``ENV`` in a stage the final image is made of: package
    indexes and mirrors (``PIP_INDEX_URL``, ``UV_INDEX_URL``, ``UV_DEFAULT_INDEX``,
    ``NPM_CONFIG_REGISTRY``, ``GOPROXY``, ``HF_ENDPOINT``) or proxies (``HTTP_PROXY``...).

    ``ENV`` persists into every container started from the image: a mirror meant for a build in
    one network is used at runtime somewhere else (``HF_ENDPOINT`` makes the running service
    download models from the mirror), a build proxy routes the service's traffic, and
    credentials in an index URL are readable with ``docker inspect``. An ``ARG`` (or a variable
    set on the ``RUN`` line) gives the build the same setting without keeping it. Stages that
    are only built from (``COPY --from``) are not reported.
    """
    seen: set[tuple[str, int, str]] = set()
    for unit in build_units(project):
        for target in unit.targets:
            definitions = target.env_definitions
            for name, inst in sorted(definitions.items(), key=lambda item: item[1].span.line):
                if name not in BUILD_ONLY_VARS:
                    continue
                value = target.env.get(name) or ""
                if not value.strip():
                    continue
                key = (unit.dockerfile_path, inst.span.line, name)
                if key in seen:
                    continue
                seen.add(key)
                kv = next((k for k in inst.key_values if k.key == name), None)
                related: tuple[Related, ...] = ()
                if inst.stage != target.index:
                    related = (Related(target.from_instruction.span, "the final stage"),)
                span = kv.span if kv is not None else inst.span
                secret = " It also holds credentials, readable with `docker inspect`." \
                    if _CREDENTIALS_IN_URL.search(value) else ""
                runtime_note = ""
                if name == "HF_ENDPOINT":
                    runtime_note = " (the running service then downloads models from that mirror)"
                elif "PROXY" in name.upper():
                    runtime_note = " (the running service's own HTTP traffic then goes through it)"
                yield Finding(
                    span=span,
                    message=(f"ENV {name} sets {BUILD_ONLY_VARS[name]} for the build, but ENV also stays in "
                             "the "
                             f"final image ({target.label}) and applies to every "
                             f"container{runtime_note}.{secret} "
                             f"Use `ARG {name}` instead (or set it on the RUN line that needs it)"),
                    related=related,
                    fix=f"ARG {name}={value if not secret else '<url>'}   # build-time only, not kept in "
                        "the image",
                    severity=Severity.ERROR if secret else None,
                )


# --- DA844 / DA845 ---------------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|PWD|API_?KEY|SECRET_?KEY|PRIVATE_?KEY|ACCESS_?KEY|"
    r"CLIENT_SECRET|AUTH_TOKEN|CREDENTIALS?)$"
)
_NOT_SECRET = re.compile(r"(?i)(?:^|_)(?:FILE|PATH|DIR|URL|ENDPOINT|HOST|PORT|NAME|USER|USERNAME|ID|"
                         r"LENGTH|EXPIRE|EXPIRES|TTL|TYPE|HEADER|ENABLED|REQUIRED|VERSION)(?:_|$)")
_PLACEHOLDER = re.compile(r"(?i)^(?:|changeme|change_me|placeholder|dummy|secret|password|xxx+|\*+|none|null|"
                          r"<[^>]*>|your[-_a-z]*|todo|example|test)$")


def secret_name(name: str) -> bool:
    """Does a variable name say it holds a secret (``HF_TOKEN``, ``DB_PASSWORD``, ``OPENAI_API_KEY``)?"""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name) and name.upper() != "PWD"


@rule("DA844")
def secret_in_env(project: Project) -> Iterator[Finding]:
    """``ENV`` gives a secret-named variable (``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``,
    ``*_API_KEY``...) a value in the Dockerfile.

    ``ENV`` values are stored in the image configuration: anyone who can pull the image reads
    them with ``docker inspect``, and the literal is also in the repository. ``ENV X=$ARG``
    copies a build argument into the image the same way (reported as a warning, since the
    value is not in the file). Empty values and paths (``*_FILE``) are not reported.
    """
    for path, document in real_dockerfiles(project):
        finals = _final_lineages(project, path)
        for inst in document.instructions:
            if inst.keyword != "ENV":
                continue
            for kv in inst.key_values:
                if not secret_name(kv.key) or kv.value is None:
                    continue
                raw = kv.value.strip().strip("'\"")
                if not raw or raw.startswith("/"):
                    continue
                in_final = inst.stage in finals
                stage_note = "" if in_final else \
                    " (in a build stage: it stays in the build cache and history)"
                if "$" in raw and re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::?[-+][^}]*)?\}?", raw):
                    yield Finding(
                        span=kv.span,
                        message=(f"ENV {kv.key}={raw} copies a build argument into the image's environment: "
                                 "the "
                                 f"value is stored in the image{stage_note} and readable with `docker "
                                 "inspect`; "
                                 "pass it at runtime (compose environment/env_file, or a secret) instead"),
                        fix=f"remove the ENV and give {kv.key} to the container at runtime; for a build "
                            "step that "
                            f"needs it, use RUN --mount=type=secret,id={kv.key.lower()},env={kv.key}",
                        severity=Severity.WARNING,
                    )
                    continue
                placeholder = bool(_PLACEHOLDER.match(raw))
                kind = "placeholder secret" if placeholder else "secret"
                extra = (", and the container runs with it unless every deployment overrides it"
                         if placeholder else "")
                yield Finding(
                    span=kv.span,
                    message=(f"ENV {kv.key} sets a {kind} in the Dockerfile: it is stored in the "
                             f"image{stage_note} and readable with `docker inspect`{extra}; give it to the "
                             "container at runtime (compose environment/env_file or secrets)"),
                    fix=f"remove ENV {kv.key}; set it in the compose service's env_file, or use "
                        "RUN --mount=type=secret for build steps",
                    severity=Severity.WARNING if placeholder or not in_final else None,
                )


@rule("DA845")
def secret_in_arg(project: Project) -> Iterator[Finding]:
    """``ARG`` declares a secret-named build argument (``ARG HF_TOKEN``, ``ARG NPM_TOKEN``...).

    Build arguments are not meant for secrets: the value used by a ``RUN`` is recorded in the
    image history (``docker history``) and in build provenance, and stays in the build cache.
    BuildKit secret mounts give a ``RUN`` the value without keeping it.
    """
    for path, document in real_dockerfiles(project):
        for inst in document.instructions:
            if inst.keyword != "ARG":
                continue
            for kv in inst.key_values:
                if not secret_name(kv.key):
                    continue
                yield Finding(
                    span=kv.span,
                    message=(f"ARG {kv.key} passes a secret as a build argument: its value is recorded in "
                             "the "
                             f"image history and build metadata ({path}); use a secret mount: "
                             f"RUN --mount=type=secret,id={kv.key.lower()},env={kv.key} ..."),
                    fix=f"remove ARG {kv.key}; build with --secret id={kv.key.lower()},env={kv.key} "
                        "(compose: "
                        "build.secrets) and read it in RUN --mount=type=secret",
                )


def _final_lineages(project: Project, dockerfile_path: str) -> set[int]:
    """Indexes of the stages the final images of a Dockerfile are made of."""
    from dockaudit.checks.context import units_by_dockerfile

    out: set[int] = set()
    found = False
    for unit in units_by_dockerfile(project).get(dockerfile_path, ()):
        found = True
        out.update(s.index for s in unit.targets_lineage)
    if not found:
        document = project.dockerfiles.get(dockerfile_path)
        if document is not None and document.stages:
            from dockaudit.link.services import lineage

            out.update(s.index for s in lineage(document.stages[-1]))
    return out


__all__ = ["Download", "Runtime", "cache_path", "runtimes", "secret_name", "stage_downloads"]
