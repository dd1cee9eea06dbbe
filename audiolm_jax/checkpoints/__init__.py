"""Reading trained runs: checkpoint integrity, the parameters of a step, and the run
object every reader uses (`run.py`)."""
