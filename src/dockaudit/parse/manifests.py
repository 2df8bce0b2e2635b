"""Dependency manifests: requirements*.txt, pyproject.toml, uv.lock and package.json.

``parse(source, kind)`` returns a typed document for ``kind`` in ``requirements``, ``pyproject``,
``uvlock`` or ``packagejson``. Nothing is installed, resolved, imported or fetched.

requirements files follow pip's own reader: a line ending in ``\\`` continues on the next one
(unless it is a whole-line comment), ``#`` starts a comment at the start of a line or after
whitespace, the requirement part of a line ends at the first word starting with ``-``, and the
options are ``-r``/``-c`` includes, ``-e``, index options and per-requirement ``--hash``.
Environment references (``${VAR}``) are kept as written: pip expands them from the environment
of the machine that installs, which we cannot know.

TOML has no positions in :mod:`tomllib`, so a dependency's position is found by scanning the
source text for the quoted string inside its table (and after its key), in order, so that a
string repeated in two places maps to each place in turn. This is exact for the way people write
these files; a dependency written in a form we do not find (an escaped string, say) gets the
position of its key or table instead.

package.json positions come from a small scanner of our own over the (already validated) JSON
text; the values themselves come from :mod:`json`.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from dockaudit.findings import Finding, Severity
from dockaudit.source import SourceFile, Span

if TYPE_CHECKING:
    from dockaudit.project import Project


def canonical(name: str) -> str:
    """PEP 503 normalised name (``Foo_Bar`` → ``foo-bar``), as packaging's canonicalize_name."""
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


# --- the shared requirement model ------------------------------------------------------------------


@dataclass
class Requirement:
    """One dependency, wherever it was declared.

    ``specifier`` is the version constraint as written (PEP 440 for PEP 508 requirements, the
    Poetry constraint such as ``^2.1`` for Poetry tables, empty for URLs). ``kind`` tells how it
    was written: ``pep508``, ``url``, ``vcs``, ``path`` or ``poetry``.
    """

    name: str
    key: str
    specifier: str
    extras: tuple[str, ...]
    marker: str | None
    url: str | None
    editable: bool
    span: Span
    text: str
    hashes: tuple[str, ...] = ()
    kind: str = "pep508"
    #: extra data of a Poetry table entry (``{version=..., source=..., markers=...}``)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def pinned_version(self) -> str | None:
        """The version of an ``==``/``===`` pin without wildcards, or a wheel URL's version."""
        for op, version in _specifier_parts(self.specifier):
            if op in ("==", "===") and "*" not in version:
                return version
        if self.url:
            filename = _url_filename(self.url)
            if filename.endswith(".whl"):
                parts = filename.split("-")
                if len(parts) >= 5:
                    return parts[1]
        return None

    @property
    def local_version(self) -> str | None:
        """The PEP 440 local label of a pin (``cu121`` from ``==2.3.0+cu121``) or of a wheel URL."""
        version = self.pinned_version
        if version and "+" in version:
            return version.split("+", 1)[1] or None
        return None


def _specifier_parts(specifier: str) -> list[tuple[str, str]]:
    out = []
    for part in specifier.split(","):
        match = re.match(r"\s*(===|==|!=|~=|<=|>=|<|>)\s*(\S+)\s*$", part)
        if match:
            out.append((match.group(1), match.group(2)))
    return out


def _url_filename(url: str) -> str:
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    return unquote(posixpath.basename(path))


