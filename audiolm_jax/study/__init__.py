"""Studies: several training runs under one budget, scored alike, in one table.

`python -m audiolm_jax.study --config configs/study/X.py --workdir DIR` (see
`__main__.py`); `plan.py` turns a study config into training configs, `runner.py`
trains and scores them (resumably), `report.py` writes the JSON, table and plots.
"""
