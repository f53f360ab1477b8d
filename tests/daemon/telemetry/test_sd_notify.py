"""The sd_notify client against real AF_UNIX datagram sockets (path and abstract), both backends."""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from pathlib import Path

import pytest

from edgepilot.daemon.telemetry.sd_notify import SdNotifier, parse_notify_socket, watchdog_interval_us

HAS_SYSTEMD_PYTHON = importlib.util.find_spec("systemd") is not None and importlib.util.find_spec("systemd.daemon") is not None


def bound_socket(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2.0)
    return s


@pytest.fixture
def path_socket(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = str(tmp_path / "notify.sock")
    s = bound_socket(path)
    yield path, s
    s.close()


def test_parse_notify_socket() -> None:
    assert parse_notify_socket("/run/systemd/notify") == "/run/systemd/notify"
    assert parse_notify_socket("@edgepilot/notify") == "\0edgepilot/notify"
    assert parse_notify_socket("") is None
    assert parse_notify_socket(None) is None
    assert parse_notify_socket("relative/path") is None
    assert parse_notify_socket("vsock:2:1234") is None


def test_watchdog_interval_follows_sd_watchdog_enabled_rules() -> None:
    assert watchdog_interval_us({"WATCHDOG_USEC": "2000000"}) == 2_000_000
    assert watchdog_interval_us({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}) == 2_000_000
    assert watchdog_interval_us({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None  # another process's watchdog
    assert watchdog_interval_us({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_us({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_us({}) is None


def test_no_notify_socket_is_a_silent_noop() -> None:
    n = SdNotifier(environ={})
    assert n.backend == "none" and not n.enabled
    assert n.notify("READY=1") and n.notify_nowait(b"WATCHDOG=1") and n.status("x") and n.stopping()
    assert n.watchdog_period_ns == 0 and n.send_errors == 0


def test_watchdog_period_is_half_of_watchdog_usec(path_socket: tuple[str, socket.socket]) -> None:
    path, _ = path_socket
    n = SdNotifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}, backend="socket")
    assert n.watchdog_period_ns == 200_000_000
    # Without NOTIFY_SOCKET there is no one to ping, whatever WATCHDOG_USEC says.
    assert SdNotifier(environ={"WATCHDOG_USEC": "400000"}).watchdog_period_ns == 0


def test_socket_backend_delivers_to_a_path_socket(path_socket: tuple[str, socket.socket]) -> None:
    path, s = path_socket
    n = SdNotifier(environ={"NOTIFY_SOCKET": path}, backend="socket")
    assert n.backend == "socket"
    assert n.notify_nowait(n.READY)
    assert s.recv(4096) == b"READY=1"
    assert n.status("line one\nline two")
    assert s.recv(4096) == b"STATUS=line one line two"
    assert n.stopping("bye")
    assert s.recv(4096) == b"STOPPING=1\nSTATUS=bye"


def test_socket_backend_delivers_to_an_abstract_socket() -> None:
    name = f"edgepilot-test-{os.getpid()}-{time.monotonic_ns()}"
    s = bound_socket("\0" + name)
    try:
        n = SdNotifier(environ={"NOTIFY_SOCKET": "@" + name}, backend="socket")
        assert n.notify_nowait(n.WATCHDOG)
        assert s.recv(4096) == b"WATCHDOG=1"
    finally:
        s.close()


def test_a_missing_manager_is_counted_never_raised(tmp_path: Path) -> None:
    n = SdNotifier(environ={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")}, backend="socket")
    assert n.notify_nowait(n.WATCHDOG) is False
    assert n.notify("STATUS=x") is False
    assert n.send_errors == 2 and "FileNotFoundError" in n.last_error


def test_a_full_manager_queue_never_blocks_the_caller(path_socket: tuple[str, socket.socket]) -> None:
    """A manager that stops reading: the loop's ping must fail fast, not wait (the loop drives a robot)."""
    path, s = path_socket
    n = SdNotifier(environ={"NOTIFY_SOCKET": path}, backend="socket")
    t0 = time.monotonic()
    results = [n.notify_nowait(n.WATCHDOG) for _ in range(5000)]
    elapsed = time.monotonic() - t0
    assert not all(results), "the receiver's queue never filled; raise the message count"
    assert n.send_errors > 0 and "BlockingIOError" in n.last_error
    assert elapsed < 2.0
    s.recv(4096)  # drained one: the next ping goes through again
    assert n.notify_nowait(n.WATCHDOG)


def test_the_loop_socket_follows_a_rebound_manager_socket(tmp_path: Path) -> None:
    """After `systemctl daemon-reexec` the manager binds a new socket at the same path; pings must reach it."""
    path = str(tmp_path / "notify.sock")
    s = bound_socket(path)
    n = SdNotifier(environ={"NOTIFY_SOCKET": path}, backend="socket")
    assert n.notify_nowait(n.WATCHDOG) and s.recv(64) == b"WATCHDOG=1"
    s.close()
    os.unlink(path)
    s2 = bound_socket(path)
    try:
        assert n.notify_nowait(n.WATCHDOG) and s2.recv(64) == b"WATCHDOG=1"
    finally:
        s2.close()


@pytest.mark.skipif(not HAS_SYSTEMD_PYTHON, reason="systemd-python is not installed (pip install 'edgepilot[systemd]', "
                                                   "needs libsystemd-dev); the socket backend above covers the protocol")
def test_systemd_python_backend_delivers_through_libsystemd(path_socket: tuple[str, socket.socket],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path, s = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)  # libsystemd reads the real environment
    n = SdNotifier(backend="systemd-python")
    assert n.backend == "systemd-python"
    assert n.status("driving")
    assert s.recv(4096) == b"STATUS=driving"
    assert n.stopping()
    assert s.recv(4096) == b"STOPPING=1"
    # The loop's messages still take the non-blocking socket.
    assert n.notify_nowait(n.READY) and s.recv(4096) == b"READY=1"


def test_auto_backend_prefers_systemd_python_when_installed(path_socket: tuple[str, socket.socket]) -> None:
    path, _ = path_socket
    n = SdNotifier(environ={"NOTIFY_SOCKET": path})
    assert n.backend == ("systemd-python" if HAS_SYSTEMD_PYTHON else "socket")
