"""Real servers on loopback for the test suite, the benchmark and the drills: free ports, bounded
waits, the moto launcher, and stopping exactly the process we started (by its PID).

A top-level package because two top-level trees use it (tests/ and bench/) and neither may import
the other; no shop app imports it, so it never ships in the request path.
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(
    ready: Callable[[], bool], *, timeout: float, what: str, process: subprocess.Popen | None = None
) -> None:
    """Poll ``ready`` until it is true (bounded by ``timeout``); fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before it was ready")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready within {timeout}s")


def port_open(port: int) -> Callable[[], bool]:
    """A readiness check for ``wait_until``: something accepts connections on ``port``."""

    def check() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex((HOST, port)) == 0

    return check


def stop(process: subprocess.Popen, *, timeout: float = 10) -> None:
    """Stop a process this session started, by its PID: TERM, then KILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def moto_start(*, env: dict[str, str] | None = None, what: str = "moto_server") -> tuple[subprocess.Popen, str]:
    """Start a moto server (S3, Secrets Manager, IAM...) on a free loopback port; returns it and its URL.

    ``env`` adds to this process's environment (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT`` to enforce IAM).
    The caller stops it with ``stop``; a missing ``moto_server`` executable fails loudly.
    """
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(  # noqa: S603 (moto_server from our own venv, fixed arguments)
        [str(executable), "-H", HOST, "-p", str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(port_open(port), timeout=30, what=what, process=process)
    except BaseException:
        stop(process)
        raise
    return process, f"http://{HOST}:{port}"


@contextmanager
def moto_running(**kwargs) -> Iterator[str]:
    """``moto_start`` as a context manager: yields the endpoint URL, stops the server on exit."""
    process, url = moto_start(**kwargs)
    try:
        yield url
    finally:
        stop(process)


def redis_start(*, what: str = "redis-server") -> tuple[subprocess.Popen, str]:
    """A throwaway ``redis-server`` on a free loopback port, nothing saved to disk; returns it and its
    redis:// URL. The caller stops it with ``stop``. No redis-server installed (scripts/install.sh test
    installs it) fails loudly: the tests about Redis never skip."""
    port = free_port()
    executable = "/usr/bin/redis-server"
    if not Path(executable).exists():
        raise RuntimeError(f"{executable} is missing: run scripts/install.sh test (apt package redis-server)")
    process = subprocess.Popen(  # noqa: S603 (the distribution's redis-server, fixed arguments)
        [
            executable,
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--dir",
            tempfile.gettempdir(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(port_open(port), timeout=30, what=what, process=process)
    except BaseException:
        stop(process)
        raise
    return process, f"redis://{HOST}:{port}/0"


@contextmanager
def redis_running(**kwargs) -> Iterator[str]:
    """``redis_start`` as a context manager: yields the redis:// URL, stops the server on exit."""
    process, url = redis_start(**kwargs)
    try:
        yield url
    finally:
        stop(process)


class DroppingServer:
    """A loopback port that accepts every TCP connection and closes it at once, counting them: a
    server that is down, whose callers' attempts can be counted (a closed port cannot count them).

    Not covered: a server that is slow rather than gone (use a listener that never replies)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind((HOST, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._sock.getsockname()[1]}"

    @property
    def connections(self) -> int:
        with self._lock:
            return self._count

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._count += 1
            conn.close()

    def __enter__(self) -> "DroppingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()
