"""Every reference from the code to docs/design.md names one of its sections."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A section cited by name after the path; the name may wrap onto the next line.
REFERENCE = re.compile(r'docs/design\.md, "([^"]+)"')


def _sections():
  with open(os.path.join(REPO, "docs", "design.md")) as f:
    return {line[3:].strip() for line in f if line.startswith("## ")}


def _sources():
  for top in ("audiolm_jax", "configs", "tests", "launch"):
    for root, _, files in os.walk(os.path.join(REPO, top)):
      for name in files:
        if name.endswith((".py", ".sh")):
          yield os.path.join(root, name)


def test_every_design_reference_names_a_section():
  sections = _sections()
  assert {"The model", "The receptive field", "Two exact computations", "Generation",
          "The codec", "The protocols", "The baselines' sources"} <= sections
  found = 0
  for path in _sources():
    with open(path) as f:
      # Join comment and docstring continuation lines so a wrapped name still reads.
      text = re.sub(r"\s*\n\s*#?\s*", " ", f.read())
    for name in REFERENCE.findall(text):
      found += 1
      assert name in sections, f"{os.path.relpath(path, REPO)} cites {name!r}"
  assert found >= 15
  assert not [p for p in _sources() if "DESIGN " in open(p).read()
              and not p.endswith("test_design_references.py")]


# Any docs page cited by section name: its path, a comma and the quoted heading.
PAGE_REFERENCE = re.compile(r'docs/(\w+)\.md`?, "([^"]+)"')


def test_every_docs_section_reference_names_a_section():
  found = 0
  for path in _sources():
    with open(path) as f:
      text = re.sub(r"\s*\n\s*#?\s*", " ", f.read())
    for page, name in PAGE_REFERENCE.findall(text):
      found += 1
      with open(os.path.join(REPO, "docs", f"{page}.md")) as f:
        sections = {line.lstrip("#").strip() for line in f if line.startswith("#")}
      assert name in sections, f"{os.path.relpath(path, REPO)} cites docs/{page}.md {name!r}"
  assert found >= 3