def _name_from_filename(filename: str) -> tuple[str, str | None]:
    """(name, version) from a wheel or sdist file name, or ('', None)."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return str(name), str(version)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), str(version)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        pass
    return "", None


def _fail(span: Span, message: str) -> Finding:
    return Finding(span, message, rule="DA001")


# --- requirements.txt ------------------------------------------------------------------------------

_COMMENT = re.compile(r"(^|\s+)#.*$")
#: what pip expands in requirements files (``${NAME}`` with upper-case names, digits, underscores)
_ENV_VAR = re.compile(r"\$\{[A-Z0-9_]+\}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_VCS = ("git+", "hg+", "svn+", "bzr+")
_URL_SCHEMES = frozenset({"http", "https", "file", "ftp"})
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".tar.lz",
             ".tlz")

#: global options pip accepts in a requirements file: option → takes a value
_GLOBAL_OPTIONS = {
    "-r": True, "--requirement": True, "-c": True, "--constraint": True, "-e": True, "--editable": True,
    "-i": True, "--index-url": True, "--extra-index-url": True, "--no-index": False,
    "-f": True, "--find-links": True, "--pre": False, "--prefer-binary": False,
    "--require-hashes": False, "--only-binary": True, "--no-binary": True, "--trusted-host": True,
    "--use-feature": True, "--config-settings": True, "-C": True,
}
#: options allowed after a requirement on the same line
_REQUIREMENT_OPTIONS = {"--hash": True, "--global-option": True, "--config-settings": True, "-C": True,
                        "--install-option": True}
_ALIASES = {"-r": "--requirement", "-c": "--constraint", "-e": "--editable", "-i": "--index-url",
            "-f": "--find-links", "-C": "--config-settings"}


@dataclass
class _Logical:
    """A logical line (continuations joined) with the source offset of each character."""

    text: str
    offsets: list[int]
    first_line: int
    last_line: int

    def span(self, source: SourceFile, start: int, end: int) -> Span:
        if not self.offsets:
            return source.line_span(self.first_line)
        start = max(0, min(start, len(self.offsets) - 1))
        end_offset = self.offsets[end - 1] + 1 if end > start else self.offsets[start]
        return source.span_of_offsets(self.offsets[start], end_offset)


@dataclass
class RequirementsFile:
    """A pip requirements (or constraints) file."""

    source: SourceFile
    path: str
    requirements: list[Requirement] = field(default_factory=list)
    #: ``-r``/``-c`` targets as written, with their spans; True for constraints (``-c``)
    includes: list[tuple[str, Span, bool]] = field(default_factory=list)
    index_url: tuple[str, Span] | None = None
    extra_index_urls: list[tuple[str, Span]] = field(default_factory=list)
    find_links: list[tuple[str, Span]] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    trusted_hosts: list[tuple[str, Span]] = field(default_factory=list)
    #: every global option line in order: (long option name, value or None, span)
    options: list[tuple[str, str | None, Span]] = field(default_factory=list)
    #: requirement lines that only make sense once pip expands their ``${VAR}`` references
    unparsed: list[tuple[str, Span]] = field(default_factory=list)
    diagnostics: list[Finding] = field(default_factory=list)
    _logical_lines: list[tuple[int, int]] = field(default_factory=list, repr=False)

    def anchor_lines(self, line: int) -> list[int]:
        """The first line of the (continued) logical line that contains ``line``."""
        for first, last in self._logical_lines:
            if first <= line <= last:
                return [first]
        return []


def _logical_lines(source: SourceFile) -> list[_Logical]:
    """pip's ``join_lines`` and comment stripping, keeping offsets."""
    out: list[_Logical] = []
    pending_text: list[str] = []
    pending_offsets: list[int] = []
    pending_first = 0
    offset = 0
    lines = source.text.split("\n")
    for number, line in enumerate(lines, start=1):
        line_offset = offset
        offset += len(line) + 1
        is_comment = bool(_COMMENT.match(line))
        if not line.endswith("\\") or is_comment:
            text, offsets = line, list(range(line_offset, line_offset + len(line)))
            if is_comment:
                text, offsets = " " + text, [line_offset, *offsets]
            if pending_text:
                pending_text.append(text)
                pending_offsets.extend(offsets)
                out.append(_Logical("".join(pending_text), pending_offsets, pending_first, number))
                pending_text, pending_offsets = [], []
            else:
                out.append(_Logical(text, offsets, number, number))
        else:
            if not pending_text:
                pending_first = number
            lead = len(line) - len(line.lstrip("\\"))
            body = line.strip("\\")
            pending_text.append(body)
            pending_offsets.extend(range(line_offset + lead, line_offset + lead + len(body)))
    if pending_text:
        out.append(_Logical("".join(pending_text), pending_offsets, pending_first, len(lines)))
    # strip comments and surrounding whitespace
    cleaned = []
    for logical in out:
        match = _COMMENT.search(logical.text)
        end = match.start() if match else len(logical.text)
        text = logical.text[:end]
        start = len(text) - len(text.lstrip())
        stop = len(text.rstrip())
        cleaned.append(_Logical(text[start:stop], logical.offsets[start:stop], logical.first_line,
                                logical.last_line))
    return cleaned


def _split_options(text: str) -> tuple[str, str, int]:
    """pip's break_args_options: (requirement part, options part, index where options start)."""
    tokens = text.split(" ")
    args: list[str] = []
    position = 0
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            rest = " ".join(tokens[index:])
            return " ".join(args), rest, position
        args.append(token)
        position += len(token) + 1
    return " ".join(args), "", len(text)


def _split_words(text: str) -> list[tuple[str, int, int]]:
    """POSIX shell-like words (as :func:`shlex.split`) with their (start, end) in ``text``."""
    if not any(char in text for char in "'\"\\"):
        return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[^ \t]+", text)]
    words: list[tuple[str, int, int]] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        value: list[str] = []
        while i < n and text[i] not in " \t":
            char = text[i]
            if char == "'":
                close = text.find("'", i + 1)
                if close == -1:
                    raise ValueError("no closing quotation")
                value.append(text[i + 1:close])
                i = close + 1
            elif char == '"':
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                        i += 1
                    value.append(text[i])
                    i += 1
                if i >= n:
                    raise ValueError("no closing quotation")
                i += 1
            elif char == "\\" and i + 1 < n:
                value.append(text[i + 1])
                i += 2
            else:
                value.append(char)
                i += 1
        words.append(("".join(value), start, i))
    return words


