"""Throwaway PostgreSQL databases for benchmarks, and running a benchmark's body in a
child process whose Django is set up on that database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

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


def _admin(command: str, name: str) -> None:
    parts = urlsplit(server_url())
    args = [command, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    args += ["-U", parts.username or "postgres"]
    if command == "dropdb":
        args += ["--if-exists", "--force"]
    env = {**os.environ}
    if parts.password:
        env["PGPASSWORD"] = parts.password
    subprocess.run([*args, name], check=True, env=env, capture_output=True)


def database_create(name: str) -> str:
    _admin("dropdb", name)
    _admin("createdb", name)
    return database_url(name)


def database_drop(name: str) -> None:
    _admin("dropdb", name)


def run_child(module: str, name: str, args: list[str], extra_env: dict | None = None) -> list[dict]:
    """Create database `name`, run `python -m <module> --child <args>` on it (its last
    stdout line is a JSON list of rows), drop the database whatever happens."""
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
