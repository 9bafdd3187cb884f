"""`python -m omo_site.serve`: uvicorn's workers, each on a listening socket of its own.

The launcher runs as in production (its own process, uvicorn's command line) and serves
tests/core/pid_app.py, which answers with the pid of the worker that took the request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balances on Linux")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(*address: str, workers: int = WORKERS) -> subprocess.Popen:
    command = [sys.executable, "-m", "omo_site.serve", "tests.core.pid_app:application"]
    command += [*address, "--workers", str(workers), "--lifespan", "off"]
    command += ["--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, cwd=ROOT)  # noqa: S603 (our own module, fixed arguments)


def _stop(launcher: subprocess.Popen) -> None:
    workers = _children(launcher.pid)
    if launcher.poll() is None:
        launcher.kill()
        launcher.wait(timeout=10)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> set[int]:
    """The launcher's worker processes (multiprocessing's resource tracker is a child too)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # the launcher is gone
        return set()
    workers = set()
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if b"spawn_main" in command:
            workers.add(int(child))
    return workers


def _ask(sock: socket.socket) -> int:
    """The pid that answers a GET on the connected `sock`."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    return int(body)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _pids_answering(connect, count: int, timeout: float = 60) -> set[int]:
    """Ask on new connections until `count` different workers have answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        try:
            with connect() as sock:
                seen.add(_ask(sock))
        except OSError:  # not listening yet, or a worker restarting
            time.sleep(0.1)
    return seen


def _listening_sockets(port: int) -> int:
    """How many TCP sockets listen on 127.0.0.1:port (/proc/net/tcp, state 0A)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == "0A")


@pytest.fixture
def served():
    port = _free_port()
    launcher = _launch("--host", "127.0.0.1", "--port", str(port))
    try:
        yield launcher, port
    finally:
        _stop(launcher)


def test_every_worker_answers_on_a_socket_of_its_own(served):
    launcher, port = served
    pids = _pids_answering(lambda: _connect(port), WORKERS)
    assert pids == _children(launcher.pid)
    assert len(pids) == WORKERS
    # One listening socket per worker (the supervisor's holds the port but never listens).
    assert _listening_sockets(port) == WORKERS


def test_a_burst_of_connections_is_spread_across_the_workers(served):
    launcher, port = served
    workers = _pids_answering(lambda: _connect(port), WORKERS)
    assert workers == _children(launcher.pid)
    # The burst waits in the kernel's accept queues while the workers are stopped, as it
    # does while they are busy. With one shared socket the first worker to run again
    # accepts the whole queue at once.
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        burst = [_connect(port) for _ in range(30)]
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    try:
        pids = [_ask(sock) for sock in burst]
    finally:
        for sock in burst:
            sock.close()
    # The kernel hashes each connection to a worker's socket: a worker missing from 30
    # connections has odds of (2/3)**30, about 5 in a million.
    assert set(pids) == workers


def test_a_killed_worker_is_restarted_on_its_own_socket(served):
    launcher, port = served
    before = _pids_answering(lambda: _connect(port), WORKERS)
    killed = min(before)
    os.kill(killed, signal.SIGKILL)

    deadline = time.monotonic() + 30
    while (killed in _children(launcher.pid) or len(_children(launcher.pid)) < WORKERS) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    after = _pids_answering(lambda: _connect(port), WORKERS)
    assert killed not in after
    assert after == _children(launcher.pid)
    assert len(after - before) == 1
    assert _listening_sockets(port) == WORKERS


def test_sigterm_stops_the_supervisor_and_every_worker(served):
    launcher, port = served
    workers = _pids_answering(lambda: _connect(port), WORKERS)
    assert len(workers) == WORKERS

    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()
    assert _listening_sockets(port) == 0
    with pytest.raises(ConnectionRefusedError):
        _connect(port)


def test_a_unix_socket_is_shared_by_the_workers():
    """No SO_REUSEPORT for a unix socket: the workers accept from the supervisor's one."""
    path = Path(tempfile.mkdtemp(prefix="omo-serve-")) / "web.sock"
    launcher = _launch("--uds", str(path), workers=2)

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(str(path))
        return sock

    try:
        assert _pids_answering(connect, 2) == _children(launcher.pid)
    finally:
        _stop(launcher)
