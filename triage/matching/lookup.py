"""Hash lookup: is this hash (or this file) known to any list the agency may use?

The answer names only the list and the category in the agency's own scheme, and the
distance for PDQ: never which entry, source reference, creator or owning agency."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from triage.matching.hashes import classify, pdq_hex
from triage.matching.index import hex_to_bytes
from triage.matching.lists import usable_lists
from triage.models.matching import HashEntry, receiving_category

MAX_VALUES = 1000


@dataclass
class LookupHit:
    list_name: str
    category: str
    algorithm: str
    distance: int


@dataclass
class LookupRow:
    value: str
    kind: str = ""
    hits: list[LookupHit] = field(default_factory=list)
    error: str = ""
    quality: int | None = None


def lookup_values(agency, raw_values: list[str], *, pdq_quality: int | None = None) -> list:
    """Look up pasted hashes; 64 hex characters are tried as SHA-256 and as PDQ."""
    rows: list[LookupRow] = []
    for raw in raw_values:
        value = raw.strip()
        if not value:
            continue
        if len(rows) >= MAX_VALUES:
            break
        found = classify(value)
        if found is None:
            rows.append(LookupRow(value[:100], error="not an MD5, SHA-1, SHA-256 or PDQ hash"))
            continue
        algo, hexval = found
        explicit = ":" in value
        kind = algo.upper() if explicit or algo != "sha256" else "SHA-256 / PDQ"
        row = LookupRow(hexval, kind=kind, quality=pdq_quality)
        row._exact = [] if algo == "pdq" else [(algo, hexval)]  # type: ignore[attr-defined]
        row._pdq = (
            [hexval]
            if algo in ("pdq", "sha256")
            and not (  # type: ignore[attr-defined]
                explicit and algo == "sha256"
            )
            else []
        )
        rows.append(row)
    _resolve(agency, rows)
    return rows


def lookup_file(agency, uploaded) -> LookupRow:
    """Hash an uploaded file in memory (or its temporary upload file); nothing is stored."""
    md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    for chunk in uploaded.chunks():
        md5.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
    row = LookupRow(getattr(uploaded, "name", "file")[:200], kind="file")
    row._exact = [  # type: ignore[attr-defined]
        ("md5", md5.hexdigest()),
        ("sha1", sha1.hexdigest()),
        ("sha256", sha256.hexdigest()),
    ]
    row._pdq = []  # type: ignore[attr-defined]
    try:
        hashes, quality = _pdq_of(uploaded)
    except Exception:  # not an image Pillow can read: exact hashes only
        hashes, quality = [], None
    row._pdq = hashes  # type: ignore[attr-defined]
    row.quality = quality
    row.value = f"{row.value} (SHA-256 {sha256.hexdigest()})"
    _resolve(agency, [row])
    return row


def _pdq_of(uploaded) -> tuple[list[str], int]:
    import pdqhash
    from PIL import Image, ImageOps

    uploaded.seek(0)
    with Image.open(uploaded) as image:
        image.draft("RGB", (1024, 1024))
        image = ImageOps.exif_transpose(image).convert("RGB")
        pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    vectors, quality = pdqhash.compute_dihedral(pixels)
    hashes = [pdq_hex(v) for v in vectors]
    return hashes, int(quality)


def _resolve(agency, rows: list[LookupRow]) -> None:
    from triage.matching.service import index_for

    lists = list(usable_lists(agency))
    by_id = {hl.id: hl for hl in lists}
    hits: dict[int, list[tuple[int, str, int]]] = {}  # row -> (entry id, algo, distance)
    by_algo: dict[str, dict[str, list[int]]] = {}
    for n, row in enumerate(rows):
        for algo, value in getattr(row, "_exact", []):
            by_algo.setdefault(algo, {}).setdefault(value, []).append(n)
    for algo, values in by_algo.items():
        for entry_id, value in HashEntry.objects.filter(
            hash_list_id__in=list(by_id), deleted_at__isnull=True, **{f"{algo}__in": list(values)}
        ).values_list("id", algo):
            for n in values[value]:
                hits.setdefault(n, []).append((entry_id, algo, 0))
    queries = [(n, h) for n, row in enumerate(rows) for h in getattr(row, "_pdq", [])]
    if queries and lists:
        index = index_for(lists)
        radius = max(hl.pdq_threshold for hl in lists)
        result = index.index.range_search(hex_to_bytes([h for _, h in queries]), radius)
        best: dict[tuple[int, int], int] = {}
        for q, pos, dist in zip(
            result.query.tolist(), result.ids.tolist(), result.distances.tolist(), strict=True
        ):
            n = queries[q][0]
            hash_list = by_id[int(index.list_ids[pos])]
            quality = rows[n].quality
            if dist > hash_list.pdq_threshold:
                continue
            if quality is not None and quality < hash_list.pdq_quality_min:
                continue
            key = (n, int(index.entry_ids[pos]))
            best[key] = min(dist, best.get(key, dist))
        for (n, entry_id), dist in best.items():
            hits.setdefault(n, []).append((entry_id, "pdq", dist))
    entry_ids = {e for found in hits.values() for e, _, _ in found}
    entries = HashEntry.objects.in_bulk(list(entry_ids)) if entry_ids else {}
    for n, found in hits.items():
        for entry_id, algo, dist in sorted(found, key=lambda h: h[2]):
            entry = entries[entry_id]
            hash_list = by_id[entry.hash_list_id]
            code, label = receiving_category(hash_list, entry.category, agency)
            rows[n].hits.append(
                LookupHit(
                    list_name=hash_list.name,
                    category=f"{code} · {label}" if code else label,
                    algorithm="PDQ" if algo == "pdq" else algo.upper(),
                    distance=dist,
                )
            )
