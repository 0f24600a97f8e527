"""`codecortex` command line: argument parsing and error handling shared by all commands.

Each command lives in its own module and is an `async def run(args, settings) -> int`.
Errors users can act on (database down, bad settings) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from codecortex import __version__

EXIT_ERROR = 2

# command name -> (module, help). Modules define add_arguments(parser) and async run(args, settings).
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("codecortex.cli.serve", "run the language server (stdio, or --tcp HOST:PORT)"),
    "check": ("codecortex.cli.check", "run detectors, record problems, print known fixes"),
    "search": ("codecortex.cli.search", "search past solutions and knowledge"),
    "note": ("codecortex.cli.note", "add notes and snippets to your knowledge"),
    "learn-history": ("codecortex.cli.history", "learn fixes from the repository's git history"),
    "github": (
        "codecortex.cli.github",
        "GitHub: sign in, pick repositories, learn from merged PRs",
    ),
    "stats": ("codecortex.cli.stats", "what CodeCortex has learned and how much it helped"),
    "db": ("codecortex.cli.db", "database status and migrations"),
    "team": ("codecortex.cli.team", "shared team server: init, add-user, list, share"),
    "report": ("codecortex.cli.report", "write an HTML report with charts (offline)"),
    "export": ("codecortex.cli.portability", "export your memory as NDJSON"),
    "import": ("codecortex.cli.portability", "import memory written by export"),
    "learn-path": ("codecortex.cli.learnpath", "a learning path from your recurring problems"),
    "analyze": ("codecortex.cli.analyze", "analyse the code: insights in quick/medium/deep phases"),
    "insights": ("codecortex.cli.analyze", "list, ignore or reopen code insights"),
    "doctor": ("codecortex.cli.doctor", "check the database, grammars, tools and model endpoint"),
}


def command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` runs (its first word that is not an option), if it is one of ours."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that command's module is imported (the
    others are listed by name and help): `codecortex serve` starts without loading the rest."""
    parser = argparse.ArgumentParser(
        prog="codecortex", description="A language server that remembers how you fix things."
    )
    parser.add_argument("--version", action="version", version=f"codecortex {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no warnings, only errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is not None and name != command:
            continue
        module = importlib.import_module(module_name)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM outside the event loop (a command that does not use it, or before and after it
    runs): stop as on Ctrl-C."""
    raise KeyboardInterrupt


async def _cancelled_on_signal(work: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; Ctrl-C (SIGINT) and SIGTERM cancel it, from the event loop
    (`loop.add_signal_handler`): the cancellation reaches every `await` below, so each `finally`
    runs — tools stopped and reaped, threads waited for, transactions rolled back, scratch
    folders removed — before the command ends. (A Python signal handler runs between any two
    lines, even inside the event loop's own bookkeeping, and an exception it raises, as
    `_terminate` does, lands in the middle of that cleanup.)"""
    import asyncio

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None):  # (ignored: left so, as
        signals.append(signal.SIGINT)  # for a command started with `&` or by nohup)
    for sig in signals:
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await work
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)  # SIGINT: back to KeyboardInterrupt
        signal.signal(signal.SIGTERM, _terminate)


def _not_reaped_twice(record: logging.LogRecord) -> bool:
    """Drop asyncio's warning about a tool it reaped itself: cancelled while it was starting the
    tool (Ctrl-C, SIGTERM), asyncio stops and reaps it, then its child watcher finds it gone."""
    return not str(record.msg).startswith("Unknown child process pid")


def _after_interrupt() -> None:
    """After Ctrl-C or SIGTERM, with the event loop gone: stop the tools we started that are
    still running, and keep asyncio's complaints about their transports (garbage-collected
    after the loop closed) off the terminal."""
    import psutil

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    default_hook = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, RuntimeError) and "loop is closed" in str(
            unraisable.exc_value
        ):
            return
        default_hook(unraisable)

    sys.unraisablehook = hook
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    tools = [c for c in children if not c.name().startswith(("postgres", "pg_ctl"))]
    for child in tools:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    psutil.wait_procs(tools, timeout=3)


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C or SIGTERM while the commands are imported or the settings read (seconds on a busy
    # machine): nothing is started yet; one line and 130 as later (this module imports little)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv, previous)
    except KeyboardInterrupt:
        print("codecortex: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None, sigterm: Any) -> int:
    import asyncio

    from codecortex.config import load_settings
    from codecortex.store.embedded import StoreError

    parser = build_parser(command_named(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if args.command == "serve":  # the language server ends through the protocol
        signal.signal(signal.SIGTERM, sigterm)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command != "serve":
        logging.getLogger("asyncio").addFilter(_not_reaped_twice)
    settings = load_settings()
    for error in [] if args.quiet else settings.errors:
        print(f"codecortex: warning: {error}", file=sys.stderr)
    try:
        if getattr(args._module, "SYNC", False):
            code = int(args._module.run_sync(args, settings))
        else:
            work = args._module.run(args, settings)
            if args.command != "serve":
                work = _cancelled_on_signal(work)
            code = int(asyncio.run(work))
        if not sys.stdout.closed:  # (the language server closes it when it exits)
            sys.stdout.flush()  # here, where a closed pipe is handled below, not at exit
        return code
    except StoreError as exc:
        print(f"codecortex: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM
        _after_interrupt()
        print("codecortex: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`codecortex search x | head`): stop quietly, as `cat` does.
        # Python would complain again when flushing stdout at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
