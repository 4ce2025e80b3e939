"""``vics.json``: the case as a Project VIC VICS 2.0 JSON document (OData envelope of one
Case holding its Media), re-importable by the hub's own VICS importer.

Categories are written only when they mean the same in Project VIC: as they are when the
agency uses the Project VIC US scheme, and only the non-pertinent code otherwise (the other
codes of the legacy and UK CAID schemes have no one-to-one Project VIC equivalent). An
unmapped category is left out and named in ``Comments`` with its scheme."""

from __future__ import annotations

import json

from hub.policy import CATEGORY_SCHEMES
from triage.exports.selectors import item_rows

VICS_CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases"
SOURCE_APPLICATION = "Triage Hub"
# Codes of other schemes with an obvious Project VIC US equivalent.
TO_PROJECTVIC = {
    "legacy": {"5": 0},  # Non-pertinent
    "uk_caid": {"NP": 0},  # Non-pertinent
}


def projectvic_category(scheme: str, code: str, labels: dict) -> tuple[int | None, str]:
    """``(Project VIC code or None, comment)`` for ``code`` in the agency's ``scheme``."""
    if not code:
        return None, ""
    if scheme == "projectvic_us" and code.isdigit():
        return int(code), ""
    mapped = TO_PROJECTVIC.get(scheme, {}).get(code)
    if mapped is not None:
        return mapped, ""
    label = labels.get(code, code)
    return None, (
        f"Category {code} ({label}) in the agency's {scheme} scheme has no Project VIC "
        "equivalent; Category left out."
    )


def write_vics(job, path) -> dict:
    """Write ``vics.json``; return ``{"media": n, "precategorized": n}``."""
    policy = job.agency.policy
    scheme = policy.category_scheme
    labels = dict(policy.categories or CATEGORY_SCHEMES.get(scheme, []))
    media = []
    for row in item_rows(job):
        item, blob = row.item, row.item.blob
        if blob is None:  # refused before it was stored: no hashes to report
            continue
        entry = {
            "MediaID": len(media) + 1,
            "MD5": blob.md5,
            "SHA1": blob.sha1,
        }
        category, comment = projectvic_category(scheme, item.category, labels)
        if category is not None:
            entry["Category"] = category
        entry["IsPrecategorized"] = item.is_precategorized
        if item.precategorization_source:
            entry["PrecategorizationSource"] = item.precategorization_source
        entry["RelativeFilePath"] = row.relative_path
        entry["MediaSize"] = blob.size
        alternatives = []
        if item.pdq:
            alternatives.append({"HashName": "PDQ", "HashValue": item.pdq})
        alternatives.append({"HashName": "SHA256", "HashValue": blob.sha256})
        entry["AlternativeHashes"] = alternatives
        if comment:
            entry["Comments"] = comment
        media.append(entry)
    precategorized = sum(1 for m in media if m["IsPrecategorized"])
    document = {
        "@odata.context": VICS_CONTEXT,
        "value": [
            {
                "CaseID": str(job.case.uuid),
                "CaseNumber": job.case.reference,
                "TotalMediaFiles": len(media),
                "TotalPrecategorized": precategorized,
                "SourceApplicationName": SOURCE_APPLICATION,
                "Media": media,
            }
        ],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    return {"media": len(media), "precategorized": precategorized}
