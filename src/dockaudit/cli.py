"""Command line: ``dockaudit [PATH...]``, ``dockaudit rules``, ``dockaudit explain ID``.

Exit codes: 0 no finding at or above the ``--fail-on`` threshold; 1 findings at or above it;
2 usage, configuration or internal error (one line on stderr; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import sys

USAGE_ERROR = 2


def _fail(message: str) -> None:
    sys.stderr.write(f"dockaudit: error: {message}\n")
    raise SystemExit(USAGE_ERROR)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from dockaudit import __version__

        try:
            sys.stdout.write(f"dockaudit {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            _discard_stdout()
        raise SystemExit(0)
    debug = "--debug" in args
    import click

    from dockaudit import commands

    command = commands.scan
    if args and args[0] in commands.SUBCOMMANDS:
        command = commands.SUBCOMMANDS[args[0]]
        args = args[1:]
    try:
        code = command.main(args=args, prog_name="dockaudit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        if debug:
            raise
        _fail(exc.format_message())
    except click.exceptions.Abort:
        _fail("aborted")
    except SystemExit:
        raise
    except BrokenPipeError:  # the reader went away (`dockaudit rules | head`)
        _discard_stdout()
        code = 0
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
    if argv is None and sys.getprofile() is None and sys.gettrace() is None:  # not under a profiler
        _exit_now(code or 0)
    raise SystemExit(code or 0)


def _exit_now(code: int) -> None:
    """End the process without tearing down the interpreter.

    Freeing every parsed document one object at a time takes about a tenth of the whole run on a
    large tree, for nothing: the process ends anyway. Output is flushed first; no atexit work is
    pending (worker processes have been joined).
    """
    import contextlib
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that the flush at exit does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    main()
