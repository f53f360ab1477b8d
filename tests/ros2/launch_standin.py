"""Stand-in for the ROS 2 ``launch``, ``launch_ros`` and ``lifecycle_msgs`` modules, which cannot be installed here.

It only records what the launch file builds: every class stores its
constructor's arguments, so a test can check which node the file starts, with
which arguments, parameters and remappings, and which lifecycle transitions it
sends and when. Nothing is launched. The constructor signatures mirror the
real ones that launch/edgepilot.launch.py calls (keyword-only where they are).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class Recorded:
    """An action, event or description as the launch file made it: ``kwargs`` (and ``args``) as given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args}, {self.kwargs})"


def _cls(name: str) -> type:
    return type(name, (Recorded,), {})


class DeclareLaunchArgument(Recorded):
    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.name = name


class LaunchDescription(Recorded):
    def __init__(self, entities: list[Any]) -> None:
        super().__init__(entities)
        self.entities = entities


class OpaqueFunction(Recorded):
    def __init__(self, *, function: Any, **kwargs: Any) -> None:
        super().__init__(function=function, **kwargs)
        self.function = function


class LifecycleNode(Recorded):
    def __init__(self, *, name: Any, namespace: Any, **kwargs: Any) -> None:  # both required, as in Humble
        super().__init__(name=name, namespace=namespace, **kwargs)


class MatchesAction(Recorded):
    """What ``launch.events.matches_action(node)`` returned: a matcher for that one action."""

    def __init__(self, action: Any) -> None:
        super().__init__(action)
        self.action = action


class ParameterValue(Recorded):
    def __init__(self, value: Any, *, value_type: Any = None) -> None:
        super().__init__(value, value_type=value_type)
        self.value, self.value_type = value, value_type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterValue) and (self.value, self.value_type) == (other.value, other.value_type)


class Transition:
    """lifecycle_msgs/msg/Transition's ids (the values of the message definition)."""

    TRANSITION_CREATE = 0
    TRANSITION_CONFIGURE = 1
    TRANSITION_CLEANUP = 2
    TRANSITION_ACTIVATE = 3
    TRANSITION_DEACTIVATE = 4


class LaunchContext:
    """The one thing launch_setup reads from launch's context: the launch arguments' values as strings."""

    def __init__(self, launch_configurations: dict[str, str]) -> None:
        self.launch_configurations = dict(launch_configurations)


def modules() -> dict[str, types.ModuleType]:
    """The stand-in modules by name, for ``sys.modules``."""
    def module(name: str, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        return m

    return {
        "launch": module("launch", LaunchDescription=LaunchDescription),
        "launch.actions": module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                                 EmitEvent=_cls("EmitEvent"), LogInfo=_cls("LogInfo"), OpaqueFunction=OpaqueFunction,
                                 RegisterEventHandler=_cls("RegisterEventHandler")),
        "launch.events": module("launch.events", matches_action=MatchesAction),
        "launch_ros": module("launch_ros"),
        "launch_ros.actions": module("launch_ros.actions", LifecycleNode=LifecycleNode),
        "launch_ros.event_handlers": module("launch_ros.event_handlers", OnStateTransition=_cls("OnStateTransition")),
        "launch_ros.events": module("launch_ros.events"),
        "launch_ros.events.lifecycle": module("launch_ros.events.lifecycle", ChangeState=_cls("ChangeState")),
        "launch_ros.parameter_descriptions": module("launch_ros.parameter_descriptions", ParameterValue=ParameterValue),
        "lifecycle_msgs": module("lifecycle_msgs"),
        "lifecycle_msgs.msg": module("lifecycle_msgs.msg", Transition=Transition),
    }


def install(monkeypatch: Any) -> None:
    for name, mod in modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
