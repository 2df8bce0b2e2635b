"""The linked model of one scanned root.

A :class:`Project` is the only thing rules see. It parses each file once (on first use) and
answers the cross-file questions: which compose service builds which Dockerfile stage, which env
files and templates feed it, which nginx configs it mounts, what each stage installs. Paths are
root-relative POSIX strings; the CLI turns them into paths relative to the current directory
when it reports.
"""

from __future__ import annotations

import os
import posixpath
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockaudit.config import Config
from dockaudit.discover import Tree, walk
from dockaudit.findings import Finding
from dockaudit.source import DecodeError, SourceFile, Span, load_source

if TYPE_CHECKING:
    from dockaudit.parse.compose import ComposeProject
    from dockaudit.parse.dockerfile import Dockerfile
    from dockaudit.parse.dockerignore import DockerIgnore
    from dockaudit.parse.envfile import EnvFile
    from dockaudit.parse.manifests import PackageJson, PyProject, RequirementsFile, UvLock
    from dockaudit.parse.nginx import NginxConfig

#: kind -> module under dockaudit.parse whose ``parse(source)`` reads it
PARSERS = {
    "dockerfile": "dockerfile",
    "compose": "compose",
    "env": "envfile",
    "nginx": "nginx",
    "dockerignore": "dockerignore",
    "requirements": "manifests",
    "pyproject": "manifests",
    "uvlock": "manifests",
    "packagejson": "manifests",
}

#: kinds whose files use ``#`` comments, and so can carry ``# dockaudit:`` pragmas
COMMENTED_KINDS = frozenset({"dockerfile", "compose", "env", "nginx", "dockerignore", "requirements",
                             "pyproject", "config"})