def _parse_options(text: str, allowed: dict[str, bool]) -> tuple[list[tuple[str, str | None, int, int, int]],
                                                                  str | None]:
    """Options as optparse reads them: (long name, value, start, end, value start) or an error."""
    try:
        words = _split_words(text)
    except ValueError as exc:
        return [], f"cannot split the options ({exc})"
    out: list[tuple[str, str | None, int, int, int]] = []
    index = 0
    while index < len(words):
        word, start, end = words[index]
        index += 1
        name, value, value_start = word, None, end
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
            value_start = end - len(value)
        elif len(word) > 2 and word.startswith("-") and not word.startswith("--") and word[:2] in allowed:
            name, value = word[:2], word[2:]
            value_start = start + 2
        if name not in allowed:
            close = [o for o in allowed if o.startswith("--") and o.startswith(name)]
            if name.startswith("--") and len(close) == 1:
                name = close[0]  # optparse accepts unambiguous prefixes of long options
            else:
                return out, f"no such option: {name}"
        if allowed[name]:
            if value is None:
                if index >= len(words):
                    return out, f"{name} option requires a value"
                value, value_start, end = words[index]
                index += 1
        elif value is not None:
            return out, f"{name} option does not take a value"
        out.append((_ALIASES.get(name, name), value, start, end, value_start))
    return out, None


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith(".")


