"""The click commands behind :mod:`dockaudit.cli` (imported only when a command runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dockaudit import __version__

FORMATS = ("text", "json", "sarif", "github")
THRESHOLDS = ("error", "warning", "note", "never")


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


def _check_rules(option: str, keys: tuple[str, ...]) -> None:
    """Usage error for an id or name that is not in the catalog (prefixes like ``DA1`` are fine)."""
    import re

    from dockaudit.catalog import find_rule

    for key in keys:
        if key.lower() == "all" or re.fullmatch(r"(?i)DA\d{0,2}", key) or find_rule(key) is not None:
            continue
        raise click.BadParameter(f"no rule {key!r}; `dockaudit rules` lists the ids and names",
                                 param_hint=option)


def _use_color(no_color: bool, output: str | None) -> bool:
    if no_color or output or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _show_progress(quiet: bool) -> bool:
    """A progress bar (for large scans) only for a person watching: stderr is a terminal, not CI."""
    if quiet or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--fail-on", type=click.Choice(THRESHOLDS),
              help="Lowest severity that makes the exit code 1 [default: warning, or the config's].")
@click.option("--select", multiple=True,
              help="Only these rules (ids, names or id prefixes; comma-separated).")
@click.option("--ignore", multiple=True,
              help="Skip these rules (ids, names or id prefixes; comma-separated).")
@click.option("--exclude", multiple=True, help="Skip paths matching this glob (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (default: .dockaudit.toml or [tool.dockaudit] in the scanned root).")
@click.option("--gpu-driver", help="NVIDIA driver version of the servers (overrides [gpu] driver).")
@click.option("--gpu", "gpus", multiple=True, help="GPU model of the servers, e.g. 'Tesla P40' (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(0, 64), default=0,
              help="Processes to use: 1 runs everything in one process; 0 (default) uses all CPUs when "
                   "the scan is large enough to gain from it.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
@click.option("--quiet", "-q", is_flag=True, help="Only the findings (text) or nothing but the exit code.")
@click.option("--show-suppressed", is_flag=True, help="List suppressed findings in text output too.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(__version__, "--version", "-V", prog_name="dockaudit")
def scan(paths: tuple[str, ...], fmt: str, output: str | None, fail_on: str | None, select: tuple[str, ...],
         ignore: tuple[str, ...], exclude: tuple[str, ...], config_file: Path | None, gpu_driver: str | None,
         gpus: tuple[str, ...], jobs: int, no_color: bool, quiet: bool, show_suppressed: bool,
         debug: bool) -> int:
    """Audit container deployment files under PATHS (default: the current folder).

    Other commands: `dockaudit rules` lists the rules, `dockaudit explain ID` explains one.
    """
    from dockaudit.audit import Options, audit
    from dockaudit.config import ConfigError
    from dockaudit.report import render

    _check_rules("--select", _split(select))
    _check_rules("--ignore", _split(ignore))
    options = Options(
        config_file=config_file, select=_split(select), ignore=_split(ignore), exclude=tuple(exclude),
        fail_on=fail_on, gpu_driver=gpu_driver, gpu_devices=tuple(gpus), debug=debug, jobs=jobs,
        progress=_show_progress(quiet),
    )
    try:
        result = audit(list(paths) or ["."], options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    color = _use_color(no_color, output) and fmt == "text"
    text = render(fmt, result, color=color, quiet=quiet, show_suppressed=show_suppressed)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    elif text and not (quiet and fmt == "text" and not result.active()):
        sys.stdout.write(text)
    return result.exit_code(fail_on)


@click.command(name="rules", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True)
@click.option("--no-color", is_flag=True)
def rules_command(fmt: str, no_color: bool) -> int:
    """List every rule: id, name, severity, file kinds and summary."""
    from dockaudit.report.catalog import render_rules

    sys.stdout.write(render_rules(fmt, color=_use_color(no_color, None)))
    return 0


@click.command(name="explain", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("rule")
@click.option("--no-color", is_flag=True)
def explain_command(rule: str, no_color: bool) -> int:
    """Explain one rule (by id or name): what, why, how to fix, examples, references."""
    from dockaudit.catalog import find_rule
    from dockaudit.report.catalog import render_explain

    info = find_rule(rule)
    if info is None:
        raise click.ClickException(f"no rule {rule!r}; `dockaudit rules` lists them")
    sys.stdout.write(render_explain(info, color=_use_color(no_color, None)))
    return 0


SUBCOMMANDS = {"rules": rules_command, "explain": explain_command}
