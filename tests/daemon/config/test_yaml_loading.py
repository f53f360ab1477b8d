"""Profile YAML that safe_load accepts but must not (issue 21): duplicate keys, alias bombs, deep nesting."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "robot.yaml"
    p.write_text(text)
    return p


def test_a_duplicate_key_is_named_with_its_line(tmp_path: Path) -> None:
    text = default_profile_path().read_text().replace("  rate_hz: 50\n", "  rate_hz: 50\n  rate_hz: 500\n", 1)
    with pytest.raises(ProfileError, match=r"duplicate key 'rate_hz' on line \d+"):
        load_profile(_write(tmp_path, text))


def test_a_billion_laughs_file_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    t0 = time.monotonic()
    with pytest.raises(ProfileError, match="expands to more than"):
        load_profile(_write(tmp_path, "\n".join(lines) + "\n"))
    # Refused by measuring the node graph, not expanding it (safe_load + validation took 1.6 GB and hung).
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("depth", [40, 5000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    with pytest.raises(ProfileError, match="nested"):
        load_profile(_write(tmp_path, "a: " + "[" * depth + "]" * depth + "\n"))


def test_python_tags_stay_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(_write(tmp_path, "name: !!python/object/apply:os.system ['true']\n"))
