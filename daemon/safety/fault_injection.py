"""Test hook: faults injected into a running daemon from outside, for the rig and the integration tests.

Off unless the daemon is started with ``--enable-fault-injection``; never
enable it on a robot in service. Sensor faults need no hook (the rig simply
publishes bad data or stops publishing); this covers the faults that live
inside the daemon: an engine that throws, an engine that returns NaN, and a
loop thread that stops ticking while the process stays alive.

Commands arrive as std_msgs/String on ``/edgepilot/fault_injection``:
``inference_error on|off``, ``nan_action on|off``, ``stall SECONDS``.
"""

from __future__ import annotations

import time
from typing import Any

from edgepilot.daemon.transport.base import Transport

FAULT_INJECTION_TOPIC = "/edgepilot/fault_injection"


class InjectedFault(RuntimeError):
    pass


class FaultInjector:
    def __init__(self, transport: Transport) -> None:
        self.inference_error = False
        self.nan_action = False
        self.stall_s = 0.0
        self.commands_received = 0
        transport.subscribe(FAULT_INJECTION_TOPIC, "std_msgs/msg/String", self.on_message)

    def on_message(self, msg: Any) -> None:
        self.apply(str(msg.data))

    def apply(self, text: str) -> None:
        words = text.split()
        if len(words) != 2:
            return
        what, arg = words
        self.commands_received += 1
        if what == "inference_error":
            self.inference_error = arg == "on"
        elif what == "nan_action":
            self.nan_action = arg == "on"
        elif what == "stall":
            self.stall_s = float(arg)

    def before_inference(self) -> None:
        if self.stall_s > 0:
            s, self.stall_s = self.stall_s, 0.0
            time.sleep(s)  # the loop thread stops ticking; the process stays alive
        if self.inference_error:
            raise InjectedFault("injected inference error (fault injection)")

    def after_inference(self, action: Any) -> None:
        if self.nan_action:
            action[0] = float("nan")
