"""Observation: this tick's stream snapshots become the model's input vector."""
