"""What a build stage installs, read from its RUN instructions.

:func:`stage_installs` lists every package-manager command of a stage's RUN instructions
(shell form, exec form, heredoc scripts, ``sh -c`` wrappers, ``sudo``/``env`` prefixes) as an
:class:`Install`: the manager, the action, the packages as written, requirement files and
option words, positioned at the command inside the instruction. :func:`run_mounts` parses the
``RUN --mount=`` flags, :func:`run_scripts` gives the shell text(s) a RUN executes.

Managers: ``apt`` (apt-get, apt), ``apk``, ``dnf``/``yum``/``microdnf``, ``pip`` (pip, pip3,
``python -m pip``, any ``.../bin/pip``), ``uv-pip`` (``uv pip ...``), ``uv-sync`` (``uv sync``),
``uv-tool`` (``uv tool install``), ``uv`` (``uv add/remove/lock``), ``poetry``, ``pipenv``,
``conda``/``mamba``/``micromamba``, ``npm``, ``yarn``, ``pnpm``, ``npx`` (action ``exec``: the
package it runs), ``go`` (install/get, ``mod download`` → ``download``), ``cargo``, ``gem``,
``bundler``. npm's and pnpm's ``i``/``add`` aliases are reported as ``install``; other actions
are as written (apk ``add``/``del``). Commands that only run scripts (``npm run build``,
``yarn build``, ``uv run``, ``go build``) are not installs and are left out.
"""

from __future__ import annotations

import csv
import posixpath
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.parse.dockerfile import Heredoc, Instruction, expand, parse_heredoc_marker
from dockaudit.shell import SHELLS, Command, command_from_argv, split_commands
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.dockerfile import Stage

#: actions that add packages to the image, per manager
INSTALL_ACTIONS = {
    "apt": {"install", "build-dep", "reinstall"},
    "apk": {"add"},
    "dnf": {"install", "groupinstall", "reinstall"},
    "yum": {"install", "groupinstall", "localinstall", "reinstall"},
    "microdnf": {"install"},
    "pip": {"install"},
    "uv-pip": {"install", "sync"},
    "uv-sync": {"sync"},
    "uv-tool": {"install"},
    "uv": {"add"},
    "poetry": {"install", "add", "sync"},
    "pipenv": {"install", "sync"},
    "conda": {"install", "create", "update"},
    "mamba": {"install", "create", "update"},
    "micromamba": {"install", "create", "update"},
    "npm": {"install", "ci"},
    "yarn": {"install", "add"},
    "pnpm": {"install", "add"},
    "npx": {"exec"},
    "go": {"install", "get", "download"},
    "cargo": {"install"},
    "gem": {"install"},
    "bundler": {"install"},
}

_PIP_NAME = re.compile(r"^pip(?:\d+(?:\.\d+)*)?$")
_PYTHON_NAME = re.compile(r"^python(?:\d+(?:\.\d+)*)?$")


@dataclass
class Install:
    """One package-manager command of a RUN instruction."""

    manager: str
    action: str
    packages: list[str]
    requirement_files: list[str]
    options: list[str]
    words: list[str]
    instruction: Instruction
    span: Span
    assignments: dict[str, str] = field(default_factory=dict)

    @property
    def is_install(self) -> bool:
        """Does this command add packages (``apt-get install``, ``pip install``, ``npm ci`` ...)?"""
        return self.action in INSTALL_ACTIONS.get(self.manager, ())

    def has_option(self, *names: str) -> bool:
        """Is any of ``names`` among the options (``--opt`` also matches ``--opt=value``)?"""
        for option in self.options:
            for name in names:
                if option == name or (name.startswith("--") and option.startswith(name + "=")):
                    return True
        return False

    def option_value(self, *names: str) -> str | None:
        """The value of ``--name=value`` or ``--name value`` (last one wins)."""
        found = None
        for index, option in enumerate(self.options):
            for name in names:
                if option.startswith(name + "=") and name.startswith("--"):
                    found = option[len(name) + 1:]
                elif (option == name and index + 1 < len(self.options)
                      and not self.options[index + 1].startswith("-")):
                    found = self.options[index + 1]
        return found


