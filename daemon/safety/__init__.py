"""Safety: the watchdog's faults, the stall supervisor process and its heartbeat, fault injection."""
