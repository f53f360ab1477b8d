"""The measured gap as a domain-randomisation block a training setup can take (Isaac Lab naming).

Each measured quantity becomes a range around the measured value:
``value +/- max(margin * |value|, 3 * stderr)`` (the fit's standard error
where it has one), so the next policy is trained across the gap that was
measured rather than around the nominal robot. Sensor terms use Isaac Lab's
``NoiseModelWithAdditiveBiasCfg`` layout (a per-step ``GaussianNoiseCfg``
with the measured noise sigma plus a per-episode ``UniformNoiseCfg`` bias);
the actuation latency and action biases become ranges for the matching
events. The block is plain YAML: map it onto your environment config.
"""

from __future__ import annotations

from typing import Any

import yaml

from .compensation import CompensationFile


def _range(value: float, stderr: float | None, margin: float) -> tuple[float, float]:
    half = max(margin * abs(value), 3.0 * (stderr or 0.0))
    return round(value - half, 6), round(value + half, 6)


def randomization_block(comp: CompensationFile, margin: float = 0.5) -> dict[str, Any]:
    if not 0.0 <= margin <= 10.0:
        raise ValueError(f"margin={margin} must be between 0 and 10 (a fraction of each measured value)")
    obs: dict[str, Any] = {}
    biases = {s.field: s for s in comp.observation}
    for name in sorted(set(biases) | set(comp.noise_std)):
        entry: dict[str, Any] = {"operation": "add"}
        std = comp.noise_std.get(name)
        entry["noise_cfg"] = {"class_type": "GaussianNoiseCfg", "mean": 0.0, "std": round(std or 0.0, 6), "operation": "add"}
        b = biases.get(name)
        if b is not None:
            lo, hi = _range(b.bias, b.stderr, margin)
            entry["bias_noise_cfg"] = {"class_type": "UniformNoiseCfg", "n_min": lo, "n_max": hi, "operation": "add"}
            entry["class_type"] = "NoiseModelWithAdditiveBiasCfg"
        else:
            entry["class_type"] = "NoiseModelCfg"
        obs[name] = entry
    actions = {}
    for a in comp.action:
        lo, hi = _range(a.bias, a.stderr, margin)
        actions[a.field] = {"bias": {"class_type": "UniformNoiseCfg", "n_min": lo, "n_max": hi, "operation": "add"}}
    block: dict[str, Any] = {
        "source": {"profile": comp.profile, "logs": list(comp.fit.get("logs", [])), "margin": margin},
        "observations": obs,
        "actions": actions,
    }
    if comp.latency_s is not None:
        lat = comp.latency_s
        block["actuator_delay_s"] = {"min": round(max(0.0, lat * (1 - margin)), 5), "max": round(lat * (1 + margin), 5)}
    if comp.odometry is not None:
        lo, hi = _range(comp.odometry.wheel_radius_scale - 1.0, comp.odometry.stderr, margin)
        block["events"] = {"wheel_radius_scale": {"mode": "reset", "range": [round(1 + lo, 6), round(1 + hi, 6)]}}
    return {"edgepilot_measured_gap": block}


def randomization_yaml(comp: CompensationFile, margin: float = 0.5) -> str:
    header = (f"# Measured sim-to-real gap of robot profile {comp.profile!r} (edgepilot calibrate export-randomization).\n"
              "# Ranges: measured value +/- max(margin * |value|, 3 standard errors). Isaac Lab noise-config names.\n")
    return header + yaml.safe_dump(randomization_block(comp, margin), sort_keys=False)