@dataclass
class Mount:
    """One ``RUN --mount=`` flag. ``from_`` is the ``from=`` stage or image."""

    type: str
    target: str | None
    source: str | None
    from_: str | None
    id: str | None
    sharing: str | None
    uid: str | None
    gid: str | None
    mode: str | None
    readonly: bool
    required: bool | None
    options: dict[str, str]
    raw: str
    span: Span


# --- mounts ----------------------------------------------------------------------------------

_MOUNT_ALIASES = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly",
                  "rw": "readwrite"}


def parse_mount(value: str, span: Span, variables: Mapping[str, str | None] | None = None,
                escape: str = "\\") -> Mount:
    """Parse the CSV value of one ``--mount`` flag (BuildKit reads it with a CSV reader)."""
    try:
        fields = next(csv.reader([value]), [])
    except csv.Error:
        fields = value.split(",")
    options: dict[str, str] = {}
    for item in fields:
        item = item.strip()
        if not item:
            continue
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        key = _MOUNT_ALIASES.get(key, key)
        if variables is not None and "$" in val:
            val = expand(val, variables, escape)
        options[key] = val if eq else "true"
    mount_type = options.get("type", "bind").lower()

    def flag(name: str) -> bool | None:
        if name not in options:
            return None
        return options[name].lower() in ("true", "1", "yes", "")

    readonly = bool(flag("readonly"))
    if "readwrite" in options and flag("readwrite"):
        readonly = False
    elif mount_type == "bind" and "readonly" not in options and "readwrite" not in options:
        readonly = True  # bind mounts are read-only unless rw is given
    return Mount(
        type=mount_type,
        target=options.get("target"),
        source=options.get("source"),
        from_=options.get("from"),
        id=options.get("id"),
        sharing=options.get("sharing"),
        uid=options.get("uid"),
        gid=options.get("gid"),
        mode=options.get("mode"),
        readonly=readonly,
        required=flag("required"),
        options=options,
        raw=value,
        span=span,
    )


def run_mounts(instruction: Instruction, variables: Mapping[str, str | None] | None = None) -> list[Mount]:
    """The ``--mount`` flags of a RUN instruction, in order; values expanded with ``variables``
    when given (e.g. ``stage.env_at(instruction)``)."""
    return [parse_mount(f.value or "", f.span, variables, instruction.escape)
            for f in instruction.flags if f.name == "mount"]


# --- scripts ---------------------------------------------------------------------------------


@dataclass
class Script:
    """Shell text a RUN executes, with a way back to source offsets (None for exec form)."""

    text: str
    to_source: Callable[[int], int] | None
    argv: list[str] | None = None


def _heredoc_is_shell(heredoc: Heredoc) -> bool:
    first = heredoc.body.split("\n", 1)[0]
    if not first.startswith("#!"):
        return True
    interpreter = first[2:].strip().split()
    if not interpreter:
        return True
    program = posixpath.basename(interpreter[0])
    if program == "env" and len(interpreter) > 1:
        program = posixpath.basename(interpreter[-1])
    return program in SHELLS


def scripts_of(instruction: Instruction) -> list[Script]:
    """The shell scripts a RUN instruction executes (see :func:`run_scripts`)."""
    if instruction.keyword != "RUN":
        return []
    if instruction.json_args is not None:
        return [Script(" ".join(instruction.json_args), None, list(instruction.json_args))]
    value = instruction.value
    scripts: list[Script] = []
    heredocs = list(instruction.heredocs)
    if heredocs and parse_heredoc_marker(value) is not None:
        # RUN <<EOF: the first heredoc is the script (a shebang picks another interpreter)
        first = heredocs[0]
        if _heredoc_is_shell(first):
            scripts.append(Script(first.body, first.source_offset))
        return scripts
    scripts.append(Script(value, lambda k, inst=instruction: inst.source_offset(inst.value_offset + k)))
    # heredocs fed to a shell on the command line (`RUN bash <<EOF`, `RUN sh -e <<EOF`)
    if heredocs:
        feeders = [c for c in split_commands(value) if c.name in SHELLS and "-c" not in c.words]
        if feeders:
            for heredoc in heredocs:
                if _heredoc_is_shell(heredoc):
                    scripts.append(Script(heredoc.body, heredoc.source_offset))
    return scripts