def _requirement_from_string(text: str, span: Span, editable: bool) -> tuple[Requirement | None, str | None]:
    """pip's ``parse_req_from_line``; (requirement, error message)."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as PackagingRequirement

    scheme = _SCHEME.match(text)
    scheme_name = scheme.group(1).lower() if scheme else ""
    is_url = scheme_name in _URL_SCHEMES or scheme_name.startswith(_VCS)
    marker_sep = "; " if is_url else ";"
    body, marker = text, None
    if marker_sep in text:
        body, marker = text.split(marker_sep, 1)
        body, marker = body.strip(), marker.strip() or None
    # "name @ url" is a PEP 508 requirement even though it contains "/" (pip: the part before "@"
    # does not look like a path)
    pep508_url = "@" in body and not _looks_like_path(body.split("@", 1)[0])
    path_like = not is_url and not pep508_url and (_looks_like_path(body) or body.lower().endswith(_ARCHIVES))
    if is_url or path_like or editable:
        if marker is not None:
            from packaging.markers import InvalidMarker, Marker

            try:
                Marker(marker)
            except InvalidMarker as exc:
                return None, f"invalid environment marker {marker!r}: {str(exc).splitlines()[0]}"
        extras: tuple[str, ...] = ()
        location = body
        if path_like:
            extras_match = re.match(r"^(.*?)(\[[^\]]*\])$", body)
            if extras_match:
                location = extras_match.group(1)
                extras = tuple(e.strip() for e in extras_match.group(2)[1:-1].split(",") if e.strip())
        name = ""
        fragment = location.split("#", 1)[1] if "#" in location else ""
        egg = re.search(r"(?:^|&)egg=([^&]+)", fragment)
        if egg:
            egg_name = unquote(egg.group(1))
            egg_extras = re.match(r"^(.*?)\[([^\]]*)\]$", egg_name)
            if egg_extras:
                egg_name = egg_extras.group(1)
                extras = extras or tuple(e.strip() for e in egg_extras.group(2).split(",") if e.strip())
            name = egg_name
        else:
            filename = _url_filename(location) if is_url else posixpath.basename(location.replace("\\", "/"))
            name, _version = _name_from_filename(filename)
        if is_url:
            kind = "vcs" if scheme and scheme.group(1).lower().startswith(_VCS) else "url"
        else:
            kind = "path"
        return Requirement(name=name, key=canonical(name) if name else "", specifier="", extras=extras,
                           marker=marker, url=location, editable=editable, span=span, text=text,
                           kind=kind), None
    try:
        parsed = PackagingRequirement(text)
    except InvalidRequirement as exc:
        message = str(exc).splitlines()[0]
        return None, f"not a valid requirement: {message}"
    return Requirement(
        name=parsed.name,
        key=canonical(parsed.name),
        specifier=str(parsed.specifier),
        extras=tuple(sorted(parsed.extras)),
        marker=str(parsed.marker) if parsed.marker is not None else None,
        url=parsed.url,
        editable=editable,
        span=span,
        text=text,
        kind="url" if parsed.url else "pep508",
    ), None


def parse_requirements(source: SourceFile) -> RequirementsFile:
    """Parse a pip requirements file; never raises."""
    document = RequirementsFile(source=source, path=source.path)
    for logical in _logical_lines(source):
        document._logical_lines.append((logical.first_line, logical.last_line))
        text = logical.text
        if not text:
            continue
        args, options_text, options_at = _split_options(text)
        # pip parses every line with one option parser; on a requirement line only the
        # per-requirement options (--hash, --config-settings...) take effect, the rest are ignored
        allowed = {**_GLOBAL_OPTIONS, **_REQUIREMENT_OPTIONS} if args else _GLOBAL_OPTIONS
        options, error = _parse_options(options_text, allowed) if options_text else ([], None)
        if error:
            document.diagnostics.append(_fail(logical.span(source, 0, len(text)),
                                              f"{error} (pip rejects this line)"))
            continue
        if args:
            span = logical.span(source, 0, len(args.rstrip()))
            requirement, error = _requirement_from_string(args.strip(), span, editable=False)
            if error or requirement is None:
                if _ENV_VAR.search(args):
                    # pip expands ${VAR} from the installing environment: unknowable here
                    document.unparsed.append((args.strip(), span))
                else:
                    document.diagnostics.append(_fail(span, error or "not a valid requirement"))
                continue
            requirement.hashes = tuple(v for name, v, *_rest in options if name == "--hash" and v)
            requirement.options = {name: value for name, value, *_rest in options}
            document.requirements.append(requirement)
            continue
        for name, value, _start, end, value_start in options:
            value_span = logical.span(source, options_at + value_start, options_at + end)
            document.options.append((name, value, value_span))
            if name in ("--requirement", "--constraint") and value is not None:
                document.includes.append((value, value_span, name == "--constraint"))
            elif name == "--editable" and value is not None:
                requirement, error = _requirement_from_string(value, value_span, editable=True)
                if error or requirement is None:
                    document.diagnostics.append(_fail(value_span, error or "not a valid requirement"))
                else:
                    document.requirements.append(requirement)
            elif name == "--index-url" and value is not None:
                document.index_url = (value, value_span)
            elif name == "--extra-index-url" and value is not None:
                document.extra_index_urls.append((value, value_span))
            elif name == "--find-links" and value is not None:
                document.find_links.append((value, value_span))
            elif name == "--trusted-host" and value is not None:
                document.trusted_hosts.append((value, value_span))
            elif name == "--no-index":
                document.no_index = True
            elif name == "--pre":
                document.pre = True
    return document


class RequirementsClosure(list):
    """``[(requirement, file), ...]`` over a file and its ``-r`` includes, plus what else they say.

    Also carries the index options seen in any of the files, the files read (in order),
    constraint files (``-c``; their entries are constraints, not requirements) and includes that
    could not be followed (outside the root, URLs, missing files).
    """

    def __init__(self) -> None:
        super().__init__()
        self.files: list[RequirementsFile] = []
        self.index_urls: list[tuple[str, Span]] = []
        self.extra_index_urls: list[tuple[str, Span]] = []
        self.find_links: list[tuple[str, Span]] = []
        self.constraints: list[tuple[Requirement, RequirementsFile]] = []
        self.unresolved: list[tuple[str, Span]] = []
        self.cycles: list[tuple[str, Span]] = []


def requirements_closure(project: Project, relpath: str) -> RequirementsClosure:
    """Every requirement of ``relpath`` and of the files it includes with ``-r`` (inside the root).

    pip resolves an include relative to the including file's folder. Includes that climb out of
    the root, URLs and missing files are listed in ``unresolved``; a file included again while it
    is being read is listed in ``cycles`` and not read twice.
    """
    closure = RequirementsClosure()
    seen: set[str] = set()
    constraint_files: set[str] = set()

    def visit(path: str, stack: list[str], constraint: bool) -> None:
        document = project.requirements_file(path)
        if document is None:
            return
        if not constraint:
            seen.add(path)
            closure.files.append(document)
            if document.index_url is not None:
                closure.index_urls.append(document.index_url)
            closure.extra_index_urls.extend(document.extra_index_urls)
            closure.find_links.extend(document.find_links)
        else:
            constraint_files.add(path)
        for requirement in document.requirements:
            (closure.constraints if constraint else closure).append((requirement, document))
        stack.append(path)
        for raw, span, is_constraint in document.includes:
            if _SCHEME.match(raw) and not raw.lower().startswith("file:"):
                closure.unresolved.append((raw, span))
                continue
            local = raw[len("file:"):] if raw.lower().startswith("file:") else raw
            target = project.resolve(posixpath.dirname(path), local)
            if target is None or target not in project.tree.files:
                closure.unresolved.append((raw, span))
                continue
            if target in stack:
                closure.cycles.append((raw, span))
                continue
            as_constraint = constraint or is_constraint
            if (not as_constraint and target in seen) or (as_constraint and target in constraint_files):
                continue
            visit(target, stack, as_constraint)
        stack.pop()

    visit(relpath, [], False)
    return closure


# --- TOML position finding -----------------------------------------------------------------------

_HEADER = re.compile(r"^[ \t]*\[(\[?)[ \t]*([^\]\n]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$", re.M)


def _key_path(text: str) -> str:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s]+)', text)
    return ".".join(a or b or c for a, b, c in parts)


class _TomlLocator:
    """Finds where a value of a table was written (see the module docstring)."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.text = source.text
        self.headers: list[tuple[str, int, int, bool]] = []  # (key path, start, body start, array)
        for match in _HEADER.finditer(self.text):
            self.headers.append((_key_path(match.group(2)), match.start(), match.end(), bool(match.group(1))))
        self.cursors: dict[tuple, int] = {}

    def region(self, table: str, nth: int = 0) -> tuple[int, int] | None:
        """(start, end) of the body of table ``table`` (the nth one for arrays of tables)."""
        count = 0
        for index, (path, _start, body, _array) in enumerate(self.headers):
            if path == table:
                if count == nth:
                    end = self.headers[index + 1][1] if index + 1 < len(self.headers) else len(self.text)
                    return body, end
                count += 1
        return None

    def _key_at(self, key: str, start: int, end: int) -> re.Match[str] | None:
        quoted = re.escape(key)
        pattern = re.compile(rf'^[ \t]*(?:"{quoted}"|\'{quoted}\'|{quoted})[ \t]*=', re.M)
        return pattern.search(self.text, start, end)

    def locate(self, tables: list[str], key: str | None, value: str, fallback_line: int = 1) -> Span:
        """Span of the string ``value`` under ``key`` in the first of ``tables`` that has it."""
        for table in tables:
            region = self.region(table) if table else (0, len(self.text))
            if region is None:
                continue
            start, end = region
            if key is not None:
                key_match = self._key_at(key, start, end)
                if key_match is None:
                    continue
                start = key_match.end()
            cursor_key = (table, key, value)
            position = max(start, self.cursors.get(cursor_key, start))
            for quote in ('"', "'"):
                found = self.text.find(f"{quote}{value}{quote}", position, end)
                if found != -1:
                    self.cursors[cursor_key] = found + len(value) + 2
                    return self.source.span_of_offsets(found + 1, found + 1 + len(value))
            if key is not None:
                return self.source.span_of_offsets(key_match.start() + (len(key_match.group(0)) -
                                                                        len(key_match.group(0).lstrip())),
                                                   key_match.end() - 1)
        return self.source.line_span(fallback_line)

    def locate_key(self, table: str, key: str, fallback_line: int = 1) -> Span:
        region = self.region(table)
        if region is not None:
            match = self._key_at(key, *region)
            if match is not None:
                start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
                return self.source.span_of_offsets(start, start + len(key))
        return self.source.line_span(fallback_line)

    def header_line(self, table: str) -> int:
        for path, start, _body, _array in self.headers:
            if path == table:
                return self.source.position(start)[0]
        return 1


