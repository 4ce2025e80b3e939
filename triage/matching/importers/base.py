"""What every importer yields, and the errors they raise.

An importer turns a file into a stream of ``Record`` (one known file, or a tombstone) and
``BadRow`` (a row it could not read, with its line number). A row problem never aborts an
import; a file that cannot be read as its format raises ``ImportFileError`` and the whole
import changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from triage.matching.hashes import is_hex, normalise


class ImportFileError(Exception):
    """The file is not a readable file of its format (nothing is imported)."""


@dataclass(slots=True)
class Record:
    line: int
    md5: str = ""
    sha1: str = ""
    sha256: str = ""
    pdq: str = ""
    pdq_quality: int | None = None
    category: str = ""
    series: str = ""
    victim_identified: bool | None = None
    is_precategorized: bool = True
    source_ref: str = ""
    delete: bool = False  # a tombstone (NCMEC deletedImage)

    def key(self) -> tuple[str, str] | None:
        """The identity of the entry inside a list: the strongest hash present."""
        for algo in ("md5", "sha1", "sha256", "pdq"):
            value = getattr(self, algo)
            if value:
                return algo, value
        return None


@dataclass(slots=True)
class BadRow:
    line: int
    reason: str


HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}


def clean_hashes(record: Record) -> str | None:
    """Normalise the record's hashes in place; the reason it is bad, or None."""
    for algo, length in HASH_LENGTHS.items():
        value = normalise(getattr(record, algo))
        if value and not is_hex(value, length):
            return f"{algo.upper()} is not {length} hexadecimal characters: {value[:80]!r}"
        setattr(record, algo, value)
    if record.delete:
        if not (record.source_ref or record.key()):
            return "tombstone without an id or a hash"
        return None
    if record.key() is None:
        return "no MD5, SHA-1, SHA-256 or PDQ hash"
    return None
