"""Process-level plumbing: child processes, cancellation, ports and waiting."""