def _toml_error(source: SourceFile, exc: Exception) -> Finding:
    message = str(exc)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    match = re.search(r"at line (\d+), column (\d+)", message)
    if match and line is None:
        line, column = int(match.group(1)), int(match.group(2))
    if line is None:
        line = source.line_count
        column = len(source.line_text(line)) + 1
    short = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", message)
    return _fail(Span(source.path, line, column or 1, line, column or 1), f"invalid TOML: {short}")


def _load_toml(source: SourceFile, lockfile: bool = False) -> tuple[dict | None, Finding | None]:
    from dockaudit import _toml

    try:
        return (_toml.loads_lockfile if lockfile else _toml.loads)(source.text), None
    except _toml.TOMLDecodeError as exc:
        return None, _toml_error(source, exc)
    except RecursionError:
        return None, _fail(Span.whole_file(source.path), "invalid TOML: nested too deeply")


# --- pyproject.toml ------------------------------------------------------------------------------


@dataclass
class PyProject:
    """The dependency-related parts of a pyproject.toml."""

    source: SourceFile
    path: str
    name: str | None = None
    requires_python: str | None = None
    dependencies: list[Requirement] = field(default_factory=list)
    optional_dependencies: dict[str, list[Requirement]] = field(default_factory=dict)
    dependency_groups: dict[str, list[Requirement]] = field(default_factory=dict)
    poetry_dependencies: list[Requirement] = field(default_factory=list)
    #: ``[tool.poetry.group.<name>.dependencies]`` and the legacy ``dev-dependencies``
    poetry_groups: dict[str, list[Requirement]] = field(default_factory=dict)
    #: the ``python`` entry of ``[tool.poetry.dependencies]`` (a Poetry constraint)
    poetry_python: str | None = None
    #: ``[[tool.uv.index]]`` tables (with a ``span`` entry), plus legacy ``index-url`` /
    #: ``extra-index-url`` settings as ``{"url": ..., "default"/"legacy": ...}``
    uv_indexes: list[dict] = field(default_factory=list)
    uv_sources: dict[str, object] = field(default_factory=dict)
    uv_dev_dependencies: list[Requirement] = field(default_factory=list)
    build_requires: list[Requirement] = field(default_factory=list)
    data: dict = field(default_factory=dict, repr=False)
    diagnostics: list[Finding] = field(default_factory=list)

    def all_requirements(self) -> list[Requirement]:
        """Every declared requirement (project, extras, groups, Poetry, uv dev)."""
        out = list(self.dependencies)
        for group in (self.optional_dependencies, self.dependency_groups, self.poetry_groups):
            for items in group.values():
                out.extend(items)
        out.extend(self.poetry_dependencies)
        out.extend(self.uv_dev_dependencies)
        return out


