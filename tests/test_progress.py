"""Progress in a log file: whole lines every few seconds, never carriage returns."""

import io

import pytest

from audiolm_jax import progress


def test_a_log_gets_lines_not_a_redrawn_bar(monkeypatch):
  monkeypatch.delenv("AUDIOLM_NO_PROGRESS", raising=False)
  monkeypatch.setenv("AUDIOLM_PROGRESS_SECONDS", "3600")
  log = io.StringIO()
  bar = progress.bar(1_900, unit="step", initial=100, file=log)
  assert isinstance(bar, progress.LineProgress)
  for _ in range(1_800):
    bar.update()
    bar.set_postfix(loss="3.170b")
  bar.write("validation ...")
  bar.close()
  bar.close()
  lines = log.getvalue().splitlines()
  assert "\r" not in log.getvalue()
  # 1,800 updates inside one interval: the message and a single closing line.
  assert lines[0] == "validation ..."
  assert len(lines) == 2 and lines[1].startswith("progress: 1,900/1,900 steps (100 %)")
  assert "loss=3.170b" in lines[1]


def test_lines_come_at_the_interval(monkeypatch):
  monkeypatch.delenv("AUDIOLM_NO_PROGRESS", raising=False)
  clock = iter(range(0, 1000, 2))  # two seconds per call of time.monotonic
  monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
  log = io.StringIO()
  bar = progress.LineProgress(2_000_000, unit="sample", unit_scale=True, file=log,
                              interval=5)
  for _ in range(10):
    bar.update(100_000)
  lines = log.getvalue().splitlines()
  assert 3 <= len(lines) <= 4, lines   # 20 s of updates, one line per 5 s or more
  assert lines[0].startswith("progress: 300.00k/2.00M samples (15 %)")
  assert "s left" in lines[0]


def test_off_switch_and_bad_interval(monkeypatch):
  log = io.StringIO()
  monkeypatch.setenv("AUDIOLM_NO_PROGRESS", "1")
  bar = progress.bar(10, unit="step", file=log)
  bar.update(10)
  bar.close()
  assert log.getvalue() == ""
  monkeypatch.setenv("AUDIOLM_PROGRESS_SECONDS", "often")
  with pytest.raises(ValueError, match="AUDIOLM_PROGRESS_SECONDS='often'"):
    progress.bar(10, unit="step", file=log, show=True)


def test_the_rate_leaves_out_the_compile_before_the_first_step(monkeypatch):
  monkeypatch.delenv("AUDIOLM_NO_PROGRESS", raising=False)
  now = [0.0]
  monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
  log = io.StringIO()
  bar = progress.LineProgress(100, unit="step", file=log, interval=5)
  now[0] = 60.0            # a minute of compiling, then the first step
  bar.update()
  assert log.getvalue() == ""  # one step says nothing about the rate yet
  now[0] = 70.0            # 20 more steps in 10 s: 2 steps/s, 79 to go
  bar.update(20)
  assert "2 steps/s, 40 s left, 70 s" in log.getvalue(), log.getvalue()
