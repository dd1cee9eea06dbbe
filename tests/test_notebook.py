"""The demo notebook runs top to bottom (reduced mode) and draws its plots."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, "notebooks", "demo.ipynb")


def test_committed_notebook_has_no_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None


def _cell(nb, first_line: str) -> str:
  (source,) = [c.source for c in nb.cells if c.cell_type == "code"
               and c.source.startswith(first_line)]
  return source


@pytest.mark.parametrize("model", ["cnn_transformer", "wavenet", "samplernn", "sashimi"])
@pytest.mark.parametrize("reduced", ["1", ""])
def test_every_family_gets_a_valid_config_on_one_dataset(monkeypatch, model, reduced):
  """The parameter and config cells, run alone for each MODEL: a config that builds,
  whose dataset is the one the data cell builds (the notebook trains, evaluates and
  prompts from that one set)."""
  from audiolm_jax.training import config as train_config
  monkeypatch.setenv("AUDIOLM_NOTEBOOK_MODEL", model)
  monkeypatch.setenv("AUDIOLM_NOTEBOOK_REDUCED", reduced)
  monkeypatch.chdir(os.path.join(REPO, "notebooks"))
  nb = nbformat.read(NOTEBOOK, as_version=4)
  scope = {"ON_GPU": False}
  exec(_cell(nb, "# Parameters."), scope)  # pylint: disable=exec-used
  exec(_cell(nb, "from audiolm_jax.training import config"), scope)  # pylint: disable=exec-used
  config = scope["config"]
  train_config.checked_model(config, device_count=1)
  assert config.data.dataset == "music21_piano"
  assert (config.data.variant, config.data.renderer) == (
      ("tiny", "numpy") if reduced else ("full", "mix" if model == "cnn_transformer"
                                          else config.data.renderer))
  assert "train_config.to_dataset_spec(config)" in _cell(nb, "from audiolm_jax.data")


# The paper's model end to end; every family's train / evaluate / sample is tested in
# test_baselines_cli.py, and the notebook's config for each family above.
@pytest.mark.parametrize("model", ["cnn_transformer"])
def test_notebook_executes_in_reduced_mode(tmp_path, tiny_data_dir, monkeypatch, model):
  monkeypatch.setenv("AUDIOLM_NOTEBOOK_MODEL", model)
  monkeypatch.setenv("AUDIOLM_NOTEBOOK_REDUCED", "1")
  monkeypatch.setenv("AUDIOLM_NOTEBOOK_WORKDIR", str(tmp_path / "run"))
  monkeypatch.setenv("AUDIOLM_DATA_DIR", tiny_data_dir)
  monkeypatch.setenv("AUDIOLM_NO_PROGRESS", "1")
  nb = nbformat.read(NOTEBOOK, as_version=4)
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": os.path.join(REPO, "notebooks")}}
                 ).execute()  # raises CellExecutionError on any error
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  audio = [o for o in outputs if "text/html" in o.get("data", {})
           and "<audio" in o["data"]["text/html"]]
  assert len(images) >= 3, "a plot is missing"  # losses, waveform+spectrogram, chunks
  assert len(audio) >= 2  # the data clip and the continuation
  text = "".join(o.get("text", "") for o in outputs)
  assert "max relative difference" in text and "reference: previous sample" in text
  assert "flatness x" in text and "the recording's own continuation: flatness x" in text