def _pep508_list(document: Any, locator: _TomlLocator, values: Any, tables: list[str], key: str | None,
                 where: str) -> list[Requirement]:
    out: list[Requirement] = []
    if not isinstance(values, list):
        if values is not None:
            span = locator.locate_key(tables[0], key) if key else locator.source.line_span(
                locator.header_line(tables[0]))
            document.diagnostics.append(_fail(span, f"{where} must be an array of requirement strings"))
        return out
    for value in values:
        if not isinstance(value, str):
            continue  # {include-group = "..."} and the like
        span = locator.locate(tables, key, value, locator.header_line(tables[0]))
        requirement, error = _requirement_from_string(value.strip(), span, editable=False)
        if error or requirement is None:
            document.diagnostics.append(_fail(span, f"{where}: {error}"))
            continue
        out.append(requirement)
    return out


def _poetry_table(document: PyProject, locator: _TomlLocator, table: Any,
                  table_name: str) -> list[Requirement]:
    out: list[Requirement] = []
    if not isinstance(table, dict):
        return out
    for name, spec in table.items():
        if table_name == "tool.poetry.dependencies" and name.lower() == "python":
            document.poetry_python = spec if isinstance(spec, str) else None
            continue
        specs = spec if isinstance(spec, list) else [spec]
        span = locator.locate_key(table_name, name, locator.header_line(table_name))
        for item in specs:
            options: dict[str, Any] = {}
            specifier, url, marker, editable, kind = "", None, None, False, "poetry"
            extras: tuple[str, ...] = ()
            if isinstance(item, str):
                specifier = item
            elif isinstance(item, dict):
                options = dict(item)
                specifier = str(item.get("version", ""))
                extras = tuple(str(e) for e in item.get("extras", ()) if isinstance(e, str))
                marker = item.get("markers") if isinstance(item.get("markers"), str) else None
                editable = bool(item.get("develop", False))
                for url_key in ("git", "url", "path"):
                    if isinstance(item.get(url_key), str):
                        url = item[url_key]
                        kind = {"git": "vcs", "url": "url", "path": "path"}[url_key]
                        break
            else:
                continue
            text = f"{name} = {json.dumps(item)}" if not isinstance(item, str) else f'{name} = "{item}"'
            out.append(Requirement(name=name, key=canonical(name), specifier=specifier, extras=extras,
                                   marker=marker, url=url, editable=editable, span=span, text=text, kind=kind,
                                   options=options))
    return out


def parse_pyproject(source: SourceFile) -> PyProject:
    document = PyProject(source=source, path=source.path)
    data, error = _load_toml(source)
    if error is not None:
        document.diagnostics.append(error)
        return document
    assert data is not None
    document.data = data
    locator = _TomlLocator(source)
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    if isinstance(project.get("name"), str):
        document.name = project["name"]
    if isinstance(project.get("requires-python"), str):
        document.requires_python = project["requires-python"]
    document.dependencies = _pep508_list(document, locator, project.get("dependencies"), ["project"],
                                         "dependencies", "[project] dependencies")
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict):
        for extra, values in optional.items():
            document.optional_dependencies[extra] = _pep508_list(
                document, locator, values, ["project.optional-dependencies", "project"], extra,
                f"optional dependency group {extra!r}")
    groups = data.get("dependency-groups")
    if isinstance(groups, dict):
        for group, values in groups.items():
            document.dependency_groups[group] = _pep508_list(
                document, locator, values, ["dependency-groups"], group, f"dependency group {group!r}")
    build = data.get("build-system")
    if isinstance(build, dict):
        document.build_requires = _pep508_list(document, locator, build.get("requires"), ["build-system"],
                                               "requires", "[build-system] requires")
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    if poetry:
        document.poetry_dependencies = _poetry_table(document, locator, poetry.get("dependencies"),
                                                     "tool.poetry.dependencies")
        if isinstance(poetry.get("dev-dependencies"), dict):
            document.poetry_groups["dev"] = _poetry_table(document, locator, poetry["dev-dependencies"],
                                                          "tool.poetry.dev-dependencies")
        poetry_groups = poetry.get("group")
        if isinstance(poetry_groups, dict):
            for group, body in poetry_groups.items():
                if isinstance(body, dict):
                    table = f"tool.poetry.group.{group}.dependencies"
                    document.poetry_groups.setdefault(group, []).extend(
                        _poetry_table(document, locator, body.get("dependencies"), table))
        if document.name is None and isinstance(poetry.get("name"), str):
            document.name = poetry["name"]
    uv = tool.get("uv") if isinstance(tool.get("uv"), dict) else {}
    if uv:
        indexes = uv.get("index")
        if isinstance(indexes, list):
            for nth, index in enumerate(indexes):
                if not isinstance(index, dict):
                    continue
                entry = dict(index)
                url = index.get("url")
                region = locator.region("tool.uv.index", nth)
                if isinstance(url, str):
                    if region is not None:
                        found = source.text.find(url, *region)
                        entry["span"] = source.span_of_offsets(found, found + len(url)) if found != -1 \
                            else source.line_span(source.position(region[0])[0])
                    else:
                        entry["span"] = locator.locate(["tool.uv", ""], None, url, 1)
                document.uv_indexes.append(entry)
        for legacy in ("index-url", "extra-index-url"):
            value = uv.get(legacy)
            for url in ([value] if isinstance(value, str) else value if isinstance(value, list) else []):
                if isinstance(url, str):
                    span = locator.locate(["tool.uv"], legacy, url, 1)
                    document.uv_indexes.append({"url": url, "legacy": legacy,
                                                "default": legacy == "index-url", "span": span})
        if isinstance(uv.get("sources"), dict):
            document.uv_sources = dict(uv["sources"])
        document.uv_dev_dependencies = _pep508_list(document, locator, uv.get("dev-dependencies"),
                                                    ["tool.uv"], "dev-dependencies",
                                                    "[tool.uv] dev-dependencies")
    return document


