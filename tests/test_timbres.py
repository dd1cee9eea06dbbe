"""The multi-timbre piano set: seeded pianos, rooms and levels; a held-out piano."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from audiolm_jax.data import tfds_builders, datasets, recipes
from audiolm_jax.data.piano import performance, scores, synth, timbres

NUMPY_ONLY = "mix_numpy_heldout_numpy_upright"


def test_timbre_set_names_round_trip_and_hold_out_the_preferred_piano():
  every = timbres.TimbreSet.from_available(timbres.TIMBRES)
  assert every.held_out == "timgm6mb" and "timgm6mb" not in every.train
  assert every.name == "mix_fluidr3+gmbank+numpy+numpy_upright_heldout_timgm6mb"
  bare = timbres.TimbreSet.from_available(("numpy", "numpy_upright"))
  assert bare.name == NUMPY_ONLY
  for ts in timbres.all_sets():
    assert timbres.TimbreSet.parse(ts.name) == ts
  assert len({ts.name for ts in timbres.all_sets()}) == 8
  with pytest.raises(ValueError, match="timbre set"):
    timbres.TimbreSet(("numpy",), "numpy")
  with pytest.raises(ValueError, match="bad renderer"):
    tfds_builders.piano_config_name("tiny", "mix_numpy_heldout_steinway")


def test_plans_are_seeded_and_within_their_ranges():
  plans = [timbres.plan(s, ("numpy", "fluidr3")) for s in range(300)]
  assert plans[7] == timbres.plan(7, ("numpy", "fluidr3"))
  peaks = np.array([p.peak_dbfs for p in plans])
  assert peaks.min() >= -30 and peaks.max() <= -1 and peaks.std() > 6
  assert {p.timbre for p in plans} == {"numpy", "fluidr3"}
  assert all(0 <= p.room_wet <= 0.35 and 0.2 <= p.room_rt60_s <= 1.6 for p in plans)


def test_room_response_has_unit_energy_and_decays_at_its_rt60():
  ir = timbres.room_response(0.8, seed=1)
  assert ir.shape == (int(0.8 * 16_000),)
  assert np.sum(ir.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)
  assert np.all(ir[:160] == 0)  # the 10 ms pre-delay
  early = np.sum(ir[160:1760] ** 2)
  late = np.sum(ir[-1600:] ** 2)
  assert 10 * np.log10(early / late) > 40  # most of the 60 dB decay happened


def _performance():
  piece = scores.Piece(name="t", work="t", onsets=np.array([0.0, 0.5, 1.0]),
                       durations=np.array([0.5, 0.5, 1.0]),
                       pitches=np.array([60, 64, 67], np.int16),
                       parts=np.array([0, 0, 1]))
  return performance.humanize(piece, seed=0)


def test_render_hits_the_planned_peak_and_the_voicings_differ():
  perf = _performance()
  r = timbres.Rendering("numpy_upright", peak_dbfs=-17.5, room_wet=0.2,
                        room_rt60_s=0.5)
  audio = timbres.render(perf, r, seed=3)
  assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(-17.5, abs=1e-3)
  dry = dict(peak_dbfs=-1.0, room_wet=0.0, room_rt60_s=0.5)
  grand = timbres.render(perf, timbres.Rendering("numpy", **dry), seed=3)
  upright = timbres.render(perf, timbres.Rendering("numpy_upright", **dry), seed=3)
  # The upright is brighter: more of its energy lies above 2 kHz.
  def high_share(a):
    p = np.abs(np.fft.rfft(a)) ** 2
    return p[len(p) * 2000 // 8000:].sum() / p.sum()
  assert high_share(upright) > 2 * high_share(grand)
  # The room adds a tail: the wet render is longer and its decay is slower.
  assert len(audio) > len(upright)


def test_the_grand_voicing_is_the_original_synth():
  perf = _performance()
  np.testing.assert_array_equal(synth.render(perf),
                                synth.render(perf, voicing=synth.GRAND))
  assert synth.GRAND != synth.UPRIGHT


@pytest.fixture(scope="module")
def mix_dir(tmp_path_factory):
  spec = datasets.DatasetSpec("music21_piano", variant="tiny", renderer=NUMPY_ONLY)
  return datasets.build(spec, str(tmp_path_factory.mktemp("mix")), strict=True)


def test_the_held_out_piano_is_only_in_validation_and_test(mix_dir):
  meta = tfds.builder_from_directory(mix_dir).info.metadata
  assert meta["timbres"]["train"] == ["numpy"]
  assert meta["timbres"]["held_out"] == "numpy_upright"
  renderings = meta["renderings"]
  for split in ("train", "validation", "test", tfds_builders.SEEN_TIMBRES_SPLIT):
    source = datasets.open_split(mix_dir, split)
    names = {source[i]["name"].decode() for i in range(len(source))}
    assert names == set(renderings[split])  # every file's rendering is listed
    for i in range(len(source)):
      r = renderings[split][source[i]["name"].decode()]
      want = "numpy_upright" if split in ("validation", "test") else "numpy"
      assert r["timbre"] == want
      audio = recipes.from_pcm16(source[i]["audio"])
      assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(r["peak_dbfs"],
                                                                abs=0.01)
  test = datasets.open_split(mix_dir, "test")
  seen = datasets.open_split(mix_dir, tfds_builders.SEEN_TIMBRES_SPLIT)
  assert [test[i]["name"] for i in range(len(test))] == \
      [seen[i]["name"] for i in range(len(seen))]
  assert "held out (validation, test) numpy_upright" in datasets.describe(mix_dir)


def test_a_set_whose_timbres_are_missing_is_refused(tmp_path, monkeypatch):
  monkeypatch.setattr(timbres, "available", lambda: ("numpy", "numpy_upright"))
  assert tfds_builders.piano_config_name("tiny", "mix") == "tiny_" + NUMPY_ONLY
  spec = datasets.DatasetSpec("music21_piano", variant="tiny",
                              renderer="mix_fluidr3+numpy_heldout_timgm6mb")
  with pytest.raises(tfds_builders.BuildError, match=r"needs the timbres \['fluidr3', "
                     r"'timgm6mb'\].*--renderer mix"):
    datasets.build(spec, str(tmp_path))
