"""Ahead-of-time compilation of the training step for TPU slices, on a CPU machine.

`slices` names slices and holds the chips' published figures, `libtpu` keeps libtpu
quiet where no TPU is attached, `compile` runs XLA's TPU compiler on train.py's exact
step, `collectives` reads the compiled program's communication, and `report` turns
compiles into what a user planning a run needs (`train.py --topology`).
Nothing here imports JAX at package import.
"""