def run_scripts(instruction: Instruction) -> list[str]:
    """The shell text(s) a RUN executes: the shell-form value; the heredoc body when the value
    is only ``<<EOF``; bodies fed to a shell (``RUN bash <<EOF``); or the exec-form argv joined
    with spaces. A heredoc whose shebang names a non-shell interpreter is left out."""
    return [s.text for s in scripts_of(instruction)]


_COMMANDS: weakref.WeakKeyDictionary[Instruction, list[tuple[Command, Span]]] = weakref.WeakKeyDictionary()


def run_commands(instruction: Instruction) -> list[tuple[Command, Span]]:
    """Every simple command a RUN executes, with its span in the Dockerfile.

    Split once per instruction: many rules ask for the same RUN, and a RUN of 20,000 continued
    lines costs seconds to split. Callers get a new list; they must not change the commands.
    """
    cached = _COMMANDS.get(instruction)
    if cached is None:
        cached = _COMMANDS[instruction] = _run_commands(instruction)
    return list(cached)


_SCRIPT_COMMANDS: weakref.WeakKeyDictionary[Instruction, list[tuple[Script, list[Command]]]] = (
    weakref.WeakKeyDictionary())


def script_commands(instruction: Instruction) -> list[tuple[Script, list[Command]]]:
    """Each script a RUN executes (see :func:`scripts_of`) with its simple commands, split once per
    instruction. Callers must not change the lists or the commands."""
    cached = _SCRIPT_COMMANDS.get(instruction)
    if cached is None:
        cached = _SCRIPT_COMMANDS[instruction] = [
            (script,
             command_from_argv(script.argv) if script.argv is not None else split_commands(script.text))
            for script in scripts_of(instruction)
        ]
    return cached


def _run_commands(instruction: Instruction) -> list[tuple[Command, Span]]:
    out: list[tuple[Command, Span]] = []
    source = instruction.source
    for script, commands in script_commands(instruction):
        if script.argv is not None:
            for command in commands:
                needle = command.words[0] if command.words else ""
                out.append((command, instruction.locate(needle) if needle else instruction.keyword_span))
            continue
        for command in commands:
            if source is not None and script.to_source is not None:
                start = script.to_source(command.start)
                end = script.to_source(max(command.end - 1, command.start)) + 1
                span = source.span_of_offsets(start, end)
            else:
                span = instruction.keyword_span
            out.append((command, span))
    return out


# --- package managers ------------------------------------------------------------------------


@dataclass
class _Parsed:
    action: str
    packages: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def _generic(args: list[str], value_options: set[str], file_options: set[str] = frozenset(),
             action_required: bool = True, positional_files: bool = False) -> _Parsed | None:
    """Options (with their separate values), the first positional as action, the rest packages."""
    parsed = _Parsed(action="")
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if word.startswith("-") and len(word) > 1 and word != "--":
            parsed.options.append(word)
            name, eq, attached = word.partition("=")
            if name in file_options:
                if eq:
                    parsed.files.append(attached)
                elif index < len(args):
                    parsed.files.append(args[index])
                    parsed.options.append(args[index])
                    index += 1
                continue
            short_attached = [o for o in file_options if len(o) == 2 and name.startswith(o) and len(name) > 2
                              and not o.startswith("--")]
            if short_attached:
                parsed.files.append(word[2:])
                continue
            if not eq and name in value_options and index < len(args):
                parsed.options.append(args[index])
                index += 1
            continue
        if word == "--":
            continue
        if not parsed.action:
            parsed.action = word
            continue
        if positional_files:
            parsed.files.append(word)
        else:
            parsed.packages.append(word)
    if action_required and not parsed.action:
        return None
    return parsed


