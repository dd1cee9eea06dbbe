"""Shared test setup: strict numerics, small random models, one compilation cache."""

import os
import tempfile
import zlib

# One XLA compilation cache for every test process, set before jax is imported so the
# training runs, CLIs and notebook kernels that tests start as subprocesses inherit it:
# they compile the same small programs again and again, and on 2 cores compiling is
# most of the suite (test_train.py + test_study.py, one worker: 394 s without, 248 s
# with). Entries are keyed by the program, compile options and jax version, so a hit
# is the executable a compile would give. Kept across runs, bounded at 1 GiB (LRU;
# needs filelock, else unbounded). JAX_ENABLE_COMPILATION_CACHE=false turns it off.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), f"audiolm_jax_test_xla_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
try:  # JAX bounds the cache only with filelock (the test extra); else it warns per entry
  import filelock  # pylint: disable=g-import-not-at-top,unused-import
  os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2**30))
except ImportError:
  pass

# No progress bars in any test, in-process or in the processes tests start (the
# progress tests set it themselves); set once here, not by tests that leak it.
os.environ.setdefault("AUDIOLM_NO_PROGRESS", "1")

# The package first: it keeps libtpu (installed by the test extra) quiet on this
# machine without TPUs before any backend starts (aot/libtpu.py).
import audiolm_jax  # pylint: disable=g-import-not-at-top,wrong-import-position,unused-import
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import pytest

# Implicit rank promotion hides shape bugs; make it an error everywhere in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")

# Hypothesis draws the same examples on every CI run (a failure there reproduces);
# locally it explores as usual.
try:
  from hypothesis import settings  # pylint: disable=g-import-not-at-top
  settings.register_profile("ci", derandomize=True)
  if os.environ.get("CI"):
    settings.load_profile("ci")
except ImportError:
  pass


@pytest.fixture
def np_rng(request):
  """A NumPy generator seeded from the test's name: random, but reproducible."""
  # crc32, not hash(): Python salts str hashes per process, so hash() drew new
  # inputs on every run and a failure could not be reproduced.
  seed = zlib.crc32(request.node.nodeid.encode())
  return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A TFDS data_dir holding the tiny built-in piano set (NumPy renderer)."""
  from audiolm_jax.data import datasets  # pylint: disable=g-import-not-at-top
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  spec = datasets.DatasetSpec("music21_piano", variant="tiny", renderer="numpy")
  datasets.build(spec, data_dir, strict=True)
  return data_dir


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
  """The folder of `toy_set.ToySet` (three files of random audio), built per module."""
  import toy_set  # pylint: disable=g-import-not-at-top  (TFDS only where needed)
  return toy_set.build(str(tmp_path_factory.mktemp("toy")))
