"""The hash lookup page: paste hashes or drop a file (hashed in memory, never stored)."""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record
from hub.models import Role
from triage.matching.lookup import lookup_file, lookup_values


class LookupForm(forms.Form):
    hashes = forms.CharField(
        required=False,
        label="Hashes",
        widget=forms.Textarea(attrs={"rows": 6, "id": "lookup-hashes", "spellcheck": "false"}),
    )
    file = forms.FileField(
        required=False,
        label="Or a file",
        allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={"id": "lookup-file"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if not (data.get("hashes") or "").strip() and not data.get("file"):
            # On the field the reader types into, so the message sits where they look.
            self.add_error("hashes", "Paste at least one hash, or choose a file.")
        return data


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET", "POST"])
def lookup(request):
    rows = None
    form = LookupForm(request.POST or None, request.FILES or None)
    htmx = bool(request.headers.get("HX-Request")) and request.method == "POST"
    if request.method == "POST" and form.is_valid():
        rows = lookup_values(request.agency, form.cleaned_data["hashes"].splitlines())
        uploaded = form.cleaned_data["file"]
        if uploaded:
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
    elif request.method == "POST" and htmx:
        # htmx swaps the results area; an invalid form replaces the form instead (and
        # clears old results out of band), with 200 because htmx swaps no 4xx response.
        response = render(request, "triage/lookup/_form.html", {"form": form, "oob_clear": True})
        response["HX-Retarget"] = "#lookup-form"
        response["HX-Reswap"] = "outerHTML"
        return response
    ctx = {"rows": rows, "form": form}
    if htmx:
        # The form comes along out of band, so an error shown by an earlier submit goes.
        return render(request, "triage/lookup/_results.html", {**ctx, "form_oob": True})
    status = 400 if request.method == "POST" and rows is None else 200
    return render(request, "triage/lookup/lookup.html", ctx, status=status)
