"""Hash-list pages: list, create, a new list from the agency's confirmed decisions, detail
(entries, imports, settings), import, export, edit, share and tombstone.

Who sees what: supervisors and admins see their agency's lists; admins change them. A hub
operator (with no agency) manages hub-wide lists. A list shared with the agency, or
published hub-wide, is visible read-only as its name and per-category counts only: never
its entries, source references, creator or owner."""

from __future__ import annotations

import json
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hub.access import agency_required, two_factor_satisfied
from hub.audit import audit_record
from hub.models import Agency, Role
from triage.matching import exporters
from triage.matching.importers import FORMATS, hashimport_create, progress_of
from triage.matching.lists import (
    HashListError,
    category_counts,
    hashlist_create,
    hashlist_from_decisions,
    hashlist_share,
    hashlist_tombstone,
    hashlist_update,
    usable_lists,
)
from triage.models.matching import HashEntry, HashImport, HashList, RematchJob, Scheme

# --- access ----------------------------------------------------------------------------


def hashlist_access(role: str):
    """Agency members with ``role`` act on their agency's lists; a hub operator without an
    agency acts on hub-wide lists. Sets ``request.list_owner`` (Agency or None) and
    ``request.can_manage_lists``."""

    def decorator(view):
        agency_view = agency_required(role)(view)

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if (
                user.is_authenticated
                and user.is_hub_operator
                and getattr(request, "membership", None) is None
                and two_factor_satisfied(user)
            ):
                request.list_owner = None
                request.can_manage_lists = True
                return view(request, *args, **kwargs)
            membership = getattr(request, "membership", None)
            request.list_owner = getattr(request, "agency", None)
            request.can_manage_lists = membership is not None and membership.has_role(Role.ADMIN)
            return agency_view(request, *args, **kwargs)

        wrapper.required_role = role
        return wrapper

    return decorator


def owned_lists(request):
    return HashList.objects.filter(agency=request.list_owner)


def get_owned_list_or_404(request, list_uuid) -> HashList:
    try:
        return owned_lists(request).get(uuid=list_uuid)
    except (HashList.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None


# --- forms -----------------------------------------------------------------------------


class HashListForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    scheme = forms.ChoiceField(choices=Scheme.choices, label="Category scheme")
    category_map = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Category map (JSON)",
        help_text="Required when the list's scheme differs from your agency's, e.g. "
        '{"0": "5", "1": "1"} (legacy 0 is uncategorised; Project VIC 0 is non-pertinent).',
    )
    pdq_threshold = forms.IntegerField(
        min_value=0,
        max_value=128,
        initial=31,
        label="PDQ match distance (bits, reference 31)",
        help_text="Bits that may differ for a near match; the PDQ reference is 31.",
    )
    pdq_quality_min = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=50,
        label="PDQ minimum quality",
        help_text="Hashes of lower quality (0-100) are not matched; the PDQ reference ignores "
        "those below 50.",
    )
    is_active = forms.BooleanField(
        required=False, initial=True, label="Active: match items against this list"
    )

    def clean_category_map(self):
        raw = (self.cleaned_data.get("category_map") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Enter a JSON object such as {"1": "A"}.')
        return {str(k): (v if isinstance(v, dict) else str(v)) for k, v in value.items()}


class FromDecisionsForm(forms.Form):
    name = forms.CharField(max_length=200)


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=list(FORMATS.items()), initial="auto")
    hex64 = forms.ChoiceField(
        choices=[("sha256", "SHA-256"), ("pdq", "PDQ")],
        initial="sha256",
        label="64-character hashes in text files are",
    )


# --- pages -----------------------------------------------------------------------------


def _progress_context(request):
    lists = owned_lists(request)
    imports = list(
        HashImport.objects.filter(hash_list__in=lists)
        .select_related("hash_list")
        .order_by("-created_at")[:10]
    )
    for imp in imports:
        imp.live_processed, imp.live_total = progress_of(imp)
    rematches = list(
        RematchJob.objects.filter(hash_list__in=lists)
        .select_related("hash_list")
        .order_by("-created_at")[:10]
    )
    running = any(i.status in ("pending", "running") for i in imports) or any(
        r.status in ("pending", "running") for r in rematches
    )
    return {"imports": imports, "rematches": rematches, "running": running}


