"""`codecortex serve`: the language server over stdio (default) or TCP."""

from __future__ import annotations

import argparse

from codecortex.config import Settings

SYNC = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")


def run_sync(args: argparse.Namespace, settings: Settings) -> int:
    from codecortex.lsp.server import run_server

    host, port = None, None
    if args.tcp:
        host, _, port_text = args.tcp.rpartition(":")
        if not host or not port_text.isdigit():
            raise SystemExit("codecortex: error: --tcp expects HOST:PORT, e.g. 127.0.0.1:2087")
        port = int(port_text)
    run_server(settings, host=host, port=port)
    return 0