# --- uv.lock ---------------------------------------------------------------------------------------


@dataclass
class LockedPackage:
    """One ``[[package]]`` of a uv.lock."""

    name: str
    key: str
    version: str | None
    source: dict
    wheel_urls: list[str]
    dependencies: list[str]
    span: Span | None = None
    sdist_url: str | None = None
    optional_dependencies: dict[str, list[str]] = field(default_factory=dict)
    dev_dependencies: dict[str, list[str]] = field(default_factory=dict)

    @property
    def local_version(self) -> str | None:
        """``cu121`` from ``2.3.0+cu121`` (the version, or else the first wheel that has one)."""
        if self.version and "+" in self.version:
            return self.version.split("+", 1)[1]
        for url in self.wheel_urls:
            filename = _url_filename(url)
            parts = filename.split("-")
            if len(parts) >= 5 and "+" in parts[1]:
                return parts[1].split("+", 1)[1]
        return None

    @property
    def index_url(self) -> str | None:
        registry = self.source.get("registry")
        return registry if isinstance(registry, str) else None


@dataclass
class UvLock:
    source: SourceFile
    path: str
    packages: dict[str, LockedPackage] = field(default_factory=dict)
    #: every package entry in file order (a name may be locked at several versions, by marker)
    all_packages: list[LockedPackage] = field(default_factory=list)
    requires_python: str | None = None
    lock_version: int | None = None
    diagnostics: list[Finding] = field(default_factory=list)


def _dep_names(values: Any) -> list[str]:
    out = []
    if isinstance(values, list):
        for value in values:
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                out.append(value["name"])
    return out


def parse_uvlock(source: SourceFile) -> UvLock:
    document = UvLock(source=source, path=source.path)
    data, error = _load_toml(source, lockfile=True)
    if error is not None:
        document.diagnostics.append(error)
        return document
    assert data is not None
    if isinstance(data.get("requires-python"), str):
        document.requires_python = data["requires-python"]
    if isinstance(data.get("version"), int):
        document.lock_version = data["version"]
    locator = _TomlLocator(source)
    packages = data.get("package")
    if not isinstance(packages, list):
        return document
    for nth, package in enumerate(packages):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            continue
        name = package["name"]
        region = locator.region("package", nth)
        span = None
        if region is not None:
            match = re.compile(r'^[ \t]*name[ \t]*=[ \t]*"([^"\n]*)"', re.M).search(source.text, *region)
            span = (source.span_of_offsets(match.start(1), match.end(1)) if match
                    else source.line_span(source.position(region[0])[0]))
        wheels = package.get("wheels")
        wheel_urls = [w["url"] for w in wheels if isinstance(w, dict) and isinstance(w.get("url"), str)] \
            if isinstance(wheels, list) else []
        sdist = package.get("sdist")
        optional = package.get("optional-dependencies")
        dev = package.get("dev-dependencies")
        locked = LockedPackage(
            name=name,
            key=canonical(name),
            version=package.get("version") if isinstance(package.get("version"), str) else None,
            source=dict(package["source"]) if isinstance(package.get("source"), dict) else {},
            wheel_urls=wheel_urls,
            dependencies=_dep_names(package.get("dependencies")),
            span=span,
            sdist_url=sdist["url"] if isinstance(sdist, dict) and isinstance(sdist.get("url"), str) else None,
            optional_dependencies=({k: _dep_names(v) for k, v in optional.items()}
                                   if isinstance(optional, dict) else {}),
            dev_dependencies={k: _dep_names(v) for k, v in dev.items()} if isinstance(dev, dict) else {},
        )
        document.all_packages.append(locked)
        document.packages.setdefault(locked.key, locked)
    return document


# --- package.json ----------------------------------------------------------------------------------

#: sections whose keys get positions
_JSON_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies", "scripts",
                  "engines")


@dataclass
class PackageJson:
    source: SourceFile
    path: str
    name: str | None = None
    dependencies: dict[str, tuple[str, Span]] = field(default_factory=dict)
    dev_dependencies: dict[str, tuple[str, Span]] = field(default_factory=dict)
    optional_dependencies: dict[str, tuple[str, Span]] = field(default_factory=dict)
    peer_dependencies: dict[str, tuple[str, Span]] = field(default_factory=dict)
    scripts: dict[str, tuple[str, Span]] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    #: span of each top-level key (``"engines"``, ``"packageManager"``...)
    key_spans: dict[str, Span] = field(default_factory=dict)
    data: dict = field(default_factory=dict, repr=False)
    diagnostics: list[Finding] = field(default_factory=list)


