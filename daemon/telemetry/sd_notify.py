"""sd_notify(3): tell systemd that the daemon is ready, how it is doing, that its loop is alive, and that it stops.

The protocol is one datagram of ``KEY=value`` lines to the AF_UNIX socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket). Without
that variable every call is a no-op, so the daemon behaves the same outside
systemd.

Two ways out, chosen by who calls:

* :meth:`SdNotifier.notify` — for threads that may wait (the status thread,
  shutdown): systemd-python's ``systemd.daemon.notify`` (libsystemd's
  ``sd_notify``) when it is importable, else our own datagram.
* :meth:`SdNotifier.notify_nowait` — for the control loop's thread (READY=1
  once, WATCHDOG=1 every half ``WATCHDOG_USEC``): always a datagram on a socket
  opened once, sent with ``MSG_DONTWAIT``. libsystemd's ``sd_notify`` opens a
  new socket per call and sends blocking, so a manager whose queue is full would
  stall the loop that drives the robot; here such a datagram is dropped and
  counted instead (a dropped ping is retried on the next tick; if the manager
  stays unreachable long enough, systemd's watchdog restarts the service, which
  is the right outcome for a wedged notify path).

Never raises: a notification that cannot be delivered must not take the
daemon down. Failures are counted in :attr:`SdNotifier.send_errors`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Callable, Literal

Backend = Literal["auto", "systemd-python", "socket"]


def parse_notify_socket(value: str | None) -> str | None:
    """The ``socket.sendto`` address for a ``$NOTIFY_SOCKET`` value, or None if there is none we can use.

    ``@name`` is an abstract socket (leading NUL in the kernel's address); a
    path must be absolute. ``vsock:`` addresses (systemd >= 254, for VMs) are
    not supported and disable notification.
    """
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_us(environ: Mapping[str, str], pid: int | None = None) -> int | None:
    """``$WATCHDOG_USEC`` if systemd's watchdog is on for this process (sd_watchdog_enabled(3)), else None."""
    raw = environ.get("WATCHDOG_USEC")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    if usec <= 0:
        return None
    wd_pid = environ.get("WATCHDOG_PID")
    if wd_pid:
        try:
            if int(wd_pid) != (os.getpid() if pid is None else pid):
                return None  # the watchdog belongs to another process (our parent, typically)
        except ValueError:
            return None
    return usec


def _load_systemd_python() -> Callable[..., bool] | None:
    try:
        from systemd import daemon as sd_daemon  # type: ignore[import-not-found]
    except ImportError:
        return None
    # getattr: optional API of a third-party package (systemd-python builds without notify exist).
    return getattr(sd_daemon, "notify", None)


class SdNotifier:
    """An sd_notify client for one process.

    ``watchdog_period_ns`` is half of ``$WATCHDOG_USEC`` (in nanoseconds, on
    the monotonic clock), as sd_watchdog_enabled(3) recommends, or 0 when the
    watchdog is off. ``backend`` is what :meth:`notify` uses: ``systemd-python``,
    ``socket`` or ``none`` (no ``$NOTIFY_SOCKET``).
    """

    READY = b"READY=1"
    WATCHDOG = b"WATCHDOG=1"

    def __init__(self, environ: Mapping[str, str] | None = None, backend: Backend = "auto") -> None:
        env = os.environ if environ is None else environ
        self.address = parse_notify_socket(env.get("NOTIFY_SOCKET"))
        self.enabled = self.address is not None
        usec = watchdog_interval_us(env) if self.enabled else None
        self.watchdog_usec = usec or 0
        self.watchdog_period_ns = (usec * 1000) // 2 if usec else 0
        self.send_errors = 0
        self.last_error = ""
        self._sock: socket.socket | None = None
        self._sd_notify: Callable[..., bool] | None = None
        if not self.enabled:
            self.backend = "none"
            return
        if backend in ("auto", "systemd-python"):
            self._sd_notify = _load_systemd_python()
            if self._sd_notify is None and backend == "systemd-python":
                raise RuntimeError("systemd-python is not installed: pip install 'edgepilot[systemd]' "
                                   "(or use the distribution's python3-systemd)")
        self.backend = "systemd-python" if self._sd_notify is not None else "socket"
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.setblocking(False)
            self._sock = sock
        except OSError as err:  # pragma: no cover - only when the process is out of file descriptors
            self._record(err)

    # ------------------------------------------------------------------ sending

    def notify_nowait(self, payload: bytes) -> bool:
        """Send ``payload`` now without ever blocking (for the control loop). True if delivered or disabled.

        ``sendto`` by path every time rather than a connected socket: after
        ``systemctl daemon-reexec`` the manager binds a new socket at the same
        path, which a connected socket would no longer reach.
        """
        sock = self._sock
        if sock is None:
            return not self.enabled
        try:
            sock.sendto(payload, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL, self.address)
        except OSError as err:
            self._record(err)
            return False
        return True

    def notify(self, state: str) -> bool:
        """Send ``state`` (``KEY=value`` lines) through the preferred backend. True if delivered or disabled."""
        if not self.enabled:
            return True
        if self._sd_notify is not None:
            try:
                return bool(self._sd_notify(state))
            except (OSError, ValueError) as err:
                self._record(err)
                return False
        return self.notify_nowait(state.encode("utf-8", "replace"))

    def status(self, line: str) -> bool:
        """``STATUS=``: one line shown by ``systemctl status``; newlines would end the field, so they are replaced."""
        return self.notify("STATUS=" + line.replace("\n", " "))

    def stopping(self, line: str = "") -> bool:
        state = "STOPPING=1"
        if line:
            state += "\nSTATUS=" + line.replace("\n", " ")
        return self.notify(state)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _record(self, err: BaseException) -> None:
        self.send_errors += 1
        self.last_error = f"{type(err).__name__}: {err}"
