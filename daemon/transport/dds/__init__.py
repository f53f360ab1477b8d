"""Cyclone DDS speaking the ROS 2 wire protocol, without a ROS install (:mod:`.participant`)."""
