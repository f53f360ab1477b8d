"""The profile's engine section: backend, precision, cache and calibration folders, validated at load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile, parse_profile


def _data(**engine: object) -> dict:  # type: ignore[type-arg]
    d = yaml.safe_load(default_profile_path().read_text())
    d["engine"].update(engine)
    return d


def test_default_profile_is_unchanged() -> None:
    p = load_profile(default_profile_path())
    assert (p.engine.backend, p.engine.precision, p.engine.cache_dir, p.engine.calibration_dir) == ("onnxruntime", "fp32",
                                                                                                    None, None)


@pytest.mark.parametrize("engine", [
    {"backend": "auto"},
    {"backend": "tensorrt", "precision": "fp16", "cache_dir": "/var/lib/edgepilot/engines"},
    {"backend": "auto", "precision": "int8", "calibration_dir": "calib"},
])
def test_engine_backends(engine: dict) -> None:  # type: ignore[type-arg]
    p = parse_profile(_data(**engine), base_dir=default_profile_path().parent)
    for k, v in engine.items():
        assert getattr(p.engine, k) == v


@pytest.mark.parametrize("engine, message", [
    ({"precision": "fp16"}, "engine: precision fp16 needs a built engine: set backend: auto"),
    ({"backend": "auto", "precision": "int8"}, "precision int8 needs calibration_dir"),
    ({"backend": "trt"}, "engine.backend"),
    ({"backend": "auto", "precision": "bf16"}, "engine.precision"),
])
def test_bad_engine_sections(engine: dict, message: str, tmp_path: Path) -> None:  # type: ignore[type-arg]
    with pytest.raises(ProfileError) as err:
        parse_profile(_data(**engine), base_dir=tmp_path, source="p.yaml")
    assert message in str(err.value)
