"""Profiles written by mistake or by an attacker: every one ends in a ProfileError naming the field or line, fast.

The cases are the ones measured in issue 21: ``limit: .inf`` with a large scale published ~1e6 m/s, a NaN scale
ran forever, a duplicate key was silently overwritten, and a "billion laughs" file took 1.6 GB and hung.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    """A copy of the shipped profile's folder (the model sits beside it), to write variants into."""
    src = default_profile_path().parent
    for f in src.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(default_profile_path().read_text())
    return data


def write(profile_dir: Path, text: str) -> Path:
    p = profile_dir / "variant.yaml"
    p.write_text(text)
    return p


def with_channel(**fields: Any) -> str:
    data = shipped()
    data["action"]["channels"][0].update(fields)
    return yaml.safe_dump(data)


@pytest.mark.parametrize("field, value, expected", [
    ("limit", float("inf"), r"action\.channels\.0\.limit: .*finite"),
    ("limit", 1e6, r"action\.channels\.0\.limit: .*100"),
    ("scale", float("nan"), r"action\.channels\.0\.scale: .*finite"),
    ("scale", -1e9, r"action\.channels\.0\.scale: .*-100"),
])
def test_unphysical_action_numbers_are_refused(profile_dir: Path, field: str, value: float, expected: str) -> None:
    with pytest.raises(ProfileError, match=expected):
        load_profile(write(profile_dir, with_channel(**{field: value})))


def test_the_shipped_profile_still_loads(profile_dir: Path) -> None:
    assert load_profile(write(profile_dir, yaml.safe_dump(shipped()))).name == shipped()["name"]


def test_a_duplicate_key_is_refused_with_both_lines(profile_dir: Path) -> None:
    text = default_profile_path().read_text()
    text = text.replace("\nwatchdog:", "\nname: other\nwatchdog:", 1)
    first = 1 + next(i for i, line in enumerate(text.splitlines()) if line.startswith("name:"))
    with pytest.raises(ProfileError, match=rf"duplicate key 'name' \(first on line {first}\)"):
        load_profile(write(profile_dir, text))


def test_a_billion_laughs_file_is_refused_at_once_without_memory(profile_dir: Path) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        levels.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with pytest.raises(ProfileError, match=r"more than \d+ aliases"):
        load_profile(write(profile_dir, "\n".join(levels) + "\n"))
    assert time.monotonic() - t0 < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100_000  # KiB: < 100 MB grown


def test_deep_nesting_is_refused(profile_dir: Path) -> None:
    with pytest.raises(ProfileError, match=r"nested deeper than \d+ levels"):
        load_profile(write(profile_dir, "x: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_a_python_tag_is_still_refused(profile_dir: Path) -> None:
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(write(profile_dir, "name: !!python/object/apply:os.system ['true']\n"))


# Values a typo, a bad merge or an attacker puts where a number, string or list belongs.
HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.lists(st.floats(allow_nan=True), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                     st.integers(), max_size=2))


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, path + (k,))] + ([path] if path else [])
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, path + (i,))] + ([path] if path else [])
    return [path]


PATHS = _leaves(shipped())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=HOSTILE, delete=st.booleans())
def test_any_mutation_of_the_shipped_profile_loads_or_names_a_field(profile_dir: Path, path: tuple[Any, ...],
                                                                      value: Any, delete: bool) -> None:
    data = shipped()
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    try:
        load_profile(write(profile_dir, yaml.safe_dump(data)))
    except ProfileError as err:
        assert str(err).startswith(("invalid robot profile", "robot profile")), err
