"""rclpy: the transport and the managed (lifecycle) node, for a sourced ROS 2 install."""
