"""What every layer may use (atomic files); imports nothing else of edgepilot."""
