import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from audiolm_jax.data import quantization as q

KINDS = ["mu_law", "linear"]
amplitudes = hnp.arrays(np.float64, st.integers(1, 300),
                        elements=st.floats(-1.0, 1.0, allow_nan=False))


@pytest.mark.parametrize("kind", KINDS)
def test_silence_code_is_128_and_decodes_to_zero(kind):
  assert q.silence_code(kind) == 128
  assert q.decode(np.array([128]), kind)[0] == 0.0


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=200, deadline=None)
@given(x=amplitudes)
def test_round_trip_within_one_step(kind, x):
  codes = q.encode(x, kind)
  assert codes.dtype == np.uint8
  # One step is 1/128 in the companded domain (decoding is codes / 128 - 1); the
  # encoder's 256 - 0.01 levels and 0.005 offset add at most 0.005/128 to it. The top
  # code decodes to 127/128, so x = 1.0 sits a full step away.
  err = np.abs(q.compand(q.decode(codes, kind), kind) - q.compand(x, kind))
  assert np.all(err <= 1.005 / 128 + 1e-6)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=100, deadline=None)
@given(x=amplitudes)
def test_encode_is_monotone(kind, x):
  x = np.sort(x)
  assert np.all(np.diff(q.encode(x, kind).astype(int)) >= 0)


@pytest.mark.parametrize("kind", KINDS)
def test_codes_span_the_range_and_table_is_increasing(kind):
  x = np.linspace(-1, 1, 100_001)
  codes = q.encode(x, kind)
  assert codes.min() == 0 and codes.max() == 255
  assert len(np.unique(codes)) == 256  # every code is reachable
  table = q.decode_table(kind)
  assert table.dtype == np.float32 and table.shape == (256,)
  assert np.all(np.diff(table) > 0) and table[0] == -1.0


def test_out_of_range_clips_and_non_finite_is_rejected():
  assert q.encode(np.array([-3.0, 3.0])).tolist() == [0, 255]
  with pytest.raises(ValueError, match="NaN or infinite"):
    q.encode(np.array([0.1, np.nan]))
  with pytest.raises(ValueError, match=r"\[0, 256\)"):
    q.decode(np.array([256]))
  with pytest.raises(ValueError, match="unknown quantization"):
    q.encode(np.zeros(3), "a_law")


def test_known_codes():
  # Worked by hand from docs/design.md, "The data recipes", at amplitudes where
  # log1p(255 |a|) / log1p(255) is a simple fraction (log1p(255 a) = log(1 + 255 a),
  # log(256) = 8 log 2):
  #   a = 1/255: e = 1/8, v = 9/16, code = floor(0.5625 * 255.99 + 0.005) = 143
  #   a = 15/255: e = 1/2, v = 3/4, code = floor(191.9925 + 0.005) = 191
  #   a = -15/255: e = -1/2, v = 1/4, code = floor(63.9975 + 0.005) = 64
  #   a = 0: 128; a = +-1: 255 and 0.
  a = np.array([1 / 255, 15 / 255, -15 / 255, 0.0, 1.0, -1.0])
  assert q.encode(a, "mu_law").tolist() == [143, 191, 64, 128, 255, 0]
  # Linear: v = (a + 1) / 2; a = 0.5 -> floor(0.75 * 255.99 + 0.005) = 191.
  assert q.encode(np.array([0.5, -0.5]), "linear").tolist() == [191, 64]
  # Decoding: e = code / 128 - 1, a = sign(e) (256^|e| - 1) / 255.
  #   160 -> e = 1/4 -> (4 - 1) / 255; 192 -> e = 1/2 -> 15 / 255; 0 -> -1.
  np.testing.assert_allclose(q.decode(np.array([160, 192, 64, 0])),
                             [3 / 255, 15 / 255, -15 / 255, -1.0], rtol=1e-6)
  np.testing.assert_allclose(q.decode(np.array([160, 0]), "linear"), [0.25, -1.0])


def test_mu_law_is_finer_near_zero_than_linear():
  mu, lin = np.diff(q.decode_table("mu_law")), np.diff(q.decode_table("linear"))
  assert mu[127] < lin[127] / 10 and mu[0] > lin[0] * 5


def test_minmax_scale_maps_each_chunk_to_minus_one_one(np_rng):
  chunks = np_rng.normal(0.3, 0.05, (3, 4096))
  scaled = q.minmax_scale(chunks, axis=-1)
  np.testing.assert_allclose(scaled.min(-1), -1.0)
  np.testing.assert_allclose(scaled.max(-1), 1.0, atol=1e-4)
  # Affine: the order and relative spacing inside a chunk are kept.
  np.testing.assert_allclose(np.corrcoef(scaled[0], chunks[0])[0, 1], 1.0)
