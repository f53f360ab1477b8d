"""Only what pyproject.toml cannot say: the ROS 2 package's data files (ament index marker, manifest, launch, config).

All metadata, the packages and the dependencies are in pyproject.toml. These
files land under the install prefix's share/: a colcon workspace's
install/edgepilot/share/, or a virtual environment's share/ after pip (add that
prefix to AMENT_PREFIX_PATH to `ros2 launch` from it, as docker/entrypoint.sh does).
"""

from pathlib import Path

from setuptools import Distribution, setup

PACKAGE = "edgepilot"
HERE = Path(__file__).resolve().parent


class PlainRequiresPython(Distribution):
    """pyproject's requires-python as a string, not a packaging SpecifierSet.

    colcon reads a package's setup data by printing the Distribution's attributes and
    ast.literal_eval-ing them back (colcon-python-setup-py); a SpecifierSet's repr does not
    evaluate, so `colcon build` would fail before building (colcon/colcon-python-setup-py#56).
    Metadata is written with str() of the value either way.
    """

    def parse_config_files(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().parse_config_files(*args, **kwargs)
        for holder in (self, self.metadata):
            value = getattr(holder, "python_requires", None)
            if value is not None and not isinstance(value, str):
                holder.python_requires = str(value)


def files(folder: str, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(HERE)) for p in (HERE / folder).glob(pattern) if p.is_file())


setup(
    distclass=PlainRequiresPython,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", files("launch", "*.launch.py")),
        (f"share/{PACKAGE}/config", files("config", "*.yaml")),
        # The embedded example profile and its policy, for a first `ros2 launch ... profile:=` in a workspace.
        (f"share/{PACKAGE}/profiles", files("daemon/profiles", "*.yaml") + files("daemon/profiles", "*.onnx")),
    ],
)
