"""Training: losses, optimisers and schedules, checkpoints, the epoch loop."""
