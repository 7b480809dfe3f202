"""Randomness that comes from the run, never from the global RNG.

Every draw derives from (seed, turn, purpose), so a replay, a resume, or a fork that
keeps the seed draws exactly what the original run drew, whatever order tasks ran in.
"""

from __future__ import annotations

import random
from hashlib import sha256


def derive_seed(seed: int, turn: int, purpose: str) -> int:
    """A 63-bit seed for one purpose in one turn of a run."""
    digest = sha256(f"{seed}:{turn}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def derive_rng(seed: int, turn: int, purpose: str) -> random.Random:
    return random.Random(derive_seed(seed, turn, purpose))


def llm_seed(seed: int, turn: int, purpose: str) -> int:
    """The seed sent to a model: 31 bits, which every provider accepts."""
    return derive_seed(seed, turn, purpose) % (2**31)
