"""What the service tells about a run: the status line, the status file's document and the run summary.

Read from the status thread or after the run, never from the loop: these allocate freely.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepilot.daemon.safety import heartbeat as hb

if TYPE_CHECKING:
    from edgepilot.daemon.service import Service


def percentiles_ms(values_ns: np.ndarray) -> dict[str, float]:
    if values_ns.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    p50, p99 = np.percentile(values_ns, [50, 99])
    return {"p50": round(float(p50) / 1e6, 4), "p99": round(float(p99) / 1e6, 4), "max": round(float(values_ns.max()) / 1e6, 4)}


def status_snapshot(svc: Service, line: str) -> dict[str, Any]:
    """What the status file holds (see :mod:`.telemetry.status_file`)."""
    last_tick = int(svc.heartbeat.array[hb.LOOP_TICK_NS]) if svc.heartbeat is not None else 0
    tick_age_s = (time.monotonic_ns() - last_tick) / 1e9 if last_tick else float("inf")
    return {
        "profile": svc.profile.name,
        "ready": svc.ready,
        "faults": svc.watchdog.settled_names(),
        "ticks": svc.loop.ticks,
        "rate_hz": round(svc.loop.measured_rate_hz(), 3),
        "last_tick_age_s": round(tick_age_s, 6) if tick_age_s != float("inf") else None,
        "stall_timeout_s": svc.profile.watchdog.stall_timeout_s,
        "status_period_s": svc.status_period_s,
        "zero_commands": svc.zero_commands,
        "policy_commands": svc.policy_commands,
        "line": line,
    }


def status_line(svc: Service) -> str:
    loop = svc.loop
    n = min(loop.ticks, loop.history)
    recent = max(0, n - int(svc.profile.loop.rate_hz))
    lat = svc.latency_ns[recent:n]
    lat_ms = float(np.median(lat)) / 1e6 if lat.size else float("nan")
    faults = svc.watchdog.active_names()
    return (f"t={(svc.clock_ns() - svc._started_ns) / 1e9:6.1f}s ticks={loop.ticks} "
            f"rate={loop.measured_rate_hz():.2f}Hz latency_p50={lat_ms:.2f}ms misses={loop.deadline_misses} "
            f"zero_cmds={svc.zero_commands} faults={','.join(faults) if faults else 'none'}")


def summary(svc: Service) -> dict[str, Any]:
    loop = svc.loop
    n = min(loop.ticks, loop.history)
    lat = svc.latency_ns[:n][svc.latency_ns[:n] > 0]
    inference_ns = svc.inference_ns
    sup_zeros = int(svc.heartbeat.array[hb.SUPERVISOR_ZEROS]) if svc.heartbeat is not None else 0
    sup_stalls = int(svc.heartbeat.array[hb.SUPERVISOR_STALLS]) if svc.heartbeat is not None else 0
    return {
        "profile": svc.profile.name,
        "ticks": loop.ticks,
        "duration_s": round((svc._stopped_ns - svc._started_ns) / 1e9, 3) if svc._stopped_ns else None,
        "loop_rate_target_hz": svc.profile.loop.rate_hz,
        "loop_rate_hz": round(loop.measured_rate_hz(), 3),
        "deadline_misses": loop.deadline_misses,
        "skipped_deadlines": int(loop.skipped_deadlines),
        "tick_lateness_ms": percentiles_ms(loop.lateness_ns[:n]),
        "tick_duration_ms": percentiles_ms(loop.duration_ns[:n]),
        "latency_ms": percentiles_ms(lat),
        "inference_ms": percentiles_ms(inference_ns[:n][inference_ns[:n] > 0]),
        "faults": svc.watchdog.fault_names_seen(),
        "fault_events": [e.as_dict() for e in svc.watchdog.events],
        "zero_commands": svc.zero_commands + sup_zeros,
        "loop_zero_commands": svc.zero_commands,
        "supervisor_zero_commands": sup_zeros,
        "supervisor_stall_episodes": sup_stalls,
        "policy_commands": svc.policy_commands,
        "inference_errors": svc.inference_errors,
        "streams": {name: {"received": ing.received, "dropped": ing.dropped, "last_error": ing.last_error,
                           **(ing.integrity.counters() if ing.integrity is not None else {})}
                    for name, ing in svc.ingests.items()},
        "calibration": None if svc.calibration is None else svc.calibration.diagnostics(),
        "realtime": svc.realtime_report if svc.sender is None
        else {**svc.realtime_report, "command_sender": svc.sender.scheduling},
        "loop_sync": None if svc.phase_lock is None else
        {"stream": svc.profile.loop.sync.stream, **svc.phase_lock.summary(),  # type: ignore[union-attr]
         "waited_ticks": svc.loop.gated_ticks},
        "odometry": None if svc.odometry is None else
        {"x_m": round(svc.odometry.x, 4), "y_m": round(svc.odometry.y, 4), "yaw_rad": round(svc.odometry.yaw, 4)},
        "detectors": svc.detectors.report() if hasattr(svc, "detectors") else {},  # daemon/detection/
    }
