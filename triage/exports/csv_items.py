"""``items.csv``: one row per evidence item of the export, failed ones included.

Text that came from the seized media (paths, names) is written as received, except that a
cell starting with ``= + - @`` or a tab gets a leading apostrophe, so that a spreadsheet
does not run it as a formula (the raw values are in ``vics.json``)."""

from __future__ import annotations

import csv

from triage.exports.selectors import item_rows

COLUMNS = [
    "exhibit",
    "path",
    "original_name",
    "size",
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "pdq_quality",
    "media_type",
    "status",
    "failure_reason",
    "known_state",
    "matched_lists",
    "category",
    "decided_by",
    "decided_at",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def write_items_csv(job, path, on_row=None) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in item_rows(job):
            item, blob = row.item, row.item.blob
            writer.writerow(
                [
                    cell(row.exhibit),
                    cell(item.path),
                    cell(item.original_name),
                    item.size,
                    blob.md5 if blob else "",
                    blob.sha1 if blob else "",
                    blob.sha256 if blob else "",
                    item.pdq,
                    "" if item.pdq_quality is None else item.pdq_quality,
                    item.media_type,
                    item.status,
                    cell(item.failure_reason),
                    item.known_state,
                    cell("; ".join(row.match_lists)),
                    item.category,
                    cell(row.decided_by),
                    row.decided_at.isoformat() if row.decided_at else "",
                ]
            )
            rows += 1
            if on_row is not None:
                on_row(rows)
    return rows
