"""The observation builder gives, bit for bit, the vectors main's builder gave (before the term registry).

Every shipped profile (daemon/profiles/diffbot.yaml, examples/quadruped/quadruped.yaml; the HIL scenarios use
these with stream overrides) and two profiles that use every term kind with offsets, scales, clips and
histories, on seeded inputs that include signed zeros and a stale command (golden_harness.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.daemon.observation.golden_harness import cases, run_case

GOLDEN = json.loads((Path(__file__).parent / "golden_observations.json").read_text())


@pytest.mark.parametrize("name", sorted(cases()))
def test_observation_bits_unchanged(name: str) -> None:
    data, base = cases()[name]
    assert run_case(data, base) == GOLDEN[name]
