"""What every benchmark records beside its numbers, and where it writes them."""

from __future__ import annotations

import datetime
import json
import os
import platform

import jax


def environment(**versions: str) -> dict:
  """Date, device and software versions (jax, python, plus any given)."""
  return {"date": datetime.date.today().isoformat(),
          "device": f"{jax.devices()[0].device_kind} x{jax.device_count()} "
                    f"({platform.processor() or platform.machine()}, "
                    f"{os.cpu_count()} cores)",
          "versions": {"jax": jax.__version__, "python": platform.python_version(),
                       **versions}}


def write(result: dict, out: str) -> None:
  """Writes `result` as JSON to `out` (creating its folder) and prints it."""
  os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
  with open(out, "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))
