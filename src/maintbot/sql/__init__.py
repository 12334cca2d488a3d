"""Every statement reaches the maintenance DB through the guard, then the read-only executor."""
