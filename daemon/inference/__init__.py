"""The inference backend a profile asks for (engines/ builds and verifies them)."""
