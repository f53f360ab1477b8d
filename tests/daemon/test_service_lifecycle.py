"""Service lifecycle on a real DDS transport (loopback): the managed-node transitions, refusals, and ownership.

The service closes exactly what it created: its heartbeat and status files, its own notifier; never the
transport or the engine it was given (tests/daemon/test_daemon_over_dds.py drives the loop itself).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgepilot.daemon.config.profile import default_profile_path, load_profile
from tests.shipped_profile import shipped_profile_data

pytestmark = pytest.mark.integration


class CountingNotifier:
    """An SdNotifier stand-in (no NOTIFY_SOCKET) that says whether it was closed."""

    READY = b"READY=1"
    WATCHDOG = b"WATCHDOG=1"
    watchdog_period_ns = 0

    def __init__(self) -> None:
        self.closed = False
        self.sent: list[str] = []

    def notify_nowait(self, msg: bytes) -> bool:
        self.sent.append(msg.decode())
        return True

    def status(self, line: str) -> bool:
        return True

    def stopping(self, line: str = "") -> bool:
        self.sent.append("STOPPING=1")
        return True

    def close(self) -> None:
        self.closed = True


def _profile(tmp_path: Path, domain: int, **extra: object):  # type: ignore[no-untyped-def]
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["ingest"] = {"mode": "in_process"}
    d["transport"]["domain_id"] = domain
    d.update(extra)
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(d))
    return load_profile(p)


@pytest.fixture
def parts(tmp_path: Path, dds_domain: int):  # type: ignore[no-untyped-def]
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    profile = _profile(tmp_path, dds_domain)
    transport = DdsTransport(dds_domain)
    backend = OnnxRuntimeBackend(profile.model_path)
    try:
        yield profile, transport, backend
    finally:
        transport.close()
        backend.close()


def test_transitions_in_order_and_refusals(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from edgepilot.daemon.service import LifecycleError, Service

    profile, transport, backend = parts
    notifier = CountingNotifier()
    status = tmp_path / "status.json"
    svc = Service(profile, transport, backend, log=sys.stderr, notifier=notifier, status_file=status,
                  status_period_s=0.1, configure=False)
    assert svc.state == "unconfigured"
    for refused in (svc.activate, svc.deactivate, svc.cleanup):
        with pytest.raises(LifecycleError, match="unconfigured"):
            refused()
    svc.configure()
    assert svc.state == "inactive"
    with pytest.raises(LifecycleError):
        svc.configure()
    with pytest.raises(LifecycleError, match="inactive"):
        svc.deactivate()

    seen: list[str] = []
    watcher = threading.Thread(target=lambda: [seen.append(svc.state) or time.sleep(0.01) for _ in range(100)])
    watcher.start()
    summary = svc.run(duration_s=0.6, install_signal_handlers=False)
    watcher.join()
    assert "active" in seen and svc.state == "inactive"
    assert summary["ticks"] > 0 and summary["policy_commands"] == 0  # no robot on this domain: streams missing
    assert notifier.sent[-1] == "STOPPING=1"
    heartbeat = svc.heartbeat.path  # type: ignore[union-attr]
    assert heartbeat.exists() and status.exists()
    with pytest.raises(LifecycleError, match="ran once"):
        svc.activate()  # one run per configuration
    svc.cleanup()
    assert svc.state == "unconfigured" and not heartbeat.exists() and not status.exists()
    svc.shutdown()
    assert svc.state == "finalized"
    svc.close()  # idempotent
    # Only what it created: the notifier, the transport and the engine were the caller's.
    assert not notifier.closed and not transport.closed
    backend.inputs[profile.observation.input_name][...] = np.zeros(profile.observation_size(), np.float32)
    backend.run()


def test_shutdown_from_another_thread_stops_an_active_service(parts) -> None:  # type: ignore[no-untyped-def]
    from edgepilot.daemon.service import Service

    profile, transport, backend = parts
    svc = Service(profile, transport, backend, log=sys.stderr, notifier=CountingNotifier())
    result: list[dict] = []
    loop = threading.Thread(target=lambda: result.append(svc.run(install_signal_handlers=False)))
    loop.start()
    deadline = time.monotonic() + 20
    while svc.state != "active" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert svc.state == "active"
    svc.shutdown()  # deactivates (the loop publishes the safe command) and cleans up
    loop.join(timeout=10)
    assert svc.state == "finalized" and result and result[0]["loop_zero_commands"] >= 3
    assert not transport.closed


def test_a_calibration_profile_without_hooks_is_refused(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.daemon.service import Service
    from edgepilot.daemon.tick_hooks import TickHooksRequired

    profile = _profile(tmp_path, dds_domain, residuals={"directory": str(tmp_path / "logs"),
                                                        "model": {"kind": "ideal_diff_drive"}})

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the refused service used its {name}")

    with pytest.raises(TickHooksRequired, match="compensation or residuals"):
        Service(profile, Untouchable(), Untouchable(), log=sys.stderr)  # type: ignore[arg-type]
