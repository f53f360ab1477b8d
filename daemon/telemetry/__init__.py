"""Telemetry: logs (journald), systemd notify, the status file and /diagnostics."""
