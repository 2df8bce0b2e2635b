"""Configuration: ``.dockaudit.toml`` or ``[tool.dockaudit]`` in ``pyproject.toml`` at the scanned root.

The file is validated with a JSON schema so that a typo gets a clear error with its location.
Unknown rule ids are not fatal: they become DA003 findings at the line that names them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dockaudit import _toml
from dockaudit.findings import Finding, Severity
from dockaudit.source import MAX_FILE_BYTES, Span

CONFIG_NAMES = (".dockaudit.toml", "dockaudit.toml")

_SEVERITY = {"enum": ["error", "warning", "note", "info"]}
_RULE_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "select": _RULE_LIST,
        "ignore": _RULE_LIST,
        "extend-select": _RULE_LIST,
        "severity": {"type": "object", "additionalProperties": _SEVERITY},
        "fail-on": {"enum": ["error", "warning", "note", "never"]},
        "exclude": {"type": "array", "items": {"type": "string"}},
        "per-file-ignores": {"type": "object", "additionalProperties": _RULE_LIST},
        "gpu": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "driver": {"type": "string", "pattern": r"^\d+(\.\d+){0,2}$"},
                "devices": {"type": "array", "items": {"type": "string", "minLength": 1}},
            },
        },
    },
}


class ConfigError(Exception):
    """A configuration problem that stops the run (exit code 2)."""


@dataclass
class GpuFleet:
    """The servers the project deploys to: driver version and GPU models."""

    driver: str | None = None
    devices: tuple[str, ...] = ()
    span: Span | None = None

    @property
    def declared(self) -> bool:
        return bool(self.driver or self.devices)


@dataclass
class Config:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    fail_on: str = "warning"
    exclude: tuple[str, ...] = ()
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gpu: GpuFleet = field(default_factory=GpuFleet)
    path: str | None = None
    #: findings about the config itself (unknown rule ids), reported with the rest
    diagnostics: list[Finding] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    """Is ``path`` a file that resolves inside ``root``? (A symlink out of the root is not read.)"""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return path.is_file() and (real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep))


def find_config(root: Path) -> tuple[Path, str] | None:
    """The config file of a scanned root and the table to read (``""`` or ``tool.dockaudit``)."""
    for name in CONFIG_NAMES:
        candidate = root / name
        if _inside(candidate, root):
            return candidate, ""
    pyproject = root / "pyproject.toml"
    if _inside(pyproject, root):
        try:
            if pyproject.stat().st_size > MAX_FILE_BYTES:
                return None
            text = pyproject.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if re.search(r"^\s*\[\s*tool\s*\.\s*dockaudit\b", text, re.MULTILINE):
            return pyproject, "tool.dockaudit"
    return None


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            return number
    return 1


def _locate(text: str, key: str, shown: str) -> Span:
    """Where the config names ``key``: the quoted string (or bare table key), else its first line."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        if stripped.startswith("#"):
            continue
        for needle in (f'"{key}"', f"'{key}'"):
            column = line.find(needle)
            if column != -1:
                return Span(shown, number, column + 1, number, column + 1 + len(needle))
        if stripped.startswith(key) and stripped[len(key):].lstrip().startswith("="):
            column = len(line) - len(stripped)
            return Span(shown, number, column + 1, number, column + 1 + len(key))
    line = _line_of(text, key)
    return Span(shown, line, 1, line, len(lines[line - 1]) + 1 if text else 1)


def _where(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


#: the schema keywords :func:`_conforms` understands; a schema using any other goes to jsonschema
_CHEAP_KEYWORDS = frozenset({"$schema", "type", "properties", "additionalProperties", "items", "enum",
                             "minLength", "pattern"})
_CHEAP_TYPES = {"object": dict, "array": list, "string": str}


def _conforms(instance: object, schema: dict) -> bool:
    """A quick check of ``instance`` against ``schema``, read the way jsonschema reads it.

    True only when jsonschema would certainly find no error; False when it may find one (or the
    schema uses a keyword this check does not know), and then :func:`validate` asks jsonschema,
    which stays the authority for the message. Importing jsonschema costs more than a whole
    small scan, and a valid config is the common case.
    """
    if not isinstance(schema, dict) or not schema.keys() <= _CHEAP_KEYWORDS:
        return False
    if "type" in schema:
        expected = _CHEAP_TYPES.get(schema["type"])
        if expected is None or not isinstance(instance, expected):
            return False
    if "enum" in schema:
        choices = schema["enum"]
        if not (isinstance(instance, str) and all(isinstance(c, str) for c in choices)):
            return False
        if instance not in choices:
            return False
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            return False
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            if key in properties:
                if not _conforms(value, properties[key]):
                    return False
            elif extra is False or (extra is not True and not _conforms(value, extra)):
                return False
    if isinstance(instance, list) and "items" in schema:
        return all(_conforms(item, schema["items"]) for item in instance)
    return True


def validate(data: dict, origin: str) -> None:
    """Raise :class:`ConfigError` naming the first schema violation and its key."""
    if _conforms(data, SCHEMA):
        return
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    message = error.message
    if error.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown key")
    raise ConfigError(f"{origin}: {_where(error)}: {message}")


def load_config(path: Path, table: str = "", display: str | None = None, root: Path | None = None) -> Config:
    """Read, validate and interpret one config file."""
    shown = display or path.name
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{shown}: over the {MAX_FILE_BYTES // 1048576} MB limit; not a config file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read config ({exc})") from None
    try:
        data = _toml.loads(text)
        if table:
            for part in table.split("."):
                data = data.get(part, {}) if isinstance(data, dict) else {}
        validate(data, shown)
    except _toml.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{shown}: nested too deeply to read") from None
    return interpret(data, text, shown)


def interpret(data: dict, text: str = "", shown: str = "config") -> Config:
    """A :class:`Config` from validated data; unknown rule ids become DA003 findings."""
    from dockaudit.catalog import find_rule

    config = Config(path=shown)
    config.select = tuple(data.get("select", ())) + tuple(data.get("extend-select", ()))
    config.ignore = tuple(data.get("ignore", ()))
    config.fail_on = data.get("fail-on", "warning")
    config.exclude = tuple(data.get("exclude", ()))
    config.per_file_ignores = {k: tuple(v) for k, v in data.get("per-file-ignores", {}).items()}
    named: list[str] = [*config.select, *config.ignore]
    for value in config.per_file_ignores.values():
        named.extend(value)
    for key, level in data.get("severity", {}).items():
        info = find_rule(key)
        config.severity[info.id if info else key.upper()] = Severity.parse(level)
        named.append(key)
    for key in named:
        if key.lower() == "all" or find_rule(key) is not None or _is_prefix(key):
            continue
        config.diagnostics.append(Finding(
            span=_locate(text, key, shown),
            message=f"config names unknown rule {key!r}; see `dockaudit rules` for the ids",
            rule="DA003",
        ))
    gpu = data.get("gpu", {})
    if gpu:
        line = _line_of(text, "[gpu]") if "[gpu]" in text else _line_of(text, "driver")
        config.gpu = GpuFleet(
            driver=gpu.get("driver"),
            devices=tuple(gpu.get("devices", ())),
            span=Span(shown, line, 1, line, 1 + len(text.split("\n")[line - 1]) if text else 1),
        )
    return config


def _is_prefix(key: str) -> bool:
    """``DA1`` selects every DA1xx rule, like ruff's prefixes."""
    from dockaudit.catalog import load_catalog

    upper = key.upper()
    return bool(re.fullmatch(r"DA\d{0,2}", upper)) and any(rid.startswith(upper) for rid in load_catalog())
