"""nginx ``include`` resolution through container paths.

nginx resolves ``include`` inside the container, so a config in the repository can only be
followed through the mounts that put repository files at container paths (compose bind mounts,
``COPY`` into an image). :func:`resolve_includes` builds that virtual view and walks the
configuration across files:

* a relative include is relative to the configuration prefix (``/etc/nginx`` in the official
  image: the folder of the main ``nginx.conf``), never to the including file;
* wildcards follow glob(3) as nginx uses it: ``*``, ``?`` and ``[...]`` stay within one path
  segment, do not match a leading ``.``, matches are read in sorted order, and a wildcard that
  matches nothing is not an error;
* the official image renders ``/etc/nginx/templates/*.template`` into ``/etc/nginx/conf.d/*``
  (envsubst) at start; mounted templates therefore appear under ``conf.d`` as well;
* files the image provides but the repository does not mount (``mime.types``,
  ``fastcgi_params``...) are simply absent: they are listed in ``unresolved`` with reason
  ``"not-mounted"`` and produce no finding; so is anything outside every mount (``/etc/passwd``,
  ``../../x``). Nothing outside the scanned root is ever read: only files in
  ``project.tree.files`` are considered, and each is parsed once via ``project.nginx_config``;
* include cycles are not followed; they are reported in ``cycles`` with the include's span.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from dockaudit.globs import SafeRegex
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.nginx import Directive, NginxConfig
    from dockaudit.project import Project

#: the official image's defaults (NGINX_ENVSUBST_TEMPLATE_DIR, _OUTPUT_DIR, _TEMPLATE_SUFFIX)
TEMPLATE_DIR = "/etc/nginx/templates"
TEMPLATE_OUTPUT_DIR = "/etc/nginx/conf.d"
TEMPLATE_SUFFIX = ".template"
CONF_PREFIX = "/etc/nginx"

#: include chains deeper than this are not followed (nginx has no limit, but no real config nests so)
MAX_INCLUDE_DEPTH = 32
#: directive visits per walk; a file included twice at each of many levels would explode otherwise
MAX_WALK = 200_000

_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass
class IncludeEdge:
    """One ``include`` directive and the repository files it reads (in nginx's order)."""

    directive: Directive
    container_path: str
    targets: list[str]
    #: a wildcard into a folder that is not mounted whole: the image's own files there
    #: (``conf.d/default.conf`` of the official image, say) are read too
    image_may_add: bool = False


@dataclass
class UnresolvedInclude:
    """An ``include`` that reads no repository file.

    ``reason`` is ``"not-mounted"`` (no mount covers the path: an image-provided file such as
    ``mime.types``, or a path outside every mount), ``"missing"`` (a mounted folder covers the
    path but holds no such file: nginx fails to start) or ``"no-match"`` (a wildcard that
    matches nothing inside a mounted folder: allowed by nginx).
    """

    directive: Directive
    container_path: str
    reason: str

    @property
    def span(self) -> Span:
        return self.directive.arg_spans[0] if self.directive.arg_spans else self.directive.span


@dataclass
class IncludeCycle:
    """An include that leads back to a file already being read; ``chain`` ends at the repeat."""

    directive: Directive
    chain: tuple[str, ...]

    @property
    def span(self) -> Span:
        return self.directive.span


@dataclass
class ResolvedConfig:
    """A configuration followed across its includes.

    Each directive keeps its own ``file`` and ``span``; :meth:`walk` yields them in nginx's
    reading order with the enclosing blocks, which may belong to the including file.
    """

    entry: str | None
    entry_container: str | None
    configs: dict[str, NginxConfig] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    includes: list[IncludeEdge] = field(default_factory=list)
    unresolved: list[UnresolvedInclude] = field(default_factory=list)
    cycles: list[IncludeCycle] = field(default_factory=list)
    #: container path → repository file, for every file the mounts expose
    container_files: dict[str, str] = field(default_factory=dict, repr=False)
    _targets: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def walk_with_includes(self) -> Iterator[tuple[Directive, tuple[Directive, ...], tuple[Directive, ...]]]:
        """(directive, enclosing blocks, include directives that led to its file), in reading order.

        Iterative (hostile nesting cannot exhaust the stack); include cycles are not entered.
        """
        if self.entry is None or self.entry not in self.configs:
            return
        visits = 0
        open_files: list[str] = [self.entry]
        # frames: ("list", items, index, parents, via, opens_file)
        #      or ("include", directive, index, parents, via)
        stack: list[tuple] = [("list", self.configs[self.entry].directives, 0, (), (), True)]
        while stack:
            frame = stack.pop()
            if frame[0] == "include":
                _tag, include, index, parents, via = frame
                targets = self._targets.get(id(include), [])
                if index >= len(targets):
                    continue
                stack.append(("include", include, index + 1, parents, via))
                target = targets[index]
                config = self.configs.get(target)
                if config is None or target in open_files or len(open_files) >= MAX_INCLUDE_DEPTH:
                    continue
                open_files.append(target)
                stack.append(("list", config.directives, 0, parents, (*via, include), True))
                continue
            _tag, items, index, parents, via, opens_file = frame
            if index >= len(items):
                if opens_file:
                    open_files.pop()
                continue
            stack.append(("list", items, index + 1, parents, via, opens_file))
            directive = items[index]
            visits += 1
            if visits > MAX_WALK:
                return
            yield directive, parents, via
            if directive.name == "include":
                stack.append(("include", directive, 0, parents, via))
            elif directive.block:
                stack.append(("list", directive.block, 0, (*parents, directive), via, False))

    def walk(self) -> Iterator[tuple[Directive, tuple[Directive, ...]]]:
        """Every directive with its enclosing blocks, following includes."""
        for directive, parents, _via in self.walk_with_includes():
            yield directive, parents

    def find(self, name: str) -> list[Directive]:
        return [d for d, _ in self.walk() if d.name == name]

    def targets(self, include: Directive) -> list[str]:
        """Repository files an ``include`` directive reads."""
        return list(self._targets.get(id(include), ()))

    def container_path(self, relpath: str) -> str | None:
        """Where a repository file appears in the container (the first such path)."""
        for container, host in self.container_files.items():
            if host == relpath:
                return container
        return None


# --- the container's view of the repository -----------------------------------------------------


def container_view(project: Project, mounts: dict[str, str], *, template_dir: str = TEMPLATE_DIR,
                   template_output_dir: str = TEMPLATE_OUTPUT_DIR,
                   template_suffix: str = TEMPLATE_SUFFIX) -> tuple[dict[str, str], list[str]]:
    """Container path → repository file for every mounted file, and the mount points (folders).

    A longer mount point shadows a shorter one (a file mounted into a mounted folder replaces
    what the folder holds there). Mounted templates also appear, rendered, in the output folder.
    """
    clean: dict[str, str] = {}
    for target, host in mounts.items():
        if not target.startswith("/"):
            continue
        resolved = project.resolve(".", host)
        if resolved is None:
            continue  # a bind mount from outside the root: nothing to read
        clean[posixpath.normpath(target)] = resolved
    files: dict[str, str] = {}
    folders: list[str] = []
    for target, host in clean.items():
        if host in project.tree.files:
            files[target] = host
        elif project.tree.is_dir(host):
            folders.append(target)
            for path in project.tree.under(host):
                rel = path if host == "." else path[len(host) + 1:]
                files[posixpath.join(target, rel)] = path
    # shadowing: keep each container path only if its own mount is the longest covering one
    keys = sorted(clean, key=len, reverse=True)
    shadowed = {}
    for container, host in files.items():
        owner = next((k for k in keys if container == k or container.startswith(k.rstrip("/") + "/")), None)
        if owner is None:
            continue
        owner_host = clean[owner]
        expected = owner_host if container == owner else posixpath.normpath(
            posixpath.join(owner_host, container[len(owner.rstrip("/")) + 1:]))
        if expected == host:
            shadowed[container] = host
    files = shadowed
    # envsubst templates rendered by the official image's entrypoint
    prefix = template_dir.rstrip("/") + "/"
    for container, host in list(files.items()):
        if container.startswith(prefix) and container.endswith(template_suffix):
            rel = container[len(prefix):-len(template_suffix)]
            if rel:
                files[posixpath.join(template_output_dir, rel)] = host
    return files, folders


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> SafeRegex:
    """glob(3) as nginx uses it: no ``**``, wildcards stay within a segment and skip dot files."""
    parts = []
    for segment in pattern.split("/"):
        out = []
        i = 0
        n = len(segment)
        if segment and segment[0] in "*?[":
            out.append(r"(?!\.)")
        while i < n:
            char = segment[i]
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "[":
                j = i + 1
                if j < n and segment[j] in "!^":
                    j += 1
                if j < n and segment[j] == "]":
                    j += 1
                while j < n and segment[j] != "]":
                    j += 1
                if j >= n:
                    out.append(re.escape(char))
                else:
                    body = segment[i + 1:j]
                    negate = body[:1] in ("!", "^")
                    if negate:
                        body = body[1:]
                    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
                    out.append(f"[{'^' if negate else ''}{escaped}]" if body else "(?!)")
                    i = j
            elif char == "\\" and i + 1 < n:
                out.append(re.escape(segment[i + 1]))
                i += 1
            else:
                out.append(re.escape(char))
            i += 1
        parts.append("".join(out))
    return SafeRegex("/".join(parts) + r"\Z")  # linear time on hostile patterns


def _covered(path: str, mounts: list[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def _literal_dir(pattern: str) -> str:
    """The folder part of a wildcard path before its first wildcard segment."""
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        if _GLOB_CHARS.search(segment):
            return "/".join(segments[:index]) or "/"
    return posixpath.dirname(pattern)


def resolve_includes(project: Project, entry: str, mounts: dict[str, str], *,
                     conf_prefix: str = CONF_PREFIX, template_dir: str = TEMPLATE_DIR,
                     template_output_dir: str = TEMPLATE_OUTPUT_DIR,
                     template_suffix: str = TEMPLATE_SUFFIX) -> ResolvedConfig:
    """Follow ``entry``'s includes through ``mounts`` (container path → root-relative host path).

    ``entry`` is either a container path (``/etc/nginx/nginx.conf``), looked up through the
    mounts, or a root-relative repository path (``nginx/nginx.conf``). ``conf_prefix`` is the
    folder relative includes start from (the folder of the main configuration).
    """
    files, folders = container_view(project, mounts, template_dir=template_dir,
                                    template_output_dir=template_output_dir,
                                    template_suffix=template_suffix)
    if entry.startswith("/"):
        entry_container: str | None = posixpath.normpath(entry)
        entry_host = files.get(entry_container)
    else:
        entry_host = project.resolve(".", entry)
        entry_container = next((c for c, h in files.items() if h == entry_host), None)
    result = ResolvedConfig(entry=entry_host, entry_container=entry_container, container_files=files)
    if entry_host is None:
        return result
    sorted_paths = sorted(files)

    def load(path: str) -> NginxConfig | None:
        if path not in result.configs:
            config = project.nginx_config(path) if path in project.tree.files else None
            if config is None:
                return None
            result.configs[path] = config
            result.files.append(path)
        return result.configs[path]

    def expand(include: Directive) -> list[str]:
        key = id(include)
        if key in result._targets:
            return result._targets[key]
        targets: list[str] = []
        result._targets[key] = targets
        if len(include.args) != 1 or not include.args[0]:
            return targets
        raw = include.args[0]
        container = posixpath.normpath(raw if raw.startswith("/") else posixpath.join(conf_prefix, raw))
        if container.startswith("//"):
            container = "/" + container.lstrip("/")
        image_may_add = False
        if _GLOB_CHARS.search(container):
            regex = _glob_regex(container)
            literal = _literal_dir(container)
            base = literal.rstrip("/") + "/"
            matched = [p for p in sorted_paths if p.startswith(base) and regex.match(p)]
            targets.extend(files[p] for p in matched)
            image_may_add = not _covered(literal, folders)
            if not matched:
                reason = "not-mounted" if image_may_add else "no-match"
                result.unresolved.append(UnresolvedInclude(include, container, reason))
        elif container in files:
            targets.append(files[container])
        else:
            reason = "missing" if _covered(container, folders) else "not-mounted"
            result.unresolved.append(UnresolvedInclude(include, container, reason))
        result.includes.append(IncludeEdge(include, container, targets, image_may_add))
        return targets

    def visit(path: str, stack: list[str]) -> None:
        config = load(path)
        if config is None:
            return
        stack.append(path)
        try:
            for directive, _parents in config.walk():
                if directive.name != "include":
                    continue
                for target in expand(directive):
                    if target in stack:
                        chain = (*stack[stack.index(target):], target)
                        result.cycles.append(IncludeCycle(directive, chain))
                    elif len(stack) < MAX_INCLUDE_DEPTH and target not in done:
                        visit(target, stack)
        finally:
            stack.pop()
        done.add(path)

    done: set[str] = set()
    visit(entry_host, [])
    return result
