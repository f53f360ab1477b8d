"""Sensor streams: messages into lock-free ring buffers, snapshots the tick reads, integrity checks."""
