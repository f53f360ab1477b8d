"""What the control tick calls around the policy for sim-to-real calibration, as a protocol the daemon owns.

The daemon never imports the calibration package (layering: common <- transport <- daemon <- calibration <-
CLI); whoever builds the daemon passes a :class:`TickHooksFactory` in (the CLI passes
``edgepilot.calibration.loop_hooks.CalibrationHooks``). A profile that asks for compensation or residual logging
and gets no factory is refused at construction: compensation must never be skipped silently.

Per tick, on the loop thread, in this order: :meth:`TickHooks.begin_tick` after the stream snapshots are
refreshed (sensor biases off, before odometry and the observation read them), :meth:`TickHooks.compensate` on
the action stage's command, then :meth:`TickHooks.record_policy` or :meth:`TickHooks.record_zero` once the
command is published. None of them may allocate, lock or touch the disk.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, TextIO

import numpy as np


class TickHooks(Protocol):
    def start(self) -> None:
        """Start the hooks' own threads (compensation reload, residual logger), before the first tick."""

    def begin_tick(self) -> None: ...

    def compensate(self, command: np.ndarray) -> np.ndarray: ...

    def record_policy(self, now_ns: int, tick: int, sent: np.ndarray) -> None: ...

    def record_zero(self, now_ns: int, tick: int) -> None: ...

    def request_reload(self, *_: Any) -> None:
        """Signal-handler safe (SIGHUP): only asks the hooks' thread to reload."""

    def stop(self) -> None:
        """Stop the threads and flush what they hold (after the last tick)."""

    def diagnostics(self) -> dict[str, Any]: ...


class TickHooksFactory(Protocol):
    """Builds the hooks once the daemon's parts exist; the arguments are what the hooks read each tick."""

    def __call__(self, profile: Any, snapshots: Mapping[str, Any], odometry: Any, policy_command: np.ndarray,
                 observation: np.ndarray, log: TextIO | None = None) -> TickHooks: ...


class TickHooksRequired(ValueError):
    """A profile with compensation or residuals, built without hooks to apply them."""


def profile_needs_hooks(profile: Any) -> bool:
    return profile.compensation is not None or profile.residuals is not None


def require_hooks(profile: Any, hooks: object | None) -> None:
    if hooks is None and profile_needs_hooks(profile):
        raise TickHooksRequired(
            f"profile {profile.name!r} sets compensation or residuals, but the daemon was built without tick hooks to "
            "apply them (pass tick_hooks=edgepilot.calibration.loop_hooks.CalibrationHooks); refusing to run uncompensated")
