"""Plain text and CSV lists of MD5, SHA-1, SHA-256 or PDQ hashes.

One hash per line, or CSV/TSV rows with a category column; a header row is optional
(``md5,sha1,sha256,pdq,category,series``). Without a header each cell is recognised by its
length and hex digits; 64 hex characters are ambiguous (SHA-256 or PDQ), so the importer
takes ``hex64`` ("sha256" or "pdq") from the person importing, and a header or a
``pdq:`` prefix overrides it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from triage.matching.hashes import classify, normalise
from triage.matching.importers.base import BadRow, ImportFileError, Record

HEADER_NAMES = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "pdq": "pdq",
    "pdq_quality": "pdq_quality",
    "quality": "pdq_quality",
    "category": "category",
    "cat": "category",
    "series": "series",
    "id": "source_ref",
    "ref": "source_ref",
}


def decode(data: bytes) -> str:
    if b"\x00" in data[:65536]:
        raise ImportFileError("This is not a text file (it holds NUL bytes).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"This text file is not UTF-8 (byte {exc.start} cannot be decoded)."
        ) from None


def _delimiter(line: str) -> str | None:
    for delim in (",", "\t", ";", "|"):
        if delim in line:
            return delim
    return None


def parse(text: str, *, hex64: str = "sha256") -> Iterator[Record | BadRow]:
    header: list[str] | None = None
    first_content = True
    for lineno, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        delim = _delimiter(line)
        cells = next(csv.reader([line], delimiter=delim)) if delim else [line]
        cells = [c.strip() for c in cells]
        if first_content:
            first_content = False
            names = [HEADER_NAMES.get(normalise(c)) for c in cells]
            if any(names) and not any(classify(c, hex64=hex64) for c in cells):
                unknown = [c for c, n in zip(cells, names, strict=True) if n is None]
                if unknown:
                    yield BadRow(lineno, f"unknown header columns ignored: {', '.join(unknown)}")
                header = [n or "" for n in names]
                continue
        yield _row(lineno, cells, header, hex64)


def _row(lineno: int, cells: list[str], header: list[str] | None, hex64: str):
    record = Record(line=lineno)
    if header is not None:
        if len(cells) > len(header):
            return BadRow(lineno, f"{len(cells)} columns but the header has {len(header)}")
        for name, value in zip(header, cells, strict=False):
            if not name or not value:
                continue
            if name == "pdq_quality":
                try:
                    record.pdq_quality = int(value)
                except ValueError:
                    return BadRow(lineno, f"PDQ quality is not a number: {value!r}")
            elif name in ("category", "series", "source_ref"):
                setattr(record, name, value[:200] if name != "category" else value[:20])
            else:
                found = classify(value, hex64=name if name in ("sha256", "pdq") else hex64)
                if found is None or found[0] != name:
                    return BadRow(lineno, f"{name.upper()} column holds no valid hash: {value!r}")
                setattr(record, name, found[1])
        return record
    others = []
    for value in cells:
        found = classify(value, hex64=hex64)
        if found is None:
            others.append(value)
            continue
        algo, hexval = found
        if getattr(record, algo):
            return BadRow(lineno, f"two {algo.upper()} hashes on one line")
        setattr(record, algo, hexval)
    if record.key() is None:
        return BadRow(lineno, f"no MD5, SHA-1, SHA-256 or PDQ hash: {cells[0][:80]!r}")
    if len(others) > 1:
        return BadRow(lineno, f"unrecognised columns: {', '.join(o[:40] for o in others)}")
    if others:
        record.category = others[0][:20]
    return record
