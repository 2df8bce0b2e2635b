"""Compose variable interpolation, parsed and evaluated exactly as docker compose v2 does it.

Syntax (compose specification, "Interpolation"; behaviour checked against compose-go's
``template`` package):

- ``$VAR`` and ``${VAR}``; names are ``[A-Za-z_][A-Za-z0-9_]*``.
- ``${VAR:-default}`` (unset or empty) and ``${VAR-default}`` (unset) give a default;
  ``${VAR:?message}`` / ``${VAR?message}`` make compose fail when the variable is missing;
  ``${VAR:+alt}`` / ``${VAR+alt}`` give ``alt`` when the variable is set (and non-empty).
- The text after the modifier is itself interpolated, so defaults nest (``${A:-${B:-x}}``).
  The reference ends at the first ``}`` that balances the braces; compose counts ``{`` and ``}``
  for this, and falls back to the last ``}`` on the line when they do not balance.
- ``$$`` is a literal ``$``. A ``$`` followed by anything else (``$1``, ``$ ``, end of text) is
  left as it is.
- ``${`` not followed by a valid name and a ``}`` or modifier, or a modified reference with no
  ``}`` on the same line, is an error: compose refuses the file ("Invalid template").

This module never evaluates anything but this grammar: a ``lookup`` function supplies values
(``None`` when the variable is unset). Unlike compose, it parses the text after every modifier,
so syntax errors and references inside a default are reported even when the default would not
be used with the current values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dockaudit.source import Span

#: modifiers, longest first so that ``:-`` wins over ``-``
MODIFIERS = (":-", ":?", ":+", "-", "?", "+")

#: how deep defaults may nest before the text is refused (compose has no limit; we need one)
MAX_NESTING = 32

Lookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class VarRef:
    """One ``$VAR`` / ``${VAR...}`` reference; offsets index the interpolated text.

    ``default`` is the raw text after the modifier (the default, the error message or the
    alternative value), ``None`` without a modifier. ``required`` means compose needs the
    variable defined: no modifier at all (compose then warns and substitutes an empty string),
    or a ``?``/``:?`` modifier (compose fails). ``nested`` marks references inside another
    reference's default, which are only evaluated when that default is used.
    """

    name: str
    modifier: str | None
    default: str | None
    start: int
    end: int
    required: bool
    braced: bool = True
    nested: bool = False


@dataclass
class Interpolated:
    """The result of :func:`interpolate`: the value compose would use, and what it referenced."""

    value: str
    refs: list[VarRef] = field(default_factory=list)
    #: (offset of the ``$``, message) for syntax compose rejects
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: ``?``/``:?`` references whose variable is missing: compose would stop with their message
    missing: list[VarRef] = field(default_factory=list)


@dataclass(frozen=True)
class VarUse:
    """A variable reference placed in a file (compose file or env file) with its position."""

    name: str
    span: Span
    modifier: str | None
    default: str | None
    required: bool
    defined: bool
    nested: bool = False


# --- parsing ---------------------------------------------------------------------------------


@dataclass
class _Ref:
    ref: VarRef
    arg: list | None  # parsed parts of the text after the modifier


def _is_name_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_name_char(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.errors: list[tuple[int, str]] = []
        self.refs: list[VarRef] = []
        self._last_brace: dict[int, int] = {}
        #: set when a reference nests deeper than MAX_NESTING: parsing stops there (one error)
        self.too_deep = False

    def _line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end == -1 else end

    def _last_close(self, bound: int) -> int:
        """Offset of the last ``}`` before ``bound`` on the same line (-1 if none); cached."""
        cached = self._last_brace.get(bound)
        if cached is None:
            line_start = self.text.rfind("\n", 0, bound) + 1
            cached = self.text.rfind("}", line_start, bound)
            self._last_brace[bound] = cached
        return cached

    def _closing(self, start: int, last: int) -> int:
        """Compose's brace matching from the ``$`` at ``start``; ``last`` when unbalanced."""
        text = self.text
        depth = 0
        i = start
        while i <= last:
            c = text[i]
            if c == "}":
                depth -= 1
                if depth == 0:
                    return i
            if c == "{":
                depth += 1
                i += 1  # compose skips the character after every "{"
            i += 1
        return last

    def parse(self, start: int, end: int, depth: int) -> list:
        """Parts of ``text[start:end]``: literal strings and :class:`_Ref` objects."""
        text = self.text
        parts: list = []
        literal_from = start
        i = start
        while not self.too_deep:
            i = text.find("$", i, end)
            if i == -1:
                break
            nxt = text[i + 1] if i + 1 < end else ""
            if nxt == "$":
                parts.append(text[literal_from:i + 1])
                i += 2
                literal_from = i
                continue
            if nxt and _is_name_start(nxt):
                j = i + 2
                while j < end and _is_name_char(text[j]):
                    j += 1
                parts.append(text[literal_from:i])
                ref = VarRef(text[i + 1:j], None, None, i, j, True, braced=False, nested=depth > 0)
                self.refs.append(ref)
                parts.append(_Ref(ref, None))
                i = literal_from = j
                continue
            if nxt != "{":
                i += 1  # a lone "$" stays as it is
                continue
            parsed = self._braced(i, end, depth)
            if parsed is None:
                i += 1  # error recorded; keep the text literally and go on
                continue
            ref_part, after = parsed
            parts.append(text[literal_from:i])
            parts.append(ref_part)
            i = literal_from = after
        parts.append(text[literal_from:end])
        return [p for p in parts if p != ""]

    def _braced(self, i: int, end: int, depth: int) -> tuple[_Ref, int] | None:
        text = self.text
        j = i + 2
        if j >= end or not _is_name_start(text[j]):
            shown = text[i:min(end, i + 12)].split("\n")[0]
            self.errors.append((i, f"invalid interpolation {shown!r}: `${{` must be followed by a variable "
                                   "name (use `$$` for a literal dollar sign)"))
            return None
        k = j + 1
        while k < end and _is_name_char(text[k]):
            k += 1
        name = text[j:k]
        if k < end and text[k] == "}":
            ref = VarRef(name, None, None, i, k + 1, True, braced=True, nested=depth > 0)
            self.refs.append(ref)
            return _Ref(ref, None), k + 1
        modifier = next((m for m in MODIFIERS if text.startswith(m, k) and k + len(m) <= end), None)
        if modifier is None:
            if k >= end or text[k] == "\n":
                self.errors.append((i, f"invalid interpolation: `${{{name}` is missing its closing `}}`"))
            else:
                self.errors.append((i, f"invalid interpolation: unexpected {text[k]!r} after `${{{name}`; "
                                       "compose accepts ${VAR}, ${VAR:-default}, ${VAR-default}, "
                                       "${VAR:?error}, ${VAR?error}, ${VAR:+alt} and ${VAR+alt}"))
            return None
        if depth + 1 > MAX_NESTING:
            # checked before brace matching, which costs a scan of the line at every level
            self.errors.append((i, f"interpolation nested more than {MAX_NESTING} levels deep; "
                                   "the rest of this value is not checked"))
            self.too_deep = True
            return None
        arg_start = k + len(modifier)
        last = self._last_close(min(self._line_end(arg_start), end))
        if last < arg_start:
            self.errors.append((i, f"invalid interpolation: `${{{name}{modifier}` has no closing `}}` "
                                   "on its line"))
            return None
        close = self._closing(i, last)
        required = modifier in (":?", "?")
        ref = VarRef(name, modifier, text[arg_start:close], i, close + 1, required, braced=True,
                     nested=depth > 0)
        self.refs.append(ref)
        arg = self.parse(arg_start, close, depth + 1)
        return _Ref(ref, arg), close + 1


