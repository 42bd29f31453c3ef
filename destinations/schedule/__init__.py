"""What runs on a clock: the scheduler tick and the health checks it plans and starts."""