_APT_VALUES = {"-o", "--option", "-t", "--target-release", "-c", "--config-file", "-a", "--host-architecture"}
_APK_VALUES = {"-X", "--repository", "-t", "--virtual", "-p", "--root", "--arch", "--repositories-file",
               "--keys-dir", "--cache-dir"}
_DNF_VALUES = {"--setopt", "--enablerepo", "--disablerepo", "--repo", "--repofrompath", "-x", "--exclude",
               "--releasever", "--installroot", "-c", "--config", "--forcearch"}
_PIP_VALUES = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix",
               "--root", "--trusted-host", "--platform", "--python-version", "--implementation", "--abi",
               "--src", "--no-binary", "--only-binary", "--progress-bar", "--cache-dir", "--log", "--timeout",
               "--retries", "--proxy", "--cert", "--client-cert", "--upgrade-strategy", "-C",
               "--config-settings", "--global-option", "--report", "--python", "--root-user-action",
               "--exists-action", "--use-feature", "--use-deprecated", "--keyring-provider", "--group",
               "-p", "--index-strategy", "--extra", "--link-mode", "--python-platform", "--resolution",
               "--prerelease", "--exclude-newer", "--torch-backend"}
_PIP_FILES = {"-r", "--requirement", "-c", "--constraint", "--requirements", "-b", "--build-constraint",
              "--overrides", "--override"}
_UV_SYNC_VALUES = {"--extra", "--group", "--only-group", "--no-group", "--package", "-p", "--python",
                   "--index", "--default-index", "--index-url", "--extra-index-url", "--find-links", "-f",
                   "--link-mode", "--cache-dir", "--directory", "--project", "--no-install-package",
                   "--index-strategy", "--resolution", "--prerelease", "--exclude-newer", "--refresh-package",
                   "--python-platform", "--script", "--config-file", "--keyring-provider",
                   "--upgrade-package", "-P"}
_POETRY_VALUES = {"--only", "--with", "--without", "-E", "--extras", "-C", "--directory", "-P", "--project",
                  "-G", "--group", "--source", "--python", "--platform"}
_CONDA_VALUES = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--platform",
                 "--subdir", "--repodata-fn", "--solver", "-r", "--root-prefix"}
_CONDA_FILES = {"-f", "--file"}
_NPM_VALUES = {"--prefix", "-w", "--workspace", "--registry", "--cache", "--loglevel", "--userconfig",
               "--omit", "--include", "--install-strategy", "--tag", "--cpu", "--os", "--libc"}
_YARN_VALUES = {"--cwd", "--modules-folder", "--cache-folder", "--network-timeout", "--registry",
                "--mutex", "--mode"}
_PNPM_VALUES = {"-C", "--dir", "--filter", "-F", "--store-dir", "--virtual-store-dir", "--registry",
                "--reporter"}
_GEM_VALUES = {"-v", "--version", "-i", "--install-dir", "-n", "--bindir", "-s", "--source", "--platform"}

#: npm/pnpm subcommands that manage packages (not `run`, `test`, `start`, `exec` ...)
_NPM_ACTIONS = {"install", "ci", "uninstall", "un", "unlink", "remove", "rm", "r", "update", "up", "upgrade",
                "prune", "dedupe", "ddp", "rebuild", "rb", "link", "ln"}
_PNPM_ACTIONS = {"install", "add", "remove", "rm", "uninstall", "un", "update", "up", "upgrade", "fetch",
                 "prune", "deploy", "rebuild", "rb", "link", "ln", "install-test", "it"}
_NPM_INSTALL_ALIASES = {"i", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "isntall",
                        "add"}


def _pip_with_editable(args: list[str]) -> _Parsed | None:
    # -e takes a value that is a package, so treat it as a value option and then move it
    parsed = _generic(args, _PIP_VALUES | {"-e", "--editable"}, _PIP_FILES)
    if parsed is None:
        return None
    for index, option in enumerate(parsed.options):
        name, eq, attached = option.partition("=")
        if name in ("-e", "--editable"):
            if eq:
                parsed.packages.append(attached)
            elif index + 1 < len(parsed.options):
                parsed.packages.append(parsed.options[index + 1])
    return parsed


