"""A compensation file rewritten by a real process that is SIGKILLed at many points: the file is always a complete version."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepilot.calibration.compensation import parse_compensation
from tests.kill_points import delays, kill_after_ready, start_child

CHILD = """
import sys
from edgepilot.calibration.compensation import parse_compensation, write_compensation
docs = [parse_compensation({"profile": "diffbot", "action": [{"field": "angular.z", "bias": b}],
                            "noise_std": {f"f{i}": 0.01 for i in range(2000)}}) for b in (0.1, 0.2)]
write_compensation(sys.argv[1], docs[0])
print("ready", flush=True)
n = 1
while True:
    write_compensation(sys.argv[1], docs[n % 2], header="# generation %d" % n)
    n += 1
"""


@pytest.mark.timeout(300)
def test_sigkill_while_rewriting_leaves_a_complete_version(tmp_path: Path) -> None:
    points = delays(30, 0.4, seed=5)
    for k, delay in enumerate(points):
        path = tmp_path / f"comp{k}.yaml"
        kill_after_ready(start_child(CHILD, str(path)), delay)
        comp = parse_compensation(yaml.safe_load(path.read_text()), str(path))
        assert [a.bias for a in comp.action] in ([0.1], [0.2]), f"kill point {k}"
        assert len(comp.noise_std) == 2000, f"kill point {k}: a cut file"
    print(f"compensation: kill points {len(points)}, unreadable 0")
