"""Benchmarks: `python -m audiolm_jax.bench` (see `__main__` for the suites).

Every suite returns a JSON-able dict with the environment it ran in (date, device,
versions); `report.markdown` turns a results file into tables and `report.py
--doc docs/performance.md` writes them into the performance page.
"""