def _detect(words: list[str]) -> tuple[str, _Parsed] | None:
    if not words:
        return None
    program = posixpath.basename(words[0])
    args = words[1:]
    if program in ("apt-get", "apt"):
        parsed = _generic(args, _APT_VALUES)
        return ("apt", parsed) if parsed else None
    if program == "apk":
        parsed = _generic(args, _APK_VALUES)
        return ("apk", parsed) if parsed else None
    if program in ("dnf", "yum", "microdnf", "dnf5", "tdnf"):
        parsed = _generic(args, _DNF_VALUES)
        manager = "dnf" if program in ("dnf5", "tdnf") else program
        return (manager, parsed) if parsed else None
    if _PIP_NAME.match(program):
        parsed = _pip_with_editable(args)
        return ("pip", parsed) if parsed else None
    if _PYTHON_NAME.match(program):
        index = 0
        while index < len(args) and args[index].startswith("-") and args[index] != "-m":
            index += 1
        if index + 1 < len(args) and args[index] == "-m":
            module = args[index + 1]
            if module == "pip":
                parsed = _pip_with_editable(args[index + 2:])
                return ("pip", parsed) if parsed else None
            if module == "uv":
                return _detect(["uv", *args[index + 2:]])
            if module in ("poetry", "pipenv"):
                return _detect([module, *args[index + 2:]])
        return None
    if program == "uv":
        return _uv(args)
    if program == "poetry":
        parsed = _generic(args, _POETRY_VALUES)
        return ("poetry", parsed) if parsed else None
    if program == "pipenv":
        parsed = _generic(args, {"--python", "--pypi-mirror", "--categories"})
        return ("pipenv", parsed) if parsed else None
    if program in ("conda", "mamba", "micromamba"):
        return _conda(program, args)
    if program == "npm":
        parsed = _generic(args, _NPM_VALUES)
        if parsed is None:
            return None
        if parsed.action in _NPM_INSTALL_ALIASES:
            parsed.action = "install"
        return ("npm", parsed) if parsed.action in _NPM_ACTIONS else None
    if program == "yarn":
        return _yarn(args)
    if program == "pnpm":
        parsed = _generic(args, _PNPM_VALUES, action_required=False)
        if parsed is None:
            return None
        if not parsed.action or parsed.action == "i":
            parsed.action = "install"
        return ("pnpm", parsed) if parsed.action in _PNPM_ACTIONS else None
    if program == "npx":
        parsed = _generic(args, {"-p", "--package", "-c", "--call"}, action_required=False)
        if parsed is None:
            return None
        package = parsed.action
        explicit = [parsed.options[i + 1] for i, o in enumerate(parsed.options[:-1])
                    if o in ("-p", "--package")]
        explicit += [o.split("=", 1)[1] for o in parsed.options if o.startswith("--package=")]
        parsed.packages = explicit or ([package] if package else [])
        parsed.action = "exec"
        return ("npx", parsed) if parsed.packages else None
    if program == "go":
        if args[:2] == ["mod", "download"]:
            parsed = _generic(["download", *args[2:]], {"-modfile"})
            return ("go", parsed) if parsed else None
        if args[:1] in (["install"], ["get"]):
            parsed = _generic(args, {"-modfile", "-tags", "-ldflags", "-gcflags", "-o"})
            return ("go", parsed) if parsed else None
        return None
    if program == "cargo":
        if args[:1] in (["install"], ["fetch"]):
            parsed = _generic(args, {"--version", "--git", "--branch", "--tag", "--rev", "--path", "--root",
                                     "--index", "--registry", "--features", "-F", "--target", "-j", "--jobs",
                                     "--profile", "--bin", "--example"})
            return ("cargo", parsed) if parsed else None
        return None
    if program == "gem":
        parsed = _generic(args, _GEM_VALUES)
        return ("gem", parsed) if parsed else None
    if program == "bundle":
        parsed = _generic(args, {"--gemfile", "--path", "--jobs", "-j", "--retry", "--without", "--with"},
                          action_required=False)
        if parsed is None:
            return None
        parsed.action = parsed.action or "install"
        return ("bundler", parsed) if parsed.action == "install" else None
    return None


