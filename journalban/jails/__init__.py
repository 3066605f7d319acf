"""jails."""
