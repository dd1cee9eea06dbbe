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


# The paper's model and one unbounded family (the notebook's other branch); every
# family's train / evaluate / sample is tested in test_baselines_cli.py.
@pytest.mark.parametrize("model", ["cnn_transformer", "samplernn"])
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
