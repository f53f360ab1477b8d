"""The daemon as a managed (lifecycle) ROS 2 node, as ROS users expect from a node that moves hardware.

``edgepilot run --config robot.yaml`` starts this node when rclpy is
importable (``transport.kind: auto`` or ``ros2``). It comes up
*unconfigured* and publishes nothing until told:

* ``configure``: reads the profile (the ``profile`` parameter, default the
  ``--config`` file) with the tunable parameters applied
  (:mod:`edgepilot.daemon.config.tunable_parameters`), validates it, loads the
  engine and checks the model against the profile. A bad value fails the
  transition with the reason in the log; the node stays unconfigured.
* ``activate``: subscribes, starts the stall supervisor and the control loop
  (on its own thread); commands and diagnostics go out.
* ``deactivate``: stops the loop, which publishes zero velocity, *then*
  deactivates the publishers and destroys the subscriptions.
* ``cleanup``: releases the engine. ``shutdown`` (or SIGINT/SIGTERM):
  deactivates first if active, so the last command is always zero.

``--autostart`` runs configure and activate at once. Parameters changed with
``ros2 param set`` apply at the next configure; ``use_sim_time`` is honoured
(:class:`~.rclpy_transport.RosClock`). The stall supervisor publishes over
Cyclone DDS on ``ROS_DOMAIN_ID`` (or the profile's domain): it reaches the
robot directly where the ROS 2 middleware is ``rmw_cyclonedds_cpp``.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from edgepilot.daemon.config.profile import Profile, ProfileError, load_profile
from edgepilot.daemon.config.tunable_parameters import apply_parameters, tunable_parameters
from edgepilot.daemon.transport.ros2.rclpy_transport import RclpyTransport


class EdgepilotLifecycleNode(LifecycleNode):
    def __init__(self, config_path: Path, profile: Profile, tick_hooks: Any = None, **kwargs: Any) -> None:
        super().__init__(profile.transport.node_name, namespace=profile.transport.namespace or None, **kwargs)
        self._config_path = config_path
        self._tick_hooks = tick_hooks  # daemon/tick_hooks.py: the caller's (the CLI passes the calibration hooks)
        self.declare_parameter("profile", str(config_path))
        for name, value in tunable_parameters(profile).items():
            self.declare_parameter(name, value)
        self.profile: Profile | None = None
        self.backend: Any = None
        self.daemon: Any = None
        self.transport: RclpyTransport | None = None
        self._loop_thread: threading.Thread | None = None
        self.last_summary: dict[str, Any] | None = None

    # --- transitions -----------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from edgepilot.engines.backend import BackendError

        from edgepilot.daemon.inference.backend_loading import open_backend
        from edgepilot.daemon.tick import check_backend_matches

        try:
            base = load_profile(self.get_parameter("profile").value)
            values = {name: self.get_parameter(name).value for name in tunable_parameters(base) if self.has_parameter(name)}
            profile = apply_parameters(base, values)
        except (ProfileError, KeyError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        try:
            backend = open_backend(profile)
        except BackendError as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        try:
            from edgepilot.daemon.action.twist import TwistActionMapper

            out = backend.outputs.get(profile.engine.output_name)
            mapper = TwistActionMapper(profile.action) if out is None else TwistActionMapper(profile.action, out.dtype)
            check_backend_matches(profile, backend, mapper.action_size_needed)
        except BackendError as err:
            backend.close()
            self.get_logger().error(f"configure failed: model does not fit the profile: {err}")
            return TransitionCallbackReturn.FAILURE
        self.profile, self.backend = profile, backend
        self.get_logger().info(f"configured: profile {profile.name!r}, model {profile.model_path.name}, "
                               f"{profile.loop.rate_hz:g} Hz")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        from edgepilot.daemon.service import Service

        assert self.profile is not None and self.backend is not None
        profile = self.profile
        domain = os.environ.get("ROS_DOMAIN_ID")
        if domain is not None and domain.isdigit():  # the supervisor's DDS writer must be on the robot's domain
            profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": int(domain)})})
        self.transport = RclpyTransport.for_node(self)
        try:
            # The engine is the node's (configure to cleanup), the transport this activation's: the service
            # closes neither.
            self.daemon = Service(profile, self.transport, self.backend, tick_hooks=self._tick_hooks)
            self.daemon.start_supervisor()
        except Exception as err:  # noqa: BLE001 - report and stay inactive
            self.get_logger().error(f"activate failed: {err}")
            if self.daemon is not None:
                self.daemon.close()
            self.transport.close()
            self.transport, self.daemon = None, None
            return TransitionCallbackReturn.FAILURE
        ret = super().on_activate(state)  # enables the lifecycle publishers before the first command
        self._loop_thread = threading.Thread(target=self._run_loop, name="edgepilot-loop", daemon=True)
        self._loop_thread.start()
        self.get_logger().info("active: publishing commands")
        return ret

    def _run_loop(self) -> None:
        try:
            self.last_summary = self.daemon.run(install_signal_handlers=False)
        except Exception as err:  # noqa: BLE001 - the run's own shutdown already published zero
            self.get_logger().error(f"control loop ended: {type(err).__name__}: {err}")

    def _stop_loop(self) -> None:
        if self.daemon is not None:
            self.daemon.request_stop()
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10.0)
            self.daemon.close()
            if self.transport is not None:
                self.transport.close()  # this activation's subscriptions and publishers; the engine stays
            self.daemon, self.transport, self._loop_thread = None, None, None

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        # The loop's shutdown publishes zero while the publishers are still active; only then deactivate them.
        if self.daemon is not None:
            self.daemon.request_stop()
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10.0)
        ret = super().on_deactivate(state)
        self._stop_loop()
        self.get_logger().info("inactive: published zero velocity and stopped")
        return ret

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_loop()
        if self.backend is not None:
            self.backend.close()
        self.profile, self.backend = None, None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.daemon is not None:
            self.daemon.request_stop()
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10.0)
        return self.on_cleanup(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_loop()
        return TransitionCallbackReturn.SUCCESS


def run_lifecycle_node(config_path: Path, profile: Profile, *, autostart: bool = False, args: list[str] | None = None,
                       tick_hooks: Any = None) -> int:
    """Run the node until SIGINT/SIGTERM; zero velocity is published before rclpy shuts down."""
    from rclpy.signals import SignalHandlerOptions

    # Our own handlers: rclpy's would shut the context down before the zero command could be published.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = EdgepilotLifecycleNode(Path(config_path), profile, tick_hooks)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, name="edgepilot-executor", daemon=True)
    spin.start()
    try:
        if autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                return 2
            node.trigger_activate()
        stop.wait()
    finally:
        node.trigger_shutdown()  # deactivates (zero velocity) and cleans up from whatever state it is in
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
