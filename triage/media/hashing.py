"""Cryptographic hashes in one streaming pass (MD5, SHA-1 and SHA-256 together)."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

CHUNK = 1024 * 1024


class MultiHasher:
    """Feeds every chunk to the three hashes at once; counts the bytes."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._sha1 = hashlib.sha1()
        self._sha256 = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._sha1.update(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)

    def result(self) -> dict:
        return {
            "md5": self._md5.hexdigest(),
            "sha1": self._sha1.hexdigest(),
            "sha256": self._sha256.hexdigest(),
            "size": self.size,
        }


def hash_stream(stream: BinaryIO) -> dict:
    """``{"md5", "sha1", "sha256", "size"}`` of everything left in ``stream``."""
    hasher = MultiHasher()
    while chunk := stream.read(CHUNK):
        hasher.update(chunk)
    return hasher.result()


def crypto_hashes(path) -> dict:
    with open(path, "rb") as f:
        return hash_stream(f)
