"""Training: the config schema, the pure steps, the sharded step, the loop and its
checkpoints, metrics, validation and multi-process start-up."""