class Project:
    """One scanned root: its tree, its parsed documents and the links between them."""

    def __init__(self, root: Path, config: Config | None = None, tree: Tree | None = None,
                 display_root: str = ".") -> None:
        self.root = root
        self.config = config or Config()
        self.tree = tree if tree is not None else walk(root, self.config.exclude)
        self.display_root = display_root
        self.sources: dict[str, SourceFile] = {}
        self.kinds: dict[str, str] = {}
        self.diagnostics: list[Finding] = []
        self._documents: dict[tuple[str, str], Any] = {}

    # --- paths -----------------------------------------------------------------------------

    def resolve(self, base_dir: str, path: str) -> str | None:
        """A path written in a file under ``base_dir``, as a root-relative path; None if outside.

        Absolute paths, ``..`` that climb out of the root and paths through a symlink that points
        outside it resolve to None: dockaudit never reads outside the scanned root.
        """
        if not path or path.startswith(("/", "~")) or "\x00" in path or (len(path) > 1 and path[1] == ":"):
            return None
        joined = posixpath.normpath(posixpath.join(base_dir or ".", path.replace("\\", "/")))
        if joined == ".":
            return "."
        if joined.startswith("../") or joined == "..":
            return None
        if self._links_out and self._through_link_out(joined):
            return None
        return joined

    @cached_property
    def _links_out(self) -> frozenset[str]:
        return frozenset(self.tree.symlinks_out)

    def _through_link_out(self, relpath: str) -> bool:
        """Does ``relpath`` pass through a symlink that points outside the root?"""
        parts = relpath.split("/")
        return any("/".join(parts[:count]) in self._links_out for count in range(1, len(parts) + 1))

    def exists(self, relpath: str) -> bool:
        return self.tree.exists(relpath)

    # --- loading ---------------------------------------------------------------------------

    @cached_property
    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def source(self, relpath: str) -> SourceFile | None:
        """Decode a file once; an unreadable file becomes a DA002 finding and None."""
        if relpath in self.sources:
            return self.sources[relpath]
        if relpath not in self.tree.files:
            return None
        abspath = self.root / relpath
        real = os.path.realpath(abspath)
        real_root = self._real_root
        if not (real == real_root or real.startswith(real_root + os.sep)):
            return None
        try:
            source = load_source(self.root, relpath)
        except DecodeError as exc:
            self.diagnostics.append(Finding(Span(relpath, exc.line, exc.column, exc.line, exc.column),
                                            str(exc), rule="DA002"))
            return None
        except OSError as exc:
            self.diagnostics.append(Finding(Span.whole_file(relpath), f"cannot read file: {exc.strerror}",
                                            rule="DA002"))
            return None
        self.sources[relpath] = source
        return source

    def document(self, relpath: str, kind: str) -> Any:
        """The parsed document of ``relpath`` as ``kind``; parsed once, None if unreadable."""
        key = (relpath, kind)
        if key in self._documents:
            return self._documents[key]
        self._documents[key] = None
        source = self.source(relpath)
        if source is None:
            return None
        self.kinds.setdefault(relpath, kind)
        import importlib

        try:
            module = importlib.import_module(f"dockaudit.parse.{PARSERS[kind]}")
            document = module.parse(source, kind) if PARSERS[kind] == "manifests" else module.parse(source)
        except RecursionError:
            self.diagnostics.append(Finding(Span.whole_file(relpath), "file is nested too deeply to read",
                                            rule="DA001"))
            return None
        except Exception as exc:  # a parser bug must not stop the scan
            self.diagnostics.append(Finding(
                Span.whole_file(relpath),
                f"dockaudit could not parse this file ({type(exc).__name__}: {exc}); please report it",
                rule="DA000"))
            return None
        self.diagnostics.extend(getattr(document, "diagnostics", ()))
        self._documents[key] = document
        return document

    def adopt(self, relpath: str, kind: str, source: SourceFile | None, document: Any,
              diagnostics: list[Finding]) -> None:
        """Take the result of :meth:`document` computed by a worker process (``--jobs``)."""
        if source is not None:
            self.sources[relpath] = source
            self.kinds.setdefault(relpath, kind)
        self.diagnostics.extend(diagnostics)
        self._documents[(relpath, kind)] = document

    def documents_of(self, kind: str) -> dict[str, Any]:
        """Every discovered file of ``kind``, parsed."""
        out = {}
        for relpath, found in sorted(self.tree.classified.items()):
            if found == kind:
                document = self.document(relpath, kind)
                if document is not None:
                    out[relpath] = document
        return out

    def parse_all(self) -> None:
        """Parse every discovered file (so parse errors surface even when no rule asks)."""
        for relpath, kind in sorted(self.tree.classified.items()):
            self.document(relpath, kind)

    # --- suppression support ---------------------------------------------------------------

    def has_comments(self, relpath: str) -> bool:
        if relpath == self.config.path:
            return True
        return self.kinds.get(relpath) in COMMENTED_KINDS

    def anchor_lines(self, relpath: str, line: int) -> list[int]:
        """The lines whose pragmas may silence a finding at ``line`` (its construct's first lines)."""
        kind = self.kinds.get(relpath)
        document = self._documents.get((relpath, kind)) if kind else None
        anchors = getattr(document, "anchor_lines", None)
        lines = anchors(line) if anchors is not None else []
        return [line, *[a for a in lines if a != line]]

    # --- typed views -----------------------------------------------------------------------

    @cached_property
    def dockerfiles(self) -> dict[str, Dockerfile]:
        """Discovered Dockerfiles, plus those compose builds under other names (``ci/build.docker``)."""
        found = self.documents_of("dockerfile")
        for compose in self.compose_projects:
            for service in compose.services.values():
                build = service.build
                path = build.dockerfile if build is not None else None
                if path and path not in found and build.dockerfile_inline is None:
                    document = self.document(path, "dockerfile")
                    if document is not None:
                        found[path] = document
        return dict(sorted(found.items()))

    def dockerfile(self, relpath: str) -> Dockerfile | None:
        """A Dockerfile by path, also one discovery did not classify (``build.dockerfile: ci/build``)."""
        if relpath in self.dockerfiles:
            return self.dockerfiles[relpath]
        # not added to ``dockerfiles``: rules may be iterating over it
        return self.document(relpath, "dockerfile")

    @cached_property
    def env_files(self) -> dict[str, EnvFile]:
        return self.documents_of("env")

    def env_file(self, relpath: str) -> EnvFile | None:
        if relpath in self.env_files:
            return self.env_files[relpath]
        # not added to ``env_files``: rules may be iterating over it
        return self.document(relpath, "env")

    @cached_property
    def nginx_configs(self) -> dict[str, NginxConfig]:
        return self.documents_of("nginx")

    def nginx_config(self, relpath: str) -> NginxConfig | None:
        if relpath in self.nginx_configs:
            return self.nginx_configs[relpath]
        # not added to ``nginx_configs``: rules may be iterating over it
        return self.document(relpath, "nginx")

    @cached_property
    def dockerignores(self) -> dict[str, DockerIgnore]:
        return self.documents_of("dockerignore")

    @cached_property
    def requirements_files(self) -> dict[str, RequirementsFile]:
        return self.documents_of("requirements")

    def requirements_file(self, relpath: str) -> RequirementsFile | None:
        if relpath in self.requirements_files:
            return self.requirements_files[relpath]
        # not added to ``requirements_files``: rules may be iterating over it
        return self.document(relpath, "requirements")

    @cached_property
    def pyprojects(self) -> dict[str, PyProject]:
        return self.documents_of("pyproject")

    @cached_property
    def uv_locks(self) -> dict[str, UvLock]:
        return self.documents_of("uvlock")

    @cached_property
    def package_jsons(self) -> dict[str, PackageJson]:
        return self.documents_of("packagejson")

    @cached_property
    def compose_projects(self) -> list[ComposeProject]:
        """Compose files grouped with their overrides, merged and interpolated."""
        from dockaudit.parse.compose import assemble

        return assemble(self)
