"""Expected endings of media work, each with a reason written for a person."""

from __future__ import annotations


class MediaError(Exception):
    """The file could not be analysed; ``str(exc)`` says why in plain words."""


class MediaDamaged(MediaError):
    """Corrupt, truncated or not what its header claims."""


class MediaRefused(MediaError):
    """Over a limit, or hostile (a decompression bomb): deliberately not opened."""
