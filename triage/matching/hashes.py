"""Recognising and normalising hash strings (no Django here)."""

from __future__ import annotations

import re

# One text form of PDQ for the whole hub: the pipeline's (first bit most significant, as
# python-threatexchange and the PDQ reference write it).
from triage.media.pdq import to_hex as pdq_hex  # noqa: F401

HEX = re.compile(r"^[0-9a-f]+$")
LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}  # 64 hex is also a PDQ: see ``classify``
ALGORITHMS = ("md5", "sha1", "sha256", "pdq")
PREFIXES = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "pdq": "pdq",
}


def normalise(value: str) -> str:
    return (value or "").strip().lower()


def is_hex(value: str, length: int) -> bool:
    return len(value) == length and bool(HEX.match(value))


def classify(value: str, *, hex64: str = "sha256") -> tuple[str, str] | None:
    """``(algorithm, normalised value)`` or None when the string is no hash we know.

    A 64-hex string is both a SHA-256 and a PDQ hash: ``hex64`` says which to assume, and an
    explicit prefix (``pdq:…``, ``sha256:…``) always wins."""
    value = normalise(value)
    if ":" in value:
        prefix, _, rest = value.partition(":")
        algo = PREFIXES.get(prefix.strip())
        rest = rest.strip()
        if algo is None:
            return None
        expected = 64 if algo == "pdq" else {"md5": 32, "sha1": 40, "sha256": 64}[algo]
        return (algo, rest) if is_hex(rest, expected) else None
    if not HEX.match(value or "-"):
        return None
    algo = LENGTHS.get(len(value))
    if algo is None:
        return None
    if len(value) == 64:
        algo = hex64
    return algo, value
