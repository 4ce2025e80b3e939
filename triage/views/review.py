"""The review screen: one item at a time, keyboard first, blurred and grayscale until the
reviewer reveals it. The same views return the item panel for htmx or the full page.

Reads go through ``triage.review.selectors`` and writes through ``triage.review.service``;
objects in URLs are loaded through ``triage.access`` (another agency's item is a 404)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods

from hub.access import agency_required, get_scoped_or_404, has_role
from hub.models import Role
from triage.access import case_for, item_for, visible_cases
from triage.models import Derivative, ReviewDecision
from triage.review import selectors, service
from triage.review.service import ReviewError

HISTORY_KEY = "review_history"
HISTORY_MAX = 50


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _url_or_blank(name: str, **kwargs) -> str:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return ""


def _history(request) -> list[str]:
    return list(request.session.get(HISTORY_KEY, []))


def _remember(request, item) -> None:
    history = _history(request)
    key = str(item.uuid)
    if key in history:
        return
    history.append(key)
    request.session[HISTORY_KEY] = history[-HISTORY_MAX:]


def _grade_keys(categories) -> list[dict]:
    """Digits grade: the code itself when every code is one digit (Project VIC, legacy),
    else the position (1, 2, 3 … for UK CAID A, B, C, NP)."""
    single = all(len(code) == 1 and code.isdigit() for code, _ in categories)
    return [
        {"code": code, "label": label, "key": code if single else str(n + 1)}
        for n, (code, label) in enumerate(categories)
    ]


def _view_prefs(request) -> dict:
    return selectors.viewing_prefs(request.user, request.agency)


def _media(item, prefs: dict) -> dict:
    """What the browser loads: ``thumb_url`` at once and ``reveal_url`` only on a reveal.
    Blurred (the default): the server-blurred grayscale derivative first, the sharp one
    (thumbnail, or a video's contact sheet) on reveal, so that no sharp pixel reaches the
    browser before a counted reveal. An item made before blurred derivatives existed
    falls back to the sharp one behind the CSS blur. Not blurred: the sharp one."""
    derivatives = {d.kind: d for d in item.derivatives.all()}
    sharp_order = (
        (Derivative.Kind.CONTACT_SHEET, Derivative.Kind.THUMB)
        if item.media_kind == "video"
        else (Derivative.Kind.THUMB, Derivative.Kind.CONTACT_SHEET)
    )
    sharp = next((derivatives[k] for k in sharp_order if k in derivatives), None)
    blurred = derivatives.get(Derivative.Kind.BLURRED)
    if prefs["blur"]:
        shown = blurred or sharp
        reveal = sharp if shown is not sharp else None
    else:
        shown, reveal = sharp or blurred, None

    def url(derivative) -> str:
        if derivative is None:
            return ""
        return _url_or_blank("triage:item_thumb", item=item.uuid, kind=derivative.kind)

    video_url = ""
    if item.media_kind == "video":
        video_url = _url_or_blank("triage:item_original", item=item.uuid)
    return {"thumb_url": url(shown), "reveal_url": url(reveal), "video_url": video_url}


def _with_label(decision, categories: dict):
    decision.category_label = categories.get(decision.category, "")
    return decision


def _panel_context(
    request, item, *, case=None, status: str = "", status_kind: str = "info", undo=None
):
    agency = request.agency
    policy = agency.policy
    categories = dict(policy.categories)
    undo = undo or selectors.last_undoable(request.user, agency)
    ctx = {
        "case": case,
        "scope_url": (
            reverse("triage:review_case", kwargs={"case": case.uuid})
            if case
            else reverse("triage:review")
        ),
        "status": status,
        "status_kind": status_kind,
        "prefs": _view_prefs(request),
        "exposure": selectors.exposure_today(request.user, agency),
        "undo": undo,
        "undo_seconds": policy.undo_seconds,
        "counts": selectors.queue_counts(request.user, agency, case),
        "is_supervisor": has_role(request, Role.SUPERVISOR),
        "grades": _grade_keys(policy.categories),
        "item": item,
    }
    if undo is not None:
        label = categories.get(undo.category, "")
        ctx["undo_label"] = f"{undo.category} · {label}" if label else undo.category
    if item is None:
        return ctx
    history = _history(request)
    key = str(item.uuid)
    position = history.index(key) if key in history else len(history)
    members = selectors.group_members(item) if item.group_id else []
    ctx.update(
        {
            "media": _media(item, ctx["prefs"]),
            "decisions": [_with_label(d, categories) for d in selectors.item_decisions(item)],
            "matches": selectors.item_matches(item),
            "scores": list(item.scores.order_by("-score")[:3]),
            "group_size": len(members),
            "is_current": item.claimed_by_id == request.user.pk,
            "prev_uuid": history[position - 1] if position > 0 else "",
            "next_uuid": history[position + 1] if position + 1 < len(history) else "",
            "categories": categories,
        }
    )
    return ctx


def _render(request, ctx, *, status=200):
    template = "triage/review/_panel.html" if _is_htmx(request) else "triage/review/page.html"
    ctx["oob"] = _is_htmx(request)
    return render(request, template, ctx, status=status)


def _review_page(request, case=None):
    wanted = request.GET.get("item")
    if wanted:
        item = item_for(request, wanted)
    else:
        item = service.review_claim(user=request.user, agency=request.agency, case=case)
    if item is not None:
        item = (
            type(item)
            .objects.select_related("case", "group", "blob", "agency")
            .prefetch_related("derivatives")
            .get(pk=item.pk)
        )
        _remember(request, item)
    return _render(request, _panel_context(request, item, case=case))


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def review(request):
    """The queue across every case the reviewer may see."""
    return _review_page(request)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def review_case(request, case):
    """The queue of one case."""
    return _review_page(request, case_for(request, case))


def _scope_case(request):
    scope = request.POST.get("scope") or request.GET.get("scope")
    return case_for(request, scope) if scope else None


def _next_panel(request, case, status, status_kind="ok", *, undo=None):
    """Claim and render the next item; ``undo`` is the decision just made (it is the
    last undoable one, so the panel need not look it up)."""
    item = service.review_claim(user=request.user, agency=request.agency, case=case)
    if item is not None:
        item = (
            type(item)
            .objects.select_related("case", "group", "blob", "agency")
            .prefetch_related("derivatives")
            .get(pk=item.pk)
        )
        _remember(request, item)
    ctx = _panel_context(
        request, item, case=case, status=status, status_kind=status_kind, undo=undo
    )
    return _render(request, ctx)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def review_decide(request, item):
    item = item_for(request, item, related=("case", "agency", "group"))
    case = _scope_case(request)
    category = request.POST.get("category", "")
    note = request.POST.get("note", "").strip()[:2000]
    try:
        decision = service.review_decide(
            item=item, user=request.user, category=category, note=note, request=request
        )
    except ReviewError as exc:
        if not _is_htmx(request):
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("triage:review"))
        ctx = _panel_context(request, item, case=case, status=str(exc), status_kind="error")
        return _render(request, ctx, status=409)
    label = dict(request.agency.policy.categories).get(decision.category, decision.category)
    status = f"Graded {decision.category} · {label}"
    if decision.items_covered > 1:
        status += f" for all {decision.items_covered} items of the group"
    if item.review_state == "second_review":  # set by the service
        status += ". A second reviewer will confirm it"
    elif item.review_state == "conflict":
        status += ". It differs from the earlier grade: a supervisor will resolve it"
    status += ". Press u to undo."
    if not _is_htmx(request):
        messages.success(request, status)
        url = reverse("triage:review_case", kwargs={"case": case.uuid}) if case else None
        return HttpResponseRedirect(url or reverse("triage:review"))
    return _next_panel(request, case, status, undo=decision)


def _decision_for(request, decision_uuid) -> ReviewDecision:
    decisions = ReviewDecision.objects.filter(item__case__in=visible_cases(request)).select_related(
        "item", "agency"
    )
    return get_scoped_or_404(request, decisions, uuid=decision_uuid)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def review_undo(request, decision):
    decision = _decision_for(request, decision)
    case = _scope_case(request)
    try:
        item = service.review_undo(decision=decision, user=request.user, request=request)
    except (ReviewError, PermissionDenied) as exc:
        if isinstance(exc, PermissionDenied) and not _is_htmx(request):
            raise
        ctx = _panel_context(
            request, decision.item, case=case, status=str(exc), status_kind="error"
        )
        return _render(request, ctx, status=409)
    item = (
        type(item)
        .objects.select_related("case", "group", "blob", "agency")
        .prefetch_related("derivatives")
        .get(pk=item.pk)
    )
    _remember(request, item)
    ctx = _panel_context(request, item, case=case, status="Decision undone. Grade it again.")
    return _render(request, ctx)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def review_group(request, item):
    """The members of an item's group as blurred tiles (htmx fragment)."""
    item = item_for(request, item)
    members = selectors.group_members(item)
    prefs = _view_prefs(request)
    tiles = []
    for member in members:
        media = _media(member, prefs)
        tiles.append({"item": member, **media})
    return render(
        request,
        "triage/review/_group.html",
        {"item": item, "tiles": tiles, "prefs": prefs, "scope": request.GET.get("scope", "")},
    )


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def review_split(request, item):
    item = item_for(request, item)
    try:
        service.group_split(item=item, user=request.user, request=request)
    except ReviewError as exc:
        return JsonResponse({"ok": False, "message": str(exc)}, status=409)
    if _is_htmx(request):
        return render(
            request,
            "triage/review/_split_done.html",
            {"item": item, "message": "Taken out of the group; it will be reviewed on its own."},
        )
    messages.success(request, "Taken out of the group; it will be reviewed on its own.")
    return HttpResponseRedirect(reverse("triage:review"))


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def review_exposure(request, item):
    """Sent by review.js when a revealed item is re-blurred or left, and after a video
    play, with the duration in milliseconds."""
    item = item_for(request, item)
    kind = request.POST.get("kind", "reveal")
    try:
        duration = int(request.POST.get("duration_ms", "0"))
    except ValueError:
        duration = 0
    try:
        service.exposure_record(
            user=request.user, item=item, kind=kind, duration_ms=duration, request=request
        )
    except ReviewError as exc:
        return JsonResponse({"ok": False, "message": str(exc)}, status=400)
    return JsonResponse({"ok": True, **selectors.exposure_today(request.user, request.agency)})


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def review_preferences(request):
    """Personal override of the agency's blur and grayscale defaults."""
    service.review_preferences_set(
        user=request.user,
        blur=request.POST.get("blur") == "on",
        grayscale=request.POST.get("grayscale") == "on",
    )
    messages.success(request, "Your viewing preferences were saved.")
    target = request.POST.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("triage:review")
    return HttpResponseRedirect(target)


@agency_required(Role.SUPERVISOR)
@require_http_methods(["POST"])
def review_add_to_list(request, item):
    """Add a reviewed item's hashes and category to the agency's own list."""
    item = item_for(request, item)
    try:
        hash_list = service.hashlist_add_confirmed(items=[item], user=request.user, request=request)
    except ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Added to “{hash_list.name}” (version {hash_list.version}).")
    return HttpResponseRedirect(
        _url_or_blank("triage:item_detail", item=item.uuid) or reverse("triage:review")
    )


@agency_required(Role.SUPERVISOR)
@require_http_methods(["GET"])
def review_conflicts(request):
    """Items whose reviewers disagreed, for a supervisor."""
    rows = []
    for item in selectors.conflicts_for(request.agency)[:200]:
        live = [d for d in item.decisions.all() if d.undone_at is None and d.kind != "auto"]
        rows.append({"item": item, "decisions": live})
    return render(
        request,
        "triage/review/conflicts.html",
        {"rows": rows, "categories": dict(request.agency.policy.categories)},
    )
