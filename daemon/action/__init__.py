"""Action stages: the model's output becomes a command (Twist, joint targets, PD torques) and leaves."""
