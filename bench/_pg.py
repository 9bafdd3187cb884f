"""Throwaway PostgreSQL databases for benchmarks, running a benchmark's body in a
child process whose Django is set up on that database, and the ASGI server (uvicorn)
a benchmark sends its requests to."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """The PostgreSQL server to use: DATABASE_URL's server if it is PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_SERVER


def db_name(base: str) -> str:
    """A benchmark's database name, tagged with OMO_BENCH_TAG when set, so that two people
    on one machine can run the same benchmark at once without dropping each other's
    database."""
    tag = os.environ.get("OMO_BENCH_TAG", "")
    return f"{base}_{tag}" if tag else base


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def client_command(program: str) -> tuple[list[str], dict[str, str]]:
    """A PostgreSQL client program (createdb, dropdb, pgbench, ...) pointed at the
    server, and the environment to run it in (the password, when the URL has one)."""
    parts = urlsplit(server_url())
    args = [program, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    args += ["-U", parts.username or "postgres"]
    env = {**os.environ}
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return args, env


def _admin(command: str, name: str, *, check: bool = True) -> None:
    args, env = client_command(command)
    if command == "dropdb":
        args += ["--if-exists", "--force"]
    subprocess.run([*args, name], check=check, env=env, capture_output=True)


def database_create(name: str) -> str:
    _admin("dropdb", name)
    _admin("createdb", name)
    return database_url(name)


def database_drop(name: str, *, check: bool = True) -> None:
    """Drop `name` even with sessions still open on it; check=False: as far as it goes
    (cleaning up after a run whose figures are already taken)."""
    _admin("dropdb", name, check=check)


def run_child(module: str, name: str, args: list[str], extra_env: dict | None = None) -> Any:
    """Create database `name`, run `python -m <module> --child <args>` on it, drop the
    database whatever happens; the child's last stdout line, read as JSON (most return
    their list of rows)."""
    url = database_create(name)
    try:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "omo_site.settings.base",
            "DEBUG": "0",
            **(extra_env or {}),
        }
        result = subprocess.run(
            [sys.executable, "-m", module, "--child", *args],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{module} failed with exit code {result.returncode}")
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        database_drop(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_start(port: int, *options: str, env: dict[str, str], **popen) -> subprocess.Popen:
    """The production web launcher (`python -m omo_site.serve`: uvicorn, each worker on
    its own SO_REUSEPORT socket) serving the project's ASGI application on
    127.0.0.1:port, started from the project's root with uvicorn's `options` (workers,
    logging, protocols) after the address."""
    command = [sys.executable, "-m", "omo_site.serve", "omo_site.asgi:application"]
    command += ["--host", "127.0.0.1", "--port", str(port), *options]
    return subprocess.Popen(command, cwd=ROOT, env=env, **popen)
