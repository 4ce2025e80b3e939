"""The hash lookup page: paste hashes or drop a file (hashed in memory, never stored)."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record
from hub.models import Role
from triage.matching.lookup import lookup_file, lookup_values


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET", "POST"])
def lookup(request):
    rows = None
    if request.method == "POST":
        values = (request.POST.get("hashes") or "").splitlines()
        rows = lookup_values(request.agency, values)
        uploaded = request.FILES.get("file")
        if uploaded is not None:
            rows.append(lookup_file(request.agency, uploaded))
        with transaction.atomic():
            audit_record(
                "hash.lookup",
                agency=request.agency,
                actor=request.user,
                object_type="HashLookup",
                data={
                    "values": [r.value for r in rows if r.kind != "file"][:100],
                    "file_sha256": [r.value for r in rows if r.kind == "file"],
                    "known": sum(1 for r in rows if r.hits),
                },
                request=request,
            )
    ctx = {"rows": rows}
    if request.headers.get("HX-Request") and request.method == "POST":
        return render(request, "triage/lookup/_results.html", ctx)
    return render(request, "triage/lookup/lookup.html", ctx)
