"""Commands are thin: no library module (nor the notebook) imports a command module."""

import ast
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = {"audiolm_jax.train", "audiolm_jax.evaluate", "audiolm_jax.sample",
            "audiolm_jax.compare", "audiolm_jax.codec.__main__",
            "audiolm_jax.study.__main__", "audiolm_jax.bench.__main__"}


def _imports(source: str) -> set[str]:
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.add(node.module)
      names.update(f"{node.module}.{a.name}" for a in node.names)
  return names


def _module(path: str) -> str:
  rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
  return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def test_no_library_module_imports_a_command():
  offenders = []
  for root, _, files in os.walk(os.path.join(REPO, "audiolm_jax")):
    for name in files:
      path = os.path.join(root, name)
      if not name.endswith(".py") or _module(path) in COMMANDS:
        continue
      with open(path) as f:
        bad = _imports(f.read()) & COMMANDS
      if bad:
        offenders.append(f"{_module(path)} imports {sorted(bad)}")
  assert not offenders, offenders


def test_the_notebook_imports_no_command():
  with open(os.path.join(REPO, "notebooks", "demo.ipynb")) as f:
    cells = json.load(f)["cells"]
  code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
  code = "\n".join(line for line in code.splitlines()
                   if not line.lstrip().startswith(("!", "%")))
  assert not _imports(code) & COMMANDS