class _JsonScanner:
    """Positions of object keys in a JSON text that :func:`json.loads` accepted."""

    _STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
    _SPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        self.text = text

    def skip_space(self, pos: int) -> int:
        return self._SPACE.match(self.text, pos).end()  # type: ignore[union-attr]

    def string(self, pos: int) -> tuple[str, int, int]:
        match = self._STRING.match(self.text, pos)
        if match is None:
            raise ValueError("string expected")
        return json.loads(match.group(0)), match.start(), match.end()

    def skip_value(self, pos: int) -> int:
        """End of the value at ``pos`` (no recursion: nesting is counted)."""
        text = self.text
        pos = self.skip_space(pos)
        if text[pos] == '"':
            return self.string(pos)[2]
        if text[pos] not in "[{":
            match = re.compile(r"[^,\]}\s]+").match(text, pos)
            return match.end() if match else pos + 1
        depth = 0
        while pos < len(text):
            char = text[pos]
            if char == '"':
                pos = self.string(pos)[2]
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
                if depth == 0:
                    return pos + 1
            pos += 1
        return pos

    def object_keys(self, pos: int) -> list[tuple[str, int, int, int, int]]:
        """Keys of the object at ``pos``: (key, key start, key end, value start, value end)."""
        text = self.text
        pos = self.skip_space(pos)
        if pos >= len(text) or text[pos] != "{":
            return []
        pos = self.skip_space(pos + 1)
        out = []
        if text[pos] == "}":
            return out
        while True:
            key, start, end = self.string(pos)
            pos = self.skip_space(end)
            pos = self.skip_space(pos + 1)  # ':'
            value_end = self.skip_value(pos)
            out.append((key, start, end, pos, value_end))
            pos = self.skip_space(value_end)
            if pos >= len(text) or text[pos] != ",":
                return out
            pos = self.skip_space(pos + 1)


def parse_package_json(source: SourceFile) -> PackageJson:
    document = PackageJson(source=source, path=source.path)
    try:
        data = json.loads(source.text)
    except json.JSONDecodeError as exc:
        document.diagnostics.append(_fail(Span(source.path, exc.lineno, exc.colno, exc.lineno, exc.colno),
                                          f"invalid JSON: {exc.msg}"))
        return document
    except RecursionError:
        document.diagnostics.append(_fail(Span.whole_file(source.path), "invalid JSON: nested too deeply"))
        return document
    if not isinstance(data, dict):
        document.diagnostics.append(_fail(source.line_span(1), "package.json must be a JSON object"))
        return document
    document.data = data
    if isinstance(data.get("name"), str):
        document.name = data["name"]
    if isinstance(data.get("engines"), dict):
        document.engines = {str(k): str(v) for k, v in data["engines"].items()}
    scanner = _JsonScanner(source.text)
    try:
        top = scanner.object_keys(0)
    except (ValueError, IndexError):  # pragma: no cover - json.loads accepted the text
        return document
    targets = {"dependencies": document.dependencies, "devDependencies": document.dev_dependencies,
               "optionalDependencies": document.optional_dependencies,
               "peerDependencies": document.peer_dependencies, "scripts": document.scripts}
    seen: dict[str, Span] = {}
    for key, start, end, value_start, _value_end in top:
        span = source.span_of_offsets(start + 1, end - 1)
        _note_duplicate(document, seen, key, span, "package.json")
        document.key_spans[key] = span
        if key not in _JSON_SECTIONS or not isinstance(data.get(key), dict):
            continue
        section_seen: dict[str, Span] = {}
        try:
            entries = scanner.object_keys(value_start)
        except (ValueError, IndexError):  # pragma: no cover
            continue
        for name, name_start, name_end, _vs, _ve in entries:
            name_span = source.span_of_offsets(name_start + 1, name_end - 1)
            _note_duplicate(document, section_seen, name, name_span, f'"{key}"')
            if key in targets:
                targets[key][name] = (str(data[key].get(name, "")), name_span)
    return document


def _note_duplicate(document: PackageJson, seen: dict[str, Span], key: str, span: Span, where: str) -> None:
    if key in seen:
        first = seen[key]
        document.diagnostics.append(Finding(
            span, f'duplicate key "{key}" in {where} (first at line {first.line}); JSON parsers keep the '
                  "last one, so the earlier entry is silently ignored", rule="DA001", severity=Severity.NOTE))
    seen[key] = span


# --- entry point -----------------------------------------------------------------------------------


def parse(source: SourceFile, kind: str) -> RequirementsFile | PyProject | UvLock | PackageJson:
    """Parse a manifest of ``kind`` (requirements, pyproject, uvlock, packagejson); never raises."""
    if kind == "requirements":
        return parse_requirements(source)
    if kind == "pyproject":
        return parse_pyproject(source)
    if kind == "uvlock":
        return parse_uvlock(source)
    if kind == "packagejson":
        return parse_package_json(source)
    raise ValueError(f"unknown manifest kind {kind!r}")
