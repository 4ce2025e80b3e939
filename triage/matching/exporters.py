"""Exports of a hash list: VICS 2.0 JSON, CSV and plain text, streamed row by row.

Tombstoned entries are not exported. Categories are written in the list's own scheme (the
scheme is named in the VICS envelope's ``CaseID`` note and the CSV header), because a
category code means nothing without its scheme."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

from triage.models.matching import HashEntry, HashList

VICS_CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/CUSTOM/$metadata#Cases"
CSV_COLUMNS = ["md5", "sha1", "sha256", "pdq", "pdq_quality", "category", "series"]


def _entries(hash_list: HashList):
    return (
        HashEntry.objects.filter(hash_list=hash_list, deleted_at__isnull=True)
        .order_by("id")
        .iterator(chunk_size=5000)
    )


def safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80] or "hash-list"


def _vics_category(code: str):
    return int(code) if code.isdigit() else (code or None)


def export_vics(hash_list: HashList, **_) -> Iterator[str]:
    head = {"@odata.context": VICS_CONTEXT}
    yield (
        json.dumps(head)[:-1]
        + ', "value": [{"CaseID": '
        + json.dumps(f"{hash_list.name} ({hash_list.get_scheme_display()})")
        + ', "Media": ['
    )
    first = True
    for n, entry in enumerate(_entries(hash_list), start=1):
        alternatives = []
        if entry.sha256:
            alternatives.append({"HashName": "SHA256", "HashValue": entry.sha256})
        if entry.pdq:
            alternatives.append({"HashName": "PDQ", "HashValue": entry.pdq})
        media = {
            "MediaID": n,
            "MD5": entry.md5 or None,
            "SHA1": entry.sha1 or None,
            "Category": _vics_category(entry.category),
            "IsPrecategorized": entry.is_precategorized,
            "VictimIdentified": entry.victim_identified,
            "Series": entry.series or None,
            "AlternativeHashes": alternatives,
        }
        yield ("" if first else ",\n") + json.dumps(media)
        first = False
    yield "]}]}\n"


def export_csv(hash_list: HashList, **_) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in _entries(hash_list):
        writer.writerow(
            [
                entry.md5,
                entry.sha1,
                entry.sha256,
                entry.pdq,
                "" if entry.pdq_quality is None else entry.pdq_quality,
                entry.category,
                entry.series,
            ]
        )
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_text(hash_list: HashList, *, algorithm: str = "md5", **_) -> Iterator[str]:
    """One hash of one algorithm per line (entries without it are left out)."""
    lines = []
    for entry in _entries(hash_list):
        value = getattr(entry, algorithm)
        if value:
            lines.append(value)
        if len(lines) >= 5000:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


EXPORTERS = {
    "vics": ("application/json", "json", export_vics),
    "csv": ("text/csv", "csv", export_csv),
    "text": ("text/plain", "txt", export_text),
}
