"""Nothing outside `audiolm_jax/models/` knows which family it runs.

Training, evaluation, generation, the codec, the studies and the family benchmarks
see a model only through `AudioModel` (`models/interface.py`), so a new family is a
module and a config. Exempt: the package's public API (`audiolm_jax/__init__.py`
re-exports the paper model) and the benchmarks of the paper model's own computations
(chunked vs dense, its PyTorch reference, its training memory), which exist to
measure that one model.
"""

import ast
import os

from audiolm_jax import models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "audiolm_jax")
EXEMPT = {"__init__.py", os.path.join("bench", "per_target.py"),
          os.path.join("bench", "torch_compare.py"),
          os.path.join("bench", "torch_reference.py"),
          os.path.join("bench", "memory.py")}
FAMILY_MODULES = {module for module, _ in models.FAMILIES.values()}
# Methods only one family has (the paper model's token path and encoder steps).
FAMILY_ONLY = {"chunk_tokens", "logits_from_tokens", "encoder_layers", "encoder_step"}
# "sashimi" also names a recipe and a protocol, so as a bare string it is not a
# family; compared with a model's name it is.
NAME_STRINGS = set(models.FAMILIES) - {"sashimi"}


def _docstrings(tree):
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef,
                         ast.AsyncFunctionDef)) and node.body:
      first = node.body[0]
      if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        yield first.value


def _chain(node) -> str:
  parts = []
  while isinstance(node, ast.Attribute):
    parts.append(node.attr)
    node = node.value
  if isinstance(node, ast.Name):
    parts.append(node.id)
  return ".".join(reversed(parts))


def _problems(source: str) -> list[str]:
  tree = ast.parse(source)
  docs = {id(d) for d in _docstrings(tree)}
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Constant) and id(node) not in docs \
        and node.value in NAME_STRINGS:
      found.append(f"line {node.lineno}: the family name {node.value!r}")
    elif isinstance(node, ast.Compare):
      sides = [node.left, *node.comparators]
      if any(_chain(s).endswith(".name") for s in sides) and any(
          isinstance(s, ast.Constant) and s.value in models.FAMILIES for s in sides):
        found.append(f"line {node.lineno}: a model's name compared with a family")
    elif isinstance(node, ast.Attribute):
      chain = _chain(node)
      if node.attr in FAMILY_ONLY:
        found.append(f"line {node.lineno}: the family-only method {node.attr}")
      elif ".config." in f".{chain}" and chain.split(".")[-2:-1] == ["config"] \
          and chain.split(".")[-3:-2] and chain.split(".")[-3].endswith("model"):
        found.append(f"line {node.lineno}: a family's config field {chain}")
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      names = ([a.name for a in node.names] if isinstance(node, ast.Import)
               else [node.module or ""] + [f"{node.module}.{a.name}"
                                           for a in node.names])
      for name in names:
        if name in FAMILY_MODULES:
          found.append(f"line {node.lineno}: imports the family module {name}")
  return found


def test_no_module_outside_models_knows_a_family():
  offenders = {}
  for root, _, files in os.walk(PACKAGE):
    rel_root = os.path.relpath(root, PACKAGE)
    if rel_root.split(os.sep)[0] == "models":
      continue
    for name in files:
      rel = os.path.normpath(os.path.join(rel_root, name))
      if not name.endswith(".py") or rel in EXEMPT:
        continue
      with open(os.path.join(root, name)) as f:
        if problems := _problems(f.read()):
          offenders[rel] = problems
  assert not offenders, offenders


def test_the_check_catches_each_kind_of_knowledge():
  assert _problems('x = "wavenet"\n')
  assert _problems('if model.name == "sashimi":\n  pass\n')
  assert _problems("n = model.config.num_tokens\n")
  assert _problems("z = model.chunk_tokens(p, c)\n")
  assert _problems("from audiolm_jax.models.samplernn import SampleRNN\n")
  assert not _problems('"""About wavenet."""\nrecipe = "sashimi"\n'
                       "n = model.context_tokens\n")
