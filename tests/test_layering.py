"""Commands are thin: every command is a module of its own that no library module
(nor the notebook) imports, and no library module doubles as a command."""

import ast
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = {"audiolm_jax.train", "audiolm_jax.evaluate", "audiolm_jax.sample",
            "audiolm_jax.compare", "audiolm_jax.tables", "audiolm_jax.codec.__main__",
            "audiolm_jax.study.__main__", "audiolm_jax.bench.__main__",
            "audiolm_jax.data.build", "audiolm_jax.data.overlap"}


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


def test_only_the_commands_run_as_programs():
  """A module with a `__main__` guard is a command, and is one of COMMANDS."""
  programs = set()
  for root, _, files in os.walk(os.path.join(REPO, "audiolm_jax")):
    for name in files:
      if name.endswith(".py"):
        with open(os.path.join(root, name)) as f:
          if 'if __name__ == "__main__":' in f.read():
            programs.add(_module(os.path.join(root, name)))
  assert programs == COMMANDS, (sorted(programs - COMMANDS),
                                sorted(COMMANDS - programs))


def test_the_notebook_imports_no_command():
  with open(os.path.join(REPO, "notebooks", "demo.ipynb")) as f:
    cells = json.load(f)["cells"]
  code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
  code = "\n".join(line for line in code.splitlines()
                   if not line.lstrip().startswith(("!", "%")))
  assert not _imports(code) & COMMANDS


PACKAGE = os.path.join(REPO, "audiolm_jax")
# Readers of a finished run read it through `checkpoints/run.py`, never through the
# machinery that trained it.
READERS = ("evaluation", "generation", "codec")


def _part_graph(package: str = PACKAGE) -> dict[str, set[str]]:
  """{first-level part: the parts it imports}: the package's subpackages and
  top-level modules (its __init__ left out: it only re-exports)."""
  parts = {n[:-3] if n.endswith(".py") else n for n in os.listdir(package)
           if n != "__init__.py" and (n.endswith(".py") or os.path.isfile(
               os.path.join(package, n, "__init__.py")))}
  graph = {p: set() for p in parts}
  for root, _, files in os.walk(package):
    for name in files:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, package).split(os.sep)
      if not name.endswith(".py") or rel == ["__init__.py"]:
        continue
      part = rel[0][:-3] if rel[0].endswith(".py") else rel[0]
      with open(path) as f:
        for imported in _imports(f.read()):
          bits = imported.split(".")
          if bits[0] == "audiolm_jax" and len(bits) > 1 and bits[1] in parts \
              and bits[1] != part:
            graph[part].add(bits[1])
  return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
  """One import cycle between parts, or []."""
  state = {}

  def visit(node, path):
    state[node] = "open"
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == "open":
        return path[path.index(nxt):] + [nxt]
      if nxt not in state and (found := visit(nxt, path + [nxt])):
        return found
    state[node] = "done"
    return []

  for start in sorted(graph):
    if start not in state and (found := visit(start, [start])):
      return found
  return []


def test_no_import_cycle_between_the_package_parts():
  assert not (cycle := _cycle(_part_graph())), " -> ".join(cycle)


def test_readers_of_runs_do_not_import_training():
  graph = _part_graph()
  assert not {r for r in READERS if "training" in graph[r]}, {
      r: sorted(graph[r]) for r in READERS}


def test_the_cycle_check_finds_a_cycle(tmp_path):
  for part, body in {"a": "from audiolm_jax.b import x\n",
                     "b": "import audiolm_jax.c.y\n",
                     "c": "from audiolm_jax import a\n", "d": ""}.items():
    (tmp_path / part).mkdir()
    (tmp_path / part / "__init__.py").write_text(body)
  cycle = _cycle(_part_graph(str(tmp_path)))
  assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
  (tmp_path / "c" / "__init__.py").write_text("")
  assert not _cycle(_part_graph(str(tmp_path)))
