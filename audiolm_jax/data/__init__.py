"""Data: quantized audio datasets (TFDS builders) and the Grain input pipeline."""
