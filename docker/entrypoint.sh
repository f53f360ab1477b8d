#!/bin/bash
# Container entrypoint for edgepilot: source the image's ROS 2 environment, then
# become the command (exec), so that the daemon receives `docker stop`'s SIGTERM
# itself and publishes zero velocity before it exits.
#
# ROS 2's setup gives the daemon's environment ROS_DISTRO, RMW_IMPLEMENTATION
# and ROS_DOMAIN_ID as the robot's other nodes see them (`edgepilot doctor`
# compares them with the profile). The daemon's own Cyclone DDS is found through
# CYCLONEDDS_HOME (Dockerfile.l4t), so it works without a ROS 2 install too.
set -e

# EDGEPILOT_ROS_SETUP: another ROS 2 setup script (a workspace overlay, a non-standard prefix).
ros_setup="${EDGEPILOT_ROS_SETUP:-/opt/ros/${ROS_DISTRO:-humble}/setup.bash}"
if [ -f "${ros_setup}" ]; then
    # ROS 2's setup scripts read unset variables: never source them under `set -u`.
    # shellcheck source=/dev/null
    source "${ros_setup}"
else
    echo "edgepilot entrypoint: ${ros_setup} not found; no ROS 2 environment, DDS only" >&2
fi

# edgepilot's virtual environment is a ROS 2 package prefix too (Dockerfile.l4t): index it after ROS 2's
# own setup, so that `ros2 launch edgepilot ...` and `ros2 run edgepilot edgepilot ...` find the package.
ament_prefix="${EDGEPILOT_AMENT_PREFIX:-}"
if [ -n "${ament_prefix}" ] && [ -f "${ament_prefix}/share/ament_index/resource_index/packages/edgepilot" ]; then
    export AMENT_PREFIX_PATH="${ament_prefix}${AMENT_PREFIX_PATH:+:${AMENT_PREFIX_PATH}}"
fi

if [ "$#" -eq 0 ]; then
    set -- edgepilot run --config /etc/edgepilot/robot.yaml
fi
exec "$@"
