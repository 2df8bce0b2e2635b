"""Running the rules in this process and one forked child at once (see ``--jobs``).

The selected rules form a list; this process takes rules from its front and the child from its
back, one at a time, until they meet. Rules next to each other in the list (those of one
module) tend to need the same shared models (stage contents, assembled compose projects,
installed packages), which each process builds on first use; taking from opposite ends means
that only the rules around the meeting point are in a process that had to build a model the
other one also built. Measured on ``bench/out/tree-2000-seed1``: rules 1.0 s in one process,
0.57 s wall in two (1.13 s of CPU in all).

The child inherits the parsed project (fork) and sends back each rule's findings through a pipe
(pickled). A rule whose findings do not pickle, or that the child took but never reported (it
died), runs here afterwards, so every rule runs exactly once in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dockaudit.findings import Finding

#: one selected rule: (rule id, function); the runner turns it into its findings
RunOne = Callable[[str, Any], list[Finding]]


def run_in_two_processes(rules: Sequence[tuple[str, Any]], run_one: RunOne,
                         on_rule: Callable[[str, int], None] | None = None) -> list[list[Finding]]:
    """The findings of each rule of ``rules`` (in their order), half of them found by a child."""
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("fork")
    # ends[0]: the next index from the front; ends[1]: one past the last index left at the back
    ends = context.Array("i", [0, len(rules)])
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(rules, run_one, ends, writer), daemon=True)
    child.start()
    writer.close()
    results: list[list[Finding] | None] = [None] * len(rules)
    open_pipe = True

    def receive(block: bool) -> None:
        nonlocal open_pipe
        while open_pipe and wait([reader], None if block else 0):
            try:
                index, found = reader.recv()
            except (EOFError, OSError):  # finished, or died: nothing more comes
                open_pipe = False
                return
            if found is not None:
                results[index] = found
                if on_rule is not None:
                    on_rule(rules[index][0], len(rules))

    try:
        while True:
            index = _take(ends, front=True)
            if index is None:
                break
            rule_id, function = rules[index]
            if on_rule is not None:
                on_rule(rule_id, len(rules))
            results[index] = run_one(rule_id, function)
            receive(block=False)
        receive(block=True)
    finally:
        reader.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    for index, found in enumerate(results):
        if found is None:  # the child failed to report it: run it here
            rule_id, function = rules[index]
            results[index] = run_one(rule_id, function)
    return [found or [] for found in results]


def _take(ends: Any, front: bool) -> int | None:
    """The next rule index from the front or the back (None: all rules are taken)."""
    lock = ends.get_lock()
    if not lock.acquire(timeout=10):  # a dead child left it held: stop taking, the rest runs here
        return None
    try:
        first, last = ends[0], ends[1]
        if first >= last:
            return None
        if front:
            ends[0] = first + 1
            return first
        ends[1] = last - 1
        return last - 1
    finally:
        lock.release()


def _child(rules: Sequence[tuple[str, Any]], run_one: RunOne, ends: Any, writer: Any) -> None:
    """In the forked child: run rules from the back and send each one's findings."""
    try:
        while True:
            index = _take(ends, front=False)
            if index is None:
                return
            rule_id, function = rules[index]
            found = run_one(rule_id, function)
            try:
                writer.send((index, found))  # pickled whole before anything is written
            except (BrokenPipeError, OSError):
                raise
            except Exception:  # findings that do not pickle: the parent runs the rule again
                writer.send((index, None))
    except (KeyboardInterrupt, BrokenPipeError, OSError):
        return
    finally:
        writer.close()
