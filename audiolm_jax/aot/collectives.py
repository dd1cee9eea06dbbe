"""The collectives in a compiled program's HLO text: kind, count and bytes moved.

An HLO instruction reads `%name = f32[128,256]{1,0} all-reduce(...)`, or with a tuple
result `%name = (f32[10]{0}, bf16[4,4]{1,0}) all-reduce-start(...)`. Asynchronous
collectives appear as a -start/-done pair: the -start is counted, the -done is not.
Bytes are those of the shape printed before the op, per device: an all-reduce's
result (its operands' size); an async all-gather or permute start's shape also holds
its operands.
"""

from __future__ import annotations

import dataclasses
import re

KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all",
         "collective-permute")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
          "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
          "c128": 16}
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(?P<shape>.*?)\s"
    r"(?P<op>" + "|".join(KINDS) + r")(?P<start>-start)?\(", re.MULTILINE)
_ARRAY = re.compile(r"(\w+)\[([\d,]*)\]")


@dataclasses.dataclass(frozen=True)
class Collective:
  kind: str
  count: int
  bytes: int  # summed over the instructions, per device


def shape_bytes(shape: str) -> int:
  """Bytes of an HLO shape string (an array or a tuple of arrays)."""
  total = 0
  for dtype, dims in _ARRAY.findall(shape):
    if dtype not in _BYTES:
      continue  # a token or other non-array element
    n = 1
    for d in filter(None, dims.split(",")):
      n *= int(d)
    total += n * _BYTES[dtype]
  return total


def summarize(hlo_text: str) -> list[Collective]:
  """One Collective per kind present in `hlo_text`, in KINDS order."""
  counts: dict[str, list[int]] = {}
  for match in _INSTRUCTION.finditer(hlo_text):
    nbytes = shape_bytes(match.group("shape"))
    entry = counts.setdefault(match.group("op"), [0, 0])
    entry[0] += 1
    entry[1] += nbytes
  return [Collective(k, *counts[k]) for k in KINDS if k in counts]
