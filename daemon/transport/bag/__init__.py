"""rosbag2 files: replay through the daemon on a simulated clock, and recording."""
