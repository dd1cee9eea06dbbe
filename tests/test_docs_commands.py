"""Every command in the README and docs/ runs as written, up to its arguments' parse.

For each `python -m audiolm_jax...` command (in bash blocks, and inline), the module
exists and has its flags; in bash blocks every flag parses with that module's own
FlagValues (a `--config FILE:ARGS` loads the config through the config grammar and
every `--config.x` must be a field of it). `make` targets exist in the Makefile,
scripts and repository paths exist, and every relative markdown link (and its
`#anchor`) points to a file and heading that exist.
"""

import functools
import importlib
import os
import re
import shlex

import ml_collections
import pytest
from absl import flags

from audiolm_jax import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.join("docs", f)
                               for f in os.listdir(os.path.join(REPO, "docs"))
                               if f.endswith(".md"))
REPO_PATH = re.compile(r"^(configs|launch|notebooks|results|benchmarks|docs|tests|"
                       r"audiolm_jax)/[\w./-]*\w$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE = re.compile(r"`(python -m audiolm_jax[^`]*)`")


def _read(page: str) -> str:
  with open(os.path.join(REPO, page)) as f:
    return f.read()


def _bash_blocks(text: str) -> list[str]:
  return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def _commands(block: str) -> list[list[str]]:
  """Shell words of each command in a bash block (continuations joined)."""
  out = []
  for line in block.replace("\\\n", " ").splitlines():
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split, lexer.commenters = True, "#"
    words = []
    for token in list(lexer) + [";"]:
      if token in (";", "&&", "|", "||", "&"):
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value prefixes
          words = words[1:]
        if words:
          out.append(words)
        words = []
      else:
        words.append(token)
  return out


def _slug(heading: str) -> str:
  """GitHub's anchor for a heading."""
  text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
  return text.replace(" ", "-")


@functools.cache
def _anchors(page: str) -> set[str]:
  text = re.sub(r"```.*?```", "", _read(page), flags=re.S)
  return {_slug(line.lstrip("#")) for line in text.splitlines()
          if re.match(r"^#{1,6} ", line)}


@functools.cache
def _make_targets() -> set[str]:
  return set(re.findall(r"^([\w-]+):", _read("Makefile"), flags=re.M))


def _module_flags(module: str) -> flags.FlagValues:
  for name in (module, module + ".__main__"):
    try:
      mod = importlib.import_module(name)
    except ModuleNotFoundError as e:
      if e.name not in (module, name):
        raise  # the command exists but fails to import
      continue
    if isinstance(getattr(mod, "FLAGS", None), flags.FlagValues):
      return mod.FLAGS
  raise AssertionError(f"python -m {module}: no such command (no FLAGS)")


def _check_config_overrides(values: flags.FlagValues, args: list[str], where: str):
  config = values["config"].value
  for arg in args:
    m = re.match(r"--config\.([\w.]+)=", arg)
    if not m:
      continue
    node = config
    for key in m.group(1).split("."):
      assert isinstance(node, ml_collections.ConfigDict) and key in node, (
          f"{where}: --config.{m.group(1)} is not a field of the config")
      node = node[key]


def _check_python(words: list[str], where: str, strict: bool) -> None:
  assert words[1] == "-m", f"{where}: {' '.join(words)}"
  module, args = words[2], words[3:]
  values = _module_flags(module)
  if not strict:  # inline prose may hold placeholders: the flag names must exist
    for arg in args:
      if arg.startswith("--"):
        name = arg[2:].split("=")[0].split(".")[0]
        name = name[2:] if name.startswith("no") and name[2:] in values else name
        assert name in values, f"{where}: {module} has no flag --{name}"
    return
  for arg in args:
    path = arg.split("=")[-1].split(":")[0]
    if REPO_PATH.match(path):
      assert os.path.exists(os.path.join(REPO, path)), f"{where}: {path} is missing"
  try:
    cli.parse_args(values, module, args)  # as the command parses them
    if "config" in values and values["config"].present:
      _check_config_overrides(values, args, where)
  except Exception as e:  # a flag, config key or config field that does not exist
    raise AssertionError(f"{where}: {' '.join(words)}: {e!r}") from e
  finally:
    values.unparse_flags()


def _check_command(words: list[str], where: str) -> None:
  head = words[0]
  if head in ("python", "python3") and len(words) > 2 and words[2].startswith(
      "audiolm_jax"):
    _check_python(words, where, strict=True)
  elif head == "make":
    for target in (w for w in words[1:] if "=" not in w):
      assert target in _make_targets(), f"{where}: no make target {target!r}"
  elif head.startswith("launch/") or head == "sbatch":
    script = head if head.startswith("launch/") else next(
        w for w in words if w.startswith("launch/"))
    assert os.path.isfile(os.path.join(REPO, script)), f"{where}: {script} is missing"
    rest = words[words.index(script) + 1:]
    # launch/*.sh pass what follows `--` to train.py; the sbatch script all it gets.
    train_args = rest[rest.index("--") + 1:] if "--" in rest else rest
    _check_python(["python", "-m", "audiolm_jax.train"] + train_args, where, True)


def _bash_cases():
  for page in PAGES:
    for i, block in enumerate(_bash_blocks(_read(page))):
      yield pytest.param(page, block, id=f"{page}-{i}")


@pytest.mark.parametrize("page,block", list(_bash_cases()))
def test_bash_blocks_parse(page, block, monkeypatch):
  monkeypatch.chdir(REPO)  # commands are written from the repository root
  for words in _commands(block):
    _check_command(words, page)


@pytest.mark.parametrize("page", PAGES)
def test_inline_commands_name_real_modules_and_flags(page):
  text = re.sub(r"```.*?```", "", _read(page), flags=re.S)
  for command in INLINE.findall(text.replace("\n", " ")):
    command = re.sub(r"\[[^\]]*\]", " ", command)
    _check_python(shlex.split(command), page, strict=False)


@pytest.mark.parametrize("page", PAGES)
def test_links_and_paths_exist(page):
  text = _read(page)
  folder = os.path.dirname(page)
  for target in LINK.findall(text):
    if re.match(r"^[a-z]+:", target):
      continue  # an external address
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(folder, path)) if path else page
    assert os.path.exists(os.path.join(REPO, resolved)), f"{page}: {target} is missing"
    if anchor and resolved.endswith(".md"):
      assert anchor in _anchors(resolved), f"{page}: no heading #{anchor} in {resolved}"
  for span in re.findall(r"`([^`\n]+)`", text):
    path = span.split(":")[0].split("[")[0]
    placeholder = re.search(r"(^|/)[A-Z_]+(/|\.|$)", path) or "*" in path
    if REPO_PATH.match(path) and not placeholder:
      assert os.path.exists(os.path.join(REPO, path)), f"{page}: `{span}` is missing"


def test_the_checker_catches_a_broken_command(monkeypatch):
  """A wrong flag, config key, config field or path is caught (not a vacuous test)."""
  monkeypatch.chdir(REPO)
  for bad in ("python -m audiolm_jax.evaluate --workdir runs/x --no_such_flag=1",
              "python -m audiolm_jax.train --config configs/default.py:sise=cpu "
              "--workdir runs/x",
              "python -m audiolm_jax.train --config configs/default.py "
              "--config.data.folder=mine --workdir runs/x",
              "python -m audiolm_jax.nothing --workdir runs/x",
              "launch/nowhere.sh -- --config configs/default.py --workdir /tmp/r",
              "make nothing"):
    with pytest.raises(AssertionError):
      for words in _commands(bad):
        _check_command(words, "test")
  assert _slug("Context over seeds, at `make demo`'s budget") == (
      "context-over-seeds-at-make-demos-budget")
