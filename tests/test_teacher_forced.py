"""The teacher-forced incremental path at its edges. (Teacher-forced == dense for
every family, over short rows and 20,000 codes: tests/test_family_contract.py.)"""

import numpy as np

from audiolm_jax.generation import teacher_forced
from helpers import family_case


def test_an_empty_row_gives_no_logits():
  model, params = family_case("cnn_transformer")
  out = teacher_forced.teacher_forced_logits(model, params, np.zeros((3, 0), np.int32))
  assert out.shape == (3, 0, 256)
