"""Where the model's input tensor is assembled, once per tick, into one preallocated array."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgepilot.daemon.config.observation import frame_size
from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.observation.history import FrameHistory
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.observation.policy_state import PolicyState
from edgepilot.daemon.observation.terms import ComputedTerm, TermConfig, TermInputs, make_term
from edgepilot.daemon.streams.ingest import StreamSnapshot


class ObservationBuilder:
    """Fills the observation vector (float32, policy order) from this tick's stream snapshots.

    Each term of ``profile.observation.terms`` (daemon/observation/terms/) gets its slice of the vector, of the
    size it computes, in profile order, and a computing object made once here. ``build`` allocates nothing
    (bench/fusion_cost.py measures it): gather terms' raw values are gathered (``take`` with ``out=``) and fill
    terms' written into one raw vector, the affine map and clip ``clip((raw + offset) * scale)`` then run once
    over the whole vector (four ufuncs with ``out=`` per tick, not four per term; offsets, scales and limits are
    arrays, so no Python float is converted per tick), and final terms (the joint-policy terms: own affine,
    history) then write their slices. Offsets, scales and limits are per element (a term's number repeated,
    or its list: daemon/config/base.py). Terms are computed in float64 and cast once into ``obs``: offsets
    and scales in float32 lose digits the policy may need. With ``observation.history`` the vector built is
    one frame, and the cast is the copy of the last frames into ``obs`` (daemon/observation/history.py).

    ``streams_read``: the streams whose freshest receipt defines the command latency (each term's
    ``latency_streams``, first appearance order). ``policy_state``: what the action stage tells the terms.
    ``terms``: (config, computing object, slice of the frame) per term, in profile order; the frame is the
    observation unless ``observation.history`` stacks frames (:mod:`..history`), which it does last.
    """

    def __init__(self, profile: Profile, snapshots: Mapping[str, StreamSnapshot], odometry: WheelOdometry | None) -> None:
        ctx = profile.term_context()
        size = frame_size(profile)  # one tick of every term; the model input is that x observation.history.length
        self.obs = np.zeros(profile.observation_size(), dtype=np.float32)
        self._work = np.zeros(size, dtype=np.float64)
        self._raw = np.zeros(size)
        self._tmp = np.zeros(size)  # every step writes into an array other than its input (no in-place temporaries)
        self._offset = np.zeros(size)
        self._scale = np.ones(size)
        self._lo = np.full(size, -np.inf)
        self._hi = np.full(size, np.inf)
        self.policy_state = PolicyState(len(ctx.action_joints), ctx.policy_period_s)
        self._gathers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._fills: list = []
        self._finals: list = []
        self._resets: list = []  # terms that keep state across ticks (histories)
        self.terms: list[tuple[TermConfig, ComputedTerm, slice]] = []
        streams_read: list[str] = []
        pos = 0
        for config in profile.observation.terms:
            n = config.size(ctx)
            where = slice(pos, pos + n)
            raw = self._raw[where]
            term = make_term(config, TermInputs(ctx, snapshots, odometry, self.policy_state, raw, self._work[where]))
            if term.stage == "final":
                self._finals.append(term.compute)  # type: ignore[attr-defined]
            else:
                self._offset[where], self._scale[where], self._lo[where], self._hi[where] = config.elementwise(n)
                if term.stage == "gather":
                    self._gathers.append((term.source, term.index, raw))  # type: ignore[attr-defined]
                else:
                    self._fills.append(term.fill)  # type: ignore[attr-defined]
            self.terms.append((config, term, where))
            if hasattr(term, "reset"):
                self._resets.append(term.reset)  # type: ignore[attr-defined]
            streams_read += [s for s in config.latency_streams(ctx) if s not in streams_read]
            pos += n
        self.streams_read: tuple[str, ...] = tuple(streams_read)
        self._batched = bool(self._gathers or self._fills)
        hist = profile.observation.history
        self._history = None if hist is None or hist.length == 1 else FrameHistory(
            self._work, self.obs, hist.length, hist.layout, hist.order, [w for _, _, w in self.terms])

    def reset(self) -> None:
        """Restart every term's history (the next value fills every slot) and the policy state (a new episode)."""
        for reset in self._resets:
            reset()
        if self._history is not None:
            self._history.reset()
        self.policy_state.reset()

    def build(self) -> np.ndarray:
        """Assemble and return ``self.obs`` (the same array every tick)."""
        for source, index, raw in self._gathers:
            # mode="clip": the indices were checked at construction; the default mode="raise" with out= copies.
            source.take(index, out=raw, mode="clip")
        for fill in self._fills:
            fill()
        if self._batched:
            # Final terms' slots hold 0 in raw (offset 0, scale 1, no clip): harmless, overwritten just below.
            np.add(self._raw, self._offset, out=self._tmp)  # exact when the offset is 0 and the scale 1
            np.multiply(self._tmp, self._scale, out=self._raw)
            np.minimum(self._raw, self._hi, out=self._tmp)  # clip; NaN stays NaN for the watchdog, as with np.clip
            np.maximum(self._tmp, self._lo, out=self._work)
        for compute in self._finals:
            compute()
        if self._history is None:
            np.copyto(self.obs, self._work)
        else:
            self._history.push()
        return self.obs
