"""Observation terms: one registry for every policy (twist and joint policies alike).

**A new term is one file and one test.** Write ``daemon/observation/terms/<kind>.py`` holding

1. its config model: a subclass of :class:`~.base.TermConfig` (``scale``, ``offset``, ``clip`` come with it;
   :class:`~.stacked.StackedTermConfig` adds ``history``) with a ``kind: Literal["<kind>"]`` field and the
   hooks ``size(ctx)``, ``streams(ctx)`` (and ``latency_streams``, ``fields_read`` where they differ) and
   ``check(ctx, where)`` (its references against the profile: stream exists and has the right type, joints
   exist, the action is one it can use), raising ValueError with a message that names the field and the fix;
2. its computing object: a :class:`~.base.GatherTerm`, :class:`~.base.FillTerm` or :class:`~.base.FinalTerm`
   (see :mod:`.base`) that allocates nothing per tick;
3. ``register_term(TheConfig, factory)`` at the bottom of the file (:mod:`.registry`);

then add its import line at the end of the list below (registration is explicit: the import runs it, and the
import order is the order of the tags in pydantic's "expected tags" message, so new terms go last) and its
test ``tests/daemon/observation/terms/test_<kind>.py``. The profile's ``observation.terms`` union, the
observation size, the streams the observation reads and the builder all come from the registry; nothing else
changes. Term modules import stream sample layouts (``daemon.streams.ingest``) inside their factories, never
at module level: the profile imports this package to build its union.
"""

from edgepilot.daemon.observation.terms.registry import (TermSpec, make_term, on_change, register_term,
                                                         registered_terms, term_union, unregister_term)
from edgepilot.daemon.observation.terms.base import (ComputedTerm, FillTerm, FinalTerm, GatherTerm, TermConfig,
                                                     TermContext, TermInputs)

# Registration order (see above): append new terms at the end.
from edgepilot.daemon.observation.terms.joint_state import JointTerm
from edgepilot.daemon.observation.terms.imu import ImuTerm
from edgepilot.daemon.observation.terms.goal_relative import GoalTerm
from edgepilot.daemon.observation.terms.twist_command import TwistCommandTerm
from edgepilot.daemon.observation.terms.base_angular_velocity import BaseAngularVelocityTerm
from edgepilot.daemon.observation.terms.projected_gravity import ProjectedGravityTerm
from edgepilot.daemon.observation.terms.velocity_command import VelocityCommandTerm
from edgepilot.daemon.observation.terms.joint_position_relative import JointPositionRelativeTerm
from edgepilot.daemon.observation.terms.joint_velocity_policy import JointVelocityPolicyTerm
from edgepilot.daemon.observation.terms.last_action import LastActionTerm
from edgepilot.daemon.observation.terms.gait_phase import GaitPhaseTerm

#: The joint-policy (Isaac Lab / legged_gym) terms, for code that still tells them apart by class.
LEGGED_TERMS = (BaseAngularVelocityTerm, ProjectedGravityTerm, VelocityCommandTerm, JointPositionRelativeTerm,
                JointVelocityPolicyTerm, LastActionTerm, GaitPhaseTerm)

__all__ = [
    "BaseAngularVelocityTerm", "ComputedTerm", "FillTerm", "FinalTerm", "GaitPhaseTerm", "GatherTerm", "GoalTerm",
    "ImuTerm", "JointPositionRelativeTerm", "JointTerm", "JointVelocityPolicyTerm", "LEGGED_TERMS", "LastActionTerm",
    "ProjectedGravityTerm", "TermConfig", "TermContext", "TermInputs", "TermSpec", "TwistCommandTerm",
    "VelocityCommandTerm", "make_term", "on_change", "register_term", "registered_terms", "term_union",
    "unregister_term",
]