@hashlist_access(Role.SUPERVISOR)
def hashlist_list(request):
    ctx = _progress_context(request)
    if request.GET.get("fragment") == "progress":
        return render(request, "triage/hashlists/_progress.html", ctx)
    own = owned_lists(request).annotate(
        live=Count("entries", filter=Q(entries__deleted_at__isnull=True))
    )
    received = []
    if request.list_owner is not None:
        received = [
            {"list": hl, "categories": category_counts(hl)}
            for hl in usable_lists(request.list_owner).exclude(agency=request.list_owner)
        ]
    ctx.update({"own": own, "received": received})
    return render(request, "triage/hashlists/list.html", ctx)


@hashlist_access(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def hashlist_create_view(request):
    if not request.can_manage_lists:
        raise PermissionDenied
    form = HashListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            hash_list = hashlist_create(
                agency=request.list_owner,
                user=request.user,
                name=data["name"],
                description=data["description"],
                scheme=data["scheme"],
                category_map=data["category_map"],
                pdq_threshold=data["pdq_threshold"],
                pdq_quality_min=data["pdq_quality_min"],
                request=request,
            )
        except HashListError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Hash list “{hash_list.name}” created.")
            return redirect("triage:hashlist_detail", hashlist=hash_list.uuid)
    return render(request, "triage/hashlists/create.html", {"form": form})


@hashlist_access(Role.ADMIN)
@require_POST
def hashlist_from_decisions_view(request):
    """A new agency-own list from the items this agency's reviewers graded (never the
    auto-graded ones, nor undone decisions). Needs an agency: a hub operator has none."""
    if request.list_owner is None or not request.can_manage_lists:
        raise PermissionDenied("Only an agency admin may build a list from its decisions.")
    form = FromDecisionsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the new list a name.")
        return redirect("triage:hashlist_list")
    try:
        hash_list = hashlist_from_decisions(
            agency=request.list_owner,
            user=request.user,
            name=form.cleaned_data["name"],
            request=request,
        )
    except HashListError as exc:
        messages.error(request, str(exc))
        return redirect("triage:hashlist_list")
    live = HashEntry.objects.filter(hash_list=hash_list, deleted_at__isnull=True).count()
    messages.success(
        request, f"Hash list “{hash_list.name}” created from your decisions ({live} entries)."
    )
    return redirect("triage:hashlist_detail", hashlist=hash_list.uuid)


@hashlist_access(Role.SUPERVISOR)
@require_http_methods(["GET"])
def hashlist_detail(request, hashlist):
    try:
        hash_list = owned_lists(request).get(uuid=hashlist)
    except (HashList.DoesNotExist, ValueError):
        hash_list = None
    if hash_list is None:
        # A list shared with this agency (or hub-wide): name and category counts only.
        if request.list_owner is None:
            raise Http404("Not found")
        try:
            shared = (
                usable_lists(request.list_owner)
                .exclude(agency=request.list_owner)
                .get(uuid=hashlist)
            )
        except (HashList.DoesNotExist, ValueError):
            raise Http404("Not found") from None
        return render(
            request,
            "triage/hashlists/shared.html",
            {"hash_list": shared, "categories": category_counts(shared)},
        )
    entries = HashEntry.objects.filter(hash_list=hash_list).order_by("deleted_at", "-id")
    query = (request.GET.get("q") or "").strip().lower()
    if query:
        entries = entries.filter(
            Q(md5=query) | Q(sha1=query) | Q(sha256=query) | Q(pdq=query) | Q(series=query)
        )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    settings_form = HashListForm(
        initial={
            "name": hash_list.name,
            "description": hash_list.description,
            "scheme": hash_list.scheme,
            "category_map": json.dumps(hash_list.category_map) if hash_list.category_map else "",
            "pdq_threshold": hash_list.pdq_threshold,
            "pdq_quality_min": hash_list.pdq_quality_min,
            "is_active": hash_list.is_active,
        }
    )
    agencies = (
        Agency.objects.filter(is_active=True).exclude(id=hash_list.agency_id)
        if hash_list.agency_id
        else Agency.objects.none()
    )
    shared_ids = set(hash_list.shared_with.values_list("id", flat=True))
    return render(
        request,
        "triage/hashlists/detail.html",
        {
            "hash_list": hash_list,
            "page": page,
            "query": query,
            "categories": category_counts(hash_list),
            "imports": hash_list.imports.order_by("-created_at")[:10],
            "rematches": hash_list.rematches.order_by("-created_at")[:5],
            "settings_form": settings_form,
            "agencies": agencies,
            "shared_ids": shared_ids,
            "can_manage": request.can_manage_lists,
        },
    )


def _require_manager(request):
    if not request.can_manage_lists:
        raise PermissionDenied("Only an admin may change hash lists.")


@hashlist_access(Role.ADMIN)
@require_POST
def hashlist_edit(request, hashlist):
    hash_list = get_owned_list_or_404(request, hashlist)
    _require_manager(request)
    form = HashListForm(request.POST)
    if form.is_valid():
        try:
            hashlist_update(
                hash_list=hash_list, user=request.user, request=request, **form.cleaned_data
            )
        except HashListError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Settings saved; past items are being re-matched.")
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("triage:hashlist_detail", hashlist=hash_list.uuid)


@hashlist_access(Role.ADMIN)
@require_POST
def hashlist_share_view(request, hashlist):
    hash_list = get_owned_list_or_404(request, hashlist)
    _require_manager(request)
    wanted = request.POST.getlist("agencies")
    agencies = list(Agency.objects.filter(is_active=True, uuid__in=_uuids(wanted)))
    try:
        hashlist_share(
            hash_list=hash_list,
            user=request.user,
            agencies=agencies,
            share_all=request.POST.get("share_all") == "on",
            request=request,
        )
    except HashListError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Sharing updated ({len(agencies)} named agencies).")
    return redirect("triage:hashlist_detail", hashlist=hash_list.uuid)


def _uuids(values):
    import uuid

    out = []
    for value in values:
        try:
            out.append(uuid.UUID(value))
        except ValueError:
            continue
    return out


@hashlist_access(Role.ADMIN)
@require_POST
def hashlist_tombstone_view(request, hashlist):
    hash_list = get_owned_list_or_404(request, hashlist)
    _require_manager(request)
    values = (request.POST.get("hashes") or "").splitlines()
    result = hashlist_tombstone(
        hash_list=hash_list, user=request.user, values=values, request=request
    )
    messages.success(request, f"{result['tombstoned']} entries tombstoned.")
    if result["invalid"]:
        messages.warning(request, f"Not hashes, ignored: {', '.join(result['invalid'][:10])}")
    return redirect("triage:hashlist_detail", hashlist=hash_list.uuid)


@hashlist_access(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def hashlist_import(request, hashlist):
    hash_list = get_owned_list_or_404(request, hashlist)
    _require_manager(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            hashimport_create(
                hash_list=hash_list,
                user=request.user,
                uploaded_file=form.cleaned_data["file"],
                fmt=form.cleaned_data["format"],
                hex64=form.cleaned_data["hex64"],
                request=request,
            )
        except HashListError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Import queued: progress is shown below.")
            return redirect("triage:hashlist_detail", hashlist=hash_list.uuid)
    return render(request, "triage/hashlists/import.html", {"hash_list": hash_list, "form": form})


@hashlist_access(Role.SUPERVISOR)
@require_http_methods(["GET"])
def hashlist_export(request, hashlist):
    hash_list = get_owned_list_or_404(request, hashlist)
    fmt = request.GET.get("format", "vics")
    algorithm = request.GET.get("algorithm", "md5")
    if fmt not in exporters.EXPORTERS or algorithm not in ("md5", "sha1", "sha256", "pdq"):
        raise Http404("Unknown export format")
    with transaction.atomic():
        audit_record(
            "hashlist.exported",
            agency=hash_list.agency,
            actor=request.user,
            obj=hash_list,
            data={"format": fmt, "algorithm": algorithm if fmt == "text" else None},
            request=request,
        )
    content_type, extension, produce = exporters.EXPORTERS[fmt]
    response = StreamingHttpResponse(
        produce(hash_list, algorithm=algorithm), content_type=content_type
    )
    name = exporters.safe_file_name(hash_list.name)
    response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response
