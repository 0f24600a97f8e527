"""`codecortex serve`: the language server over stdio (default) or TCP."""

from __future__ import annotations

import argparse
import sys

from codecortex import __version__
from codecortex.config import Settings

SYNC = True

# The event loop answers the editor while worker threads replay fixes (CPU-bound Python): with
# CPython's default switch interval (5 ms) every await it resumes from waits up to 5 ms for the
# GIL, and the first hints of a 50-diagnostic document waited for about 20 of them (their
# checks: a scratch folder, ruff's process and pipes). 1 ms keeps it responsive.
GIL_SWITCH_INTERVAL = 0.001


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")


def run_sync(args: argparse.Namespace, settings: Settings) -> int:
    from codecortex.lsp.setup import run_server

    host, port = None, None
    if args.tcp:
        host, _, port_text = args.tcp.rpartition(":")
        if not host or not port_text.isdigit():
            raise SystemExit("codecortex: error: --tcp expects HOST:PORT, e.g. 127.0.0.1:2087")
        port = int(port_text)
    if host is None and sys.stdin.isatty():
        # Started by hand: an editor never gives the server a terminal.
        print(
            f"codecortex {__version__}: the CodeCortex language server, speaking LSP on "
            "stdin/stdout.\nYour editor starts it (README: Editor setup); from a shell, try "
            "`codecortex check .`.\nPress Ctrl-C to quit.",
            file=sys.stderr,
            flush=True,
        )
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    try:
        return run_server(settings, host=host, port=port)
    except KeyboardInterrupt:
        # Ctrl-C. pygls reads stdin on a worker thread that nothing can interrupt and the
        # interpreter would wait for it at exit: run the exit handlers (the embedded
        # PostgreSQL's) and leave at once.
        import atexit
        import os

        print("codecortex serve: interrupted", file=sys.stderr, flush=True)
        atexit._run_exitfuncs()
        os._exit(130)
