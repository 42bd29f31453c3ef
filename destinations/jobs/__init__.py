"""Testing many destinations: choosing them, the background jobs, the command's pool, and their results."""
