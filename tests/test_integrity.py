"""Checkpoint checksums: what counts as damage, and what a resume does with it."""

import logging
import os
import sys
import types

import grain
import jax
import numpy as np
import pytest

from audiolm_jax.checkpoints import integrity, reading
from audiolm_jax.training.checkpointing import Checkpointer
from audiolm_jax.checkpoints.integrity import DamagedCheckpointError


def _state(rng):
  return {"params": {"w": rng.normal(size=(3, 4)).astype(np.float32),
                     "b": rng.normal(size=(4,)).astype(np.float32)},
          "step": np.asarray(7, np.int32)}


def test_verify_accepts_the_saved_values_and_names_an_altered_array(np_rng):
  state = _state(np_rng)
  record = integrity.checksums(state)
  integrity.verify(state, record, step=7, path="/x")
  integrity.verify(state["params"], record, step=7, path="/x", prefix="params/")
  altered = jax.tree.map(np.copy, state)
  altered["params"]["w"][1, 2] = np.nextafter(altered["params"]["w"][1, 2],
                                               np.float32(np.inf))  # one ulp
  with pytest.raises(DamagedCheckpointError, match="array params/w does not match"):
    integrity.verify(altered, record, step=7, path="/x")


def test_non_finite_values_are_damage_whatever_the_record_says(np_rng):
  state = _state(np_rng)
  state["params"]["b"][2] = np.nan
  record = integrity.checksums(state)  # a record of the NaN itself
  with pytest.raises(DamagedCheckpointError,
                     match="step 7 in /x is damaged: array params/b holds non-finite"):
    integrity.verify(state, record, step=7, path="/x")


def test_no_record_is_named_damage(np_rng):
  for record in (None, {}, {"format": 1}):
    with pytest.raises(DamagedCheckpointError, match="it has no checksum record"):
      integrity.verify(_state(np_rng), record, step=7, path="/x")


def test_set_aside_never_overwrites(tmp_path):
  for n in range(2):
    step = tmp_path / "checkpoints" / "30"
    step.mkdir(parents=True)
    (step / "f").write_text(str(n))
    integrity.set_aside(str(step), str(tmp_path))
  assert (tmp_path / "damaged_checkpoints" / "30" / "f").read_text() == "0"
  assert (tmp_path / "damaged_checkpoints" / "30.1" / "f").read_text() == "1"


def _iterator():
  return iter(grain.MapDataset.range(100).to_iter_dataset())


def _save_steps(workdir, rng, steps):
  ckpt = Checkpointer(workdir, keep=10, every=1)
  config = {"model": {"name": "x"}, "runtime": {"process_count": 1}}
  states = {}
  for step in steps:
    states[step] = _state(rng)
    ckpt.save(step, states[step], _iterator(), config, force=True)
  ckpt.close()
  return config, states


def test_resume_takes_the_newest_intact_step_and_sets_newer_ones_aside(np_rng,
                                                                      tmp_path):
  config, states = _save_steps(str(tmp_path), np_rng, [1, 2, 3])
  os.remove(tmp_path / "checkpoints" / "3" / "integrity" / "metadata")
  ckpt = Checkpointer(str(tmp_path), keep=10, every=1)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                          states[2])
  lines = []
  step, state, procs = ckpt.restore_newest_intact(abstract, _iterator(), config,
                                                  lines.append)
  ckpt.close()
  assert (step, procs) == (2, 1)
  np.testing.assert_array_equal(state["params"]["w"], states[2]["params"]["w"])
  assert len(lines) == 1 and "integrity/metadata is missing" in lines[0]
  assert os.path.isdir(tmp_path / "damaged_checkpoints" / "3")


def test_when_every_step_is_damaged_nothing_is_moved(np_rng, tmp_path):
  config, states = _save_steps(str(tmp_path), np_rng, [1, 2])
  for step in (1, 2):
    os.remove(tmp_path / "checkpoints" / str(step) / "state" / "_METADATA")
  ckpt = Checkpointer(str(tmp_path), keep=10, every=1)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                          states[2])
  with pytest.raises(DamagedCheckpointError, match="no checkpoint step reads back whole"):
    ckpt.restore_newest_intact(abstract, _iterator(), config, print)
  ckpt.close()
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]
  assert not (tmp_path / "damaged_checkpoints").exists()


def test_a_failed_restores_late_reads_are_dropped_and_nothing_else(monkeypatch):
  """What TensorStore's late reads raise after Orbax closed its loop is dropped;
  any other exception or asyncio error still reaches the hooks and the log."""
  seen = []
  monkeypatch.setattr(sys, "excepthook", lambda kind, e, tb: seen.append(e))
  monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
  asyncio_log = logging.getLogger("asyncio")
  monkeypatch.setattr(asyncio_log, "filters", [])
  reading.ignore_late_reads()
  reading.ignore_late_reads()  # twice: one filter each, not two
  assert len(asyncio_log.filters) == 1
  late, other = RuntimeError("Event loop is closed"), RuntimeError("boom")
  for error in (late, other):
    sys.excepthook(RuntimeError, error, None)
    sys.unraisablehook(types.SimpleNamespace(exc_value=error))
  assert seen == [other, other]

  def record(message, error):
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, (),
                             (type(error), error, None))

  never = "Task exception was never retrieved\nfuture: <Task finished>"
  assert not asyncio_log.filter(record(never, ValueError("DATA_LOSS: Error opening")))
  assert asyncio_log.filter(record(never, ValueError("a bug of ours")))
  assert asyncio_log.filter(record("Exception in callback", ValueError("DATA_LOSS: x")))
