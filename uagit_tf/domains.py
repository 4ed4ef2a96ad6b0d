"""The two domains, A and B, and the two directions between them: defined here once.

    from uagit_tf.domains import DIRECTIONS
    for direction in DIRECTIONS.values():      # a2b, then b2a
      source, target = direction

Networks are keyed by domain (gen["a"] maps A -> B, att["a"] masks A images,
disc["a"] judges images in A); a direction names its source and target.
"""

import typing

DOMAINS = ("a", "b")


class Direction(typing.NamedTuple):
  """A translation source -> target; unpacks as (source, target)."""
  source: str
  target: str

  @property
  def name(self) -> str:
    return f"{self.source}2{self.target}"


def other(domain: str) -> str:
  """The domain that is not `domain`."""
  if domain not in DOMAINS:
    raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
  return DOMAINS[1 - DOMAINS.index(domain)]


DIRECTIONS = {d.name: d for d in (Direction(s, other(s)) for s in DOMAINS)}


def direction(name: str) -> Direction:
  """'a2b' or 'b2a' -> its Direction.

  Raises:
    ValueError: another name.
  """
  if name not in DIRECTIONS:
    raise ValueError(f"direction must be one of {sorted(DIRECTIONS)}, got {name!r}")
  return DIRECTIONS[name]