# --- evaluation ------------------------------------------------------------------------------


def _evaluate(parts: list, lookup: Lookup, missing: list[VarRef]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        ref = part.ref
        value = lookup(ref.name)
        mod = ref.modifier
        if mod is None:
            out.append(value or "")
        elif mod == ":-":
            out.append(value if value else _evaluate(part.arg, lookup, missing))
        elif mod == "-":
            out.append(_evaluate(part.arg, lookup, missing) if value is None else value)
        elif mod == ":+":
            out.append(_evaluate(part.arg, lookup, missing) if value else "")
        elif mod == "+":
            out.append(_evaluate(part.arg, lookup, missing) if value is not None else "")
        else:  # ":?" and "?"
            failed = (not value) if mod == ":?" else value is None
            if failed:
                missing.append(ref)
                out.append("")
            else:
                out.append(value or "")
    return "".join(out)


def parse_refs(text: str) -> tuple[list[VarRef], list[tuple[int, str]]]:
    """Every reference in ``text`` (nested ones included) and the syntax errors, no evaluation."""
    if "$" not in text:
        return [], []
    parser = _Parser(text)
    parser.parse(0, len(text), 0)
    return parser.refs, parser.errors


def interpolate(text: str, lookup: Lookup) -> Interpolated:
    """Interpolate ``text`` as compose would, with ``lookup(name)`` giving values (None: unset)."""
    if "$" not in text:
        return Interpolated(text)
    parser = _Parser(text)
    parts = parser.parse(0, len(text), 0)
    missing: list[VarRef] = []
    value = _evaluate(parts, lookup, missing)
    refs = sorted(parser.refs, key=lambda r: (r.start, -r.end))
    return Interpolated(value, refs, sorted(parser.errors), missing)


def no_variables(_name: str) -> str | None:
    """A lookup under which every variable is unset."""
    return None