def _uv(args: list[str]) -> tuple[str, _Parsed] | None:
    # global options may come first: `uv --no-cache pip install`
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in ("--cache-dir", "--directory", "--project", "--config-file") else 1
    if index >= len(args):
        return None
    head, rest = args[index], args[:index] + args[index + 1:]
    if head == "pip":
        parsed = _pip_with_editable(args[index + 1:])
        if parsed is None:
            return None
        parsed.options[:0] = args[:index]
        if parsed.action == "sync":  # `uv pip sync requirements.txt`: the positionals are files
            parsed.files.extend(parsed.packages)
            parsed.packages = []
        return ("uv-pip", parsed)
    if head == "sync":
        parsed = _generic(["sync", *rest], _UV_SYNC_VALUES)
        return ("uv-sync", parsed) if parsed else None
    if head == "tool":
        parsed = _generic(rest, _UV_SYNC_VALUES | {"--with", "--from", "--with-requirements"})
        return ("uv-tool", parsed) if parsed else None
    if head in ("add", "remove", "lock"):
        parsed = _generic([head, *rest], _UV_SYNC_VALUES | {"-r", "--requirements"})
        return ("uv", parsed) if parsed else None
    return None


def _conda(program: str, args: list[str]) -> tuple[str, _Parsed] | None:
    if args[:1] == ["env"] and len(args) > 1:
        parsed = _generic(args[1:], _CONDA_VALUES, _CONDA_FILES)
    else:
        parsed = _generic(args, _CONDA_VALUES, _CONDA_FILES)
    return (program, parsed) if parsed else None


def _yarn(args: list[str]) -> tuple[str, _Parsed] | None:
    parsed = _generic(args, _YARN_VALUES, action_required=False)
    if parsed is None:
        return None
    if not parsed.action:
        parsed.action = "install"  # bare `yarn` installs
        return ("yarn", parsed)
    if parsed.action == "global" and parsed.packages:
        parsed.action = parsed.packages.pop(0)
        parsed.options.append("global")
    elif parsed.action == "workspaces" and parsed.packages[:1] == ["focus"]:
        parsed.packages.pop(0)
        parsed.action = "install"
        parsed.options.append("workspaces-focus")
    if parsed.action in ("install", "add", "remove", "upgrade", "up", "dedupe"):
        return ("yarn", parsed)
    return None


def install_of(command: Command, instruction: Instruction, span: Span) -> Install | None:
    """The :class:`Install` a command is, or None."""
    detected = _detect(command.words)
    if detected is None:
        return None
    manager, parsed = detected
    return Install(
        manager=manager,
        action=parsed.action,
        packages=parsed.packages,
        requirement_files=parsed.files,
        options=parsed.options,
        words=list(command.words),
        instruction=instruction,
        span=span,
        assignments=dict(command.assignments),
    )


def instruction_installs(instruction: Instruction) -> list[Install]:
    """The package-manager commands of one RUN instruction."""
    installs: list[Install] = []
    for command, span in run_commands(instruction):
        install = install_of(command, instruction, span)
        if install is not None:
            installs.append(install)
    return installs


_CACHE: weakref.WeakKeyDictionary[Stage, list[Install]] = weakref.WeakKeyDictionary()


def stage_installs(stage: Stage, inherited: bool = False) -> list[Install]:
    """Package-manager commands of the stage's RUN instructions, in order.

    With ``inherited``, those of the stages it is built FROM come first (farthest first).
    """
    own = _CACHE.get(stage)
    if own is None:
        own = [i for inst in stage.instructions if inst.keyword == "RUN" for i in instruction_installs(inst)]
        _CACHE[stage] = own
    if not inherited:
        return list(own)
    out: list[Install] = []
    for ancestor in reversed(stage.ancestors()):
        out.extend(stage_installs(ancestor))
    out.extend(own)
    return out
