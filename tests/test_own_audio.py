"""The README's own-audio commands, as written, on a folder of WAV and FLAC files.

The commands are taken from the README's bash block that builds an `audio_folder`
dataset, and run in order from the repository root with `~` a temporary home; each
gets a few flags appended that only shorten it (training steps, seconds scored and
generated), so the commands a user copies are the ones tested.
"""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORTER = {  # appended to each command: the run is the README's, only shorter
    "audiolm_jax.data.build": "",
    "audiolm_jax.train": (" --config.num_steps=4 --config.eval_every=4"
                          " --config.checkpoint_every=4 --config.log_every=2"
                          " --config.eval_windows=2 --config.data.worker_count=0"),
    "audiolm_jax.evaluate": " --max_seconds_per_file 1",
    "audiolm_jax.sample": " --seconds 0.05",
}


def _readme_own_audio_commands() -> list[str]:
  with open(os.path.join(REPO, "README.md")) as f:
    blocks = re.findall(r"```bash\n(.*?)```", f.read(), flags=re.S)
  (block,) = [b for b in blocks if "--dataset audio_folder" in b]
  return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def _piano_like(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
  """A few decaying partials over a low noise floor, at a random level."""
  t = np.arange(int(seconds * rate)) / rate
  audio = sum(rng.uniform(0.2, 1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
              * np.exp(-t / rng.uniform(0.3, 2.0))
              for f in rng.uniform(80, 2000, size=5))
  audio = audio + rng.normal(0, 0.01, t.shape)
  return audio / np.abs(audio).max() * rng.uniform(0.3, 0.9)


def _make_folder(folder) -> list[str]:
  rng = np.random.default_rng(7)
  names = []
  for i, (ext, rate, channels) in enumerate([
      ("wav", 16_000, 1), ("wav", 44_100, 2), ("wav", 22_050, 1), ("wav", 48_000, 1),
      ("flac", 16_000, 1), ("flac", 44_100, 1), ("flac", 32_000, 2),
      ("flac", 16_000, 1)]):
    audio = np.stack([_piano_like(rng, 2.5, rate) for _ in range(channels)], -1)
    sub = folder / ("takes" if i % 2 else "")
    sub.mkdir(parents=True, exist_ok=True)
    sf.write(sub / f"take{i}.{ext}", audio, rate, subtype="PCM_16")
    names.append(f"take{i}.{ext}")
  return names


@pytest.mark.slow
def test_readme_own_audio_commands_run_as_written(tmp_path):
  commands = _readme_own_audio_commands()
  assert [c.split()[2] for c in commands] == list(SHORTER), commands
  names = _make_folder(tmp_path / "my_audio")
  # `python` is this environment's, as in a shell where it is activated.
  path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
  env = dict(os.environ, HOME=str(tmp_path), AUDIOLM_DATA_DIR=str(tmp_path / "tfds"),
             AUDIOLM_NO_PROGRESS="1", PATH=path)
  for command in commands:
    module = command.split()[2]
    run = command.replace("runs/mine", str(tmp_path / "runs" / "mine")) + SHORTER[module]
    result = subprocess.run(["bash", "-c", run], cwd=REPO, env=env, text=True,
                            capture_output=True, timeout=600)
    assert result.returncode == 0, f"{run}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
  # The dataset holds every file, split by file, and the run used it.
  (built,) = [os.path.join(r, "metadata.json") for r, _, f in
              os.walk(tmp_path / "tfds" / "audio_folder") if "metadata.json" in f]
  with open(built) as f:
    manifest = json.load(f)["manifest"]
  assert sorted(os.path.basename(n) for s in manifest.values() for n in s) == sorted(names)
  assert all(manifest[s] for s in ("train", "validation", "test"))
  workdir = tmp_path / "runs" / "mine"
  assert os.path.isdir(workdir / "checkpoints" / "4")
  with open(workdir / "eval_test_full.json") as f:
    scored = json.load(f)
  assert scored["units"] == len(manifest["test"]) and math.isfinite(scored["nll_bits"])
  assert 0 < scored["nll_bits"] < 8.5
  made = os.listdir(workdir / "samples")
  assert {os.path.splitext(m)[1] for m in made} >= {".wav", ".png", ".json"}
