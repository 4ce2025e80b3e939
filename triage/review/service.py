"""Review services (every write of the review area).

CONTRACT used by the pipeline's Prioritise stage (the last stage):
    prioritise_items(items: list[EvidenceItem]) -> None
Computes priority + reasons from the item's signals and the agency's weights,
auto-grades exact known matches per policy, groups near-duplicates within the case, and
puts reviewable items in the queue (review_state=QUEUED). Idempotent.

The other services are what a reviewer does: claim the next item (a lease), decide,
undo, split a group, record exposure, add confirmed decisions to the agency's own list.
Each write and its audit row share one transaction."""

from __future__ import annotations

import hashlib
import weakref
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from hub.audit import audit_record
from hub.models import Membership, Role
from triage.models import (
    ClassifierScore,
    EvidenceItem,
    ExposureEvent,
    HashEntry,
    HashList,
    ItemStatus,
    KnownState,
    Match,
    MediaKind,
    ReviewDecision,
    ReviewState,
)
from triage.models.matching import receiving_category
from triage.review import selectors
from triage.review.grouping import regroup_cases
from triage.review.priority import Signals, compute_priority

NOT_REVIEWABLE_STATUS = (
    ItemStatus.FAILED,
    ItemStatus.ERRORED,
    ItemStatus.REFUSED,
    ItemStatus.SKIPPED,
)
REVIEWABLE_KINDS = (MediaKind.IMAGE, MediaKind.VIDEO)
EXACT_ALGORITHMS = (Match.Algorithm.MD5, Match.Algorithm.SHA1, Match.Algorithm.SHA256)
# States a person (or the sampler) has settled; prioritise_items only refreshes their score.
SETTLED = (ReviewState.REVIEWED, ReviewState.SECOND_REVIEW, ReviewState.CONFLICT)
Kind = ReviewDecision.Kind


class ReviewError(Exception):
    """A review action that is not allowed in the item's state (shown to the person)."""


# --- prioritise --------------------------------------------------------------------------


def sampled_for_verification(item_uuid, percent: float) -> bool:
    """Deterministic sampling: the same item is always (or never) sampled for a given
    percentage, across re-runs and workers, because it depends only on the item's UUID."""
    if percent <= 0:
        return False
    bucket = int(hashlib.sha256(str(item_uuid).encode()).hexdigest()[:8], 16) % 10_000
    return bucket < round(percent * 100)


def _best_matches(items: list[EvidenceItem]) -> dict[int, dict]:
    """Per item: the best live exact match (with its category as the agency reads it) and
    the best PDQ match (smallest distance)."""
    best: dict[int, dict] = {}
    agencies = {i.id: i.agency for i in items}
    non_pertinent: dict[int, frozenset[str]] = {}
    matches = (
        Match.objects.filter(
            item_id__in=list(agencies),
            entry__deleted_at__isnull=True,
            hash_list__is_active=True,
        )
        .select_related("hash_list", "entry")
        .order_by("distance", "id")
    )
    for match in matches:
        slot = best.setdefault(match.item_id, {"exact": None, "near": None})
        if match.algorithm in EXACT_ALGORITHMS:
            code, label = receiving_category(
                match.hash_list, match.entry.category, agencies[match.item_id]
            )
            current = slot["exact"]
            # Prefer an exact match whose category maps into the agency's scheme.
            if current is None or (code and not current["code"]):
                slot["exact"] = {"match": match, "code": code, "label": label}
        else:
            agency = agencies[match.item_id]
            code, label = receiving_category(match.hash_list, match.entry.category, agency)
            if slot["near"] is None:
                slot["near"] = {"match": match, "code": code, "label": label}
            # Pertinent unless the agency's scheme says otherwise (no code: unknown, so
            # it may be pertinent).
            if agency.pk not in non_pertinent:
                non_pertinent[agency.pk] = agency.policy.non_pertinent_codes
            if not code or code not in non_pertinent[agency.pk]:
                slot["near_pertinent"] = True
    return best


def _best_scores(items: list[EvidenceItem]) -> dict[int, ClassifierScore]:
    best: dict[int, ClassifierScore] = {}
    scores = ClassifierScore.objects.filter(item_id__in=[i.id for i in items]).order_by(
        "-score", "id"
    )
    for score in scores:
        best.setdefault(score.item_id, score)
    return best


def _signals(item, matches: dict, score: ClassifierScore | None) -> Signals:
    slot = matches.get(item.id, {})
    chosen = slot.get("exact") if item.known_state == KnownState.EXACT else slot.get("near")
    chosen = chosen or slot.get("exact") or slot.get("near")
    classifier = item.classifier_score
    model = ""
    if score is not None:
        model = f"{score.model_name} v{score.model_version}"
        if classifier is None:
            classifier = score.score
    return Signals(
        known_state=item.known_state,
        classifier_score=classifier,
        classifier_model=model,
        best_distance=item.best_distance,
        match_list=chosen["match"].hash_list.name if chosen else "",
        match_category=chosen["label"] if chosen and chosen["code"] else "",
        needs_verification=item.needs_verification,
        near_non_pertinent=slot.get("near") is not None and not slot.get("near_pertinent"),
    )


def _live_auto(item) -> ReviewDecision | None:
    return (
        ReviewDecision.objects.filter(item=item, kind=Kind.AUTO, undone_at__isnull=True)
        .order_by("-created_at")
        .first()
    )


def _auto_grade(item, *, code: str, source: str, sample_percent: float, now) -> None:
    """Grade an exact known match by hash (idempotent: one live auto decision)."""
    current = _live_auto(item)
    if current is None or current.category != code or current.source != source:
        if current is not None:
            ReviewDecision.objects.filter(pk=current.pk).update(undone_at=now)
        ReviewDecision.objects.create(
            agency_id=item.agency_id,
            item=item,
            kind=Kind.AUTO,
            category=code,
            source=source,
            previous_state=item.review_state,
            previous_category=item.category,
            created_at=now,
        )
    item.category = code
    item.is_precategorized = True
    item.precategorization_source = source[:200]
    if sampled_for_verification(item.uuid, sample_percent):
        item.needs_verification = True
        item.review_state = ReviewState.QUEUED
        item.queued_at = item.queued_at or now
    else:
        item.needs_verification = False
        item.review_state = ReviewState.AUTO_GRADED
        item.claimed_by = None
        item.lease_expires_at = None


def _withdraw_auto(item, now) -> None:
    """An exact match went away (tombstoned, list disabled): back to a person."""
    ReviewDecision.objects.filter(item=item, kind=Kind.AUTO, undone_at__isnull=True).update(
        undone_at=now
    )
    item.category = ""
    item.is_precategorized = False
    item.precategorization_source = ""
    item.needs_verification = False


def prioritise_items(items: list) -> None:
    """Priority and reasons, auto-grade, queue and group ``items`` (see module doc).
    Callable again whenever an item's signals change; the result only depends on them."""
    ids = [i.id for i in items if i.id is not None]
    if not ids:
        return
    fresh = list(EvidenceItem.objects.filter(id__in=ids).select_related("agency", "case", "blob"))
    matches = _best_matches(fresh)
    scores = _best_scores(fresh)
    now = timezone.now()
    fields = [
        "priority",
        "priority_reasons",
        "review_state",
        "category",
        "is_precategorized",
        "precategorization_source",
        "needs_verification",
        "queued_at",
        "claimed_by",
        "lease_expires_at",
    ]
    policies: dict[int, object] = {}
    with transaction.atomic():
        for item in fresh:
            policy = policies.setdefault(item.agency_id, item.agency.policy)
            reviewable = (
                item.status not in NOT_REVIEWABLE_STATUS and item.media_kind in REVIEWABLE_KINDS
            )
            if item.review_state == ReviewState.AUTO_GRADED or item.is_precategorized:
                exact = matches.get(item.id, {}).get("exact")
                lost = item.known_state != KnownState.EXACT or not (exact and exact["code"])
                if lost and item.review_state in (ReviewState.AUTO_GRADED, ReviewState.QUEUED):
                    _withdraw_auto(item, now)
                    item.review_state = ReviewState.NOT_QUEUED
            if not reviewable:
                if item.review_state in (ReviewState.QUEUED, ReviewState.NOT_QUEUED):
                    item.review_state = ReviewState.NOT_QUEUED
                    item.claimed_by = None
                    item.lease_expires_at = None
                item.priority = 0
                item.priority_reasons = []
                continue
            if item.review_state not in SETTLED:
                exact = matches.get(item.id, {}).get("exact")
                if (
                    policy.auto_grade_exact
                    and item.known_state == KnownState.EXACT
                    and exact is not None
                    and exact["code"]
                ):
                    _auto_grade(
                        item,
                        code=exact["code"],
                        source=exact["match"].hash_list.name,
                        sample_percent=policy.verification_sample_percent,
                        now=now,
                    )
                elif item.review_state in (ReviewState.NOT_QUEUED, ReviewState.AUTO_GRADED):
                    item.review_state = ReviewState.QUEUED
                    item.needs_verification = False
                    item.queued_at = item.queued_at or now
            age_days = (now - (item.queued_at or item.created_at)).total_seconds() / 86400
            item.priority, item.priority_reasons = compute_priority(
                _signals(item, matches, scores.get(item.id)),
                policy.weights,
                urgency=item.case.urgency,
                age_days=age_days,
            )
        EvidenceItem.objects.bulk_update(fresh, fields, batch_size=500)
        regroup_cases(fresh)


# --- claim -------------------------------------------------------------------------------


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepare(statement) -> None:
    """PREPARE ``statement`` once per database session (a session's prepared statements
    outlive its transactions and end with the connection)."""
    connection.ensure_connection()
    done = _PREPARED.setdefault(connection.connection, set())
    if statement.name not in done:
        with connection.cursor() as cursor:
            cursor.execute(statement.prepare)
        done.add(statement.name)


def review_claim(*, user, agency, case=None) -> EvidenceItem | None:
    """The next item for ``user`` under a lease of ``policy.lease_seconds`` (or the item
    the user already holds, its lease renewed). Concurrent reviewers never get the same
    item: on PostgreSQL one statement resumes the held item or locks the next one with
    ``SELECT … FOR UPDATE SKIP LOCKED`` and sets the lease (``selectors.claim_statement``);
    SQLite (one writer at a time) claims with a conditional update and tries the next
    candidate if someone was faster."""
    lease = timedelta(seconds=agency.policy.lease_seconds)
    if connection.vendor == "postgresql":
        statement = selectors.claim_statement(scoped=case is not None)
        now = timezone.now()
        params = statement.params(
            user=user.pk,
            agency=agency.pk,
            case=case.pk if case is not None else None,
            now=now,
            expires=now + lease,
        )
        _prepare(statement)
        # Autocommit: the lease is committed by the statement itself (one round trip).
        return next(iter(EvidenceItem.objects.raw(statement.execute, params)), None)
    held = selectors.held_by(user, agency, case)
    if held is not None:
        return held
    for _attempt in range(20):
        now = timezone.now()
        candidate = selectors.queue_for(user, agency, case, now=now).first()
        if candidate is None:
            return None
        expires = now + lease
        won = (
            EvidenceItem.objects.filter(
                pk=candidate.pk, review_state__in=selectors.CLAIMABLE_STATES
            )
            .filter(Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now))
            .update(claimed_by=user, lease_expires_at=expires)
        )
        if won:
            candidate.claimed_by = user
            candidate.lease_expires_at = expires
            return candidate
    return None


def review_release(*, item, user) -> None:
    """Give an item back to the queue (the reviewer left without grading it)."""
    EvidenceItem.objects.filter(pk=item.pk, claimed_by=user).update(
        claimed_by=None, lease_expires_at=None
    )


# --- decide ------------------------------------------------------------------------------


def _is_supervisor(user, agency) -> bool:
    membership = Membership.objects.filter(user=user, agency=agency, is_active=True).first()
    return membership is not None and membership.has_role(Role.SUPERVISOR)


def _first_category(item) -> tuple[int | None, str]:
    first = (
        ReviewDecision.objects.filter(
            item=item, kind__in=(Kind.FIRST, Kind.VERIFICATION), undone_at__isnull=True
        )
        .order_by("-created_at", "-id")
        .first()
    )
    return (first.reviewer_id, first.category) if first else (None, "")


def _outcome(item, user, category: str, policy, *, supervisor) -> tuple[str, str]:
    """(decision kind, new state) for ``user`` grading ``item`` as ``category``."""
    state = item.review_state
    if state == ReviewState.QUEUED and item.needs_verification:
        agrees = category == item.category
        return Kind.VERIFICATION, (ReviewState.REVIEWED if agrees else ReviewState.CONFLICT)
    if state == ReviewState.QUEUED:
        needs_second = category in [str(c) for c in policy.second_review_categories]
        return Kind.FIRST, (ReviewState.SECOND_REVIEW if needs_second else ReviewState.REVIEWED)
    if state == ReviewState.SECOND_REVIEW:
        first_reviewer, first_category = _first_category(item)
        if first_reviewer == user.pk:
            raise ReviewError("A second review must be done by a different investigator.")
        agrees = category == first_category
        return Kind.SECOND, (ReviewState.REVIEWED if agrees else ReviewState.CONFLICT)
    if state == ReviewState.CONFLICT:
        if not supervisor():
            raise PermissionDenied("Only a supervisor resolves a conflict.")
        return Kind.SUPERVISOR, ReviewState.REVIEWED
    raise ReviewError(f"This item is not awaiting review ({item.get_review_state_display()}).")


def review_decide(*, item, user, category: str, note: str = "", request=None) -> ReviewDecision:
    """Grade ``item`` (and every member of its group still in the same state when it is
    the group's representative) as ``category`` in the agency's scheme. Releases the
    lease. Second review, verification and conflicts follow the agency policy."""
    agency = item.agency
    policy = agency.policy
    category = str(category).strip()
    if category not in {code for code, _ in policy.categories}:
        raise ReviewError(f"“{category}” is not a category of this agency's scheme.")

    def supervisor() -> bool:  # asked only for a conflict
        return _is_supervisor(user, agency)

    with transaction.atomic():
        locked = EvidenceItem.objects.select_for_update().get(pk=item.pk)
        if (
            locked.claimed_by_id not in (None, user.pk)
            and locked.lease_expires_at
            and (locked.lease_expires_at > timezone.now())
        ):
            raise ReviewError("Another reviewer holds this item.")
        kind, new_state = _outcome(locked, user, category, policy, supervisor=supervisor)
        members = [locked]
        group = locked.group if locked.group_id is not None else None
        if group is not None and group.representative_id == locked.pk:
            members += list(
                EvidenceItem.objects.select_for_update()
                .filter(group=group, review_state=locked.review_state)
                .exclude(pk=locked.pk)
                .order_by("id")
            )
        now = timezone.now()
        decisions = []
        for member in members:
            decisions.append(
                ReviewDecision(
                    agency=agency,
                    item=member,
                    group=group if len(members) > 1 else None,
                    reviewer=user,
                    kind=kind,
                    category=category,
                    note=note,
                    created_at=now,
                    previous_state=member.review_state,
                    previous_category=member.category,
                )
            )
        ReviewDecision.objects.bulk_create(decisions)
        # Every member gets the same values: one UPDATE, not a CASE per member.
        changes = {
            "review_state": new_state,
            "needs_verification": False,
            "claimed_by": None,
            "lease_expires_at": None,
            "first_reviewed_at": Coalesce("first_reviewed_at", Value(now)),
        }
        if new_state == ReviewState.REVIEWED or kind == Kind.FIRST:
            changes["category"] = category
        EvidenceItem.objects.filter(pk__in=[m.pk for m in members]).update(**changes)
        audit_record(
            "review.decided",
            agency=agency,
            actor=user,
            obj=locked,
            request=request,
            data={
                "category": category,
                "kind": kind,
                "state": new_state,
                "group": str(group.uuid) if group else None,
                "items": len(members),
                "note": bool(note),
            },
        )
    item.review_state = new_state
    item.category = changes.get("category", locked.category)
    item.needs_verification = False
    item.claimed_by = None
    item.lease_expires_at = None
    item.first_reviewed_at = locked.first_reviewed_at or now
    decision = decisions[0]
    decision.items_covered = len(decisions)  # the whole group, when it graded one
    decision.item.review_state = new_state
    return decision


def review_undo(*, decision, user, request=None) -> EvidenceItem:
    """Take back one's own decision within ``policy.undo_seconds`` (the whole group's, if
    it graded a group); the item comes back to the same reviewer under a fresh lease."""
    agency = decision.agency
    policy = agency.policy
    if decision.reviewer_id != user.pk:
        raise PermissionDenied("Only the reviewer can undo a decision.")
    now = timezone.now()
    with transaction.atomic():
        decision = ReviewDecision.objects.select_for_update().get(pk=decision.pk)
        if decision.undone_at is not None:
            raise ReviewError("This decision was already undone.")
        if now - decision.created_at > timedelta(seconds=policy.undo_seconds):
            raise ReviewError(f"Decisions can be undone for {policy.undo_seconds} seconds only.")
        siblings = ReviewDecision.objects.select_related("item").filter(pk=decision.pk)
        if decision.group_id is not None:
            siblings = ReviewDecision.objects.select_related("item").filter(
                group_id=decision.group_id,
                reviewer_id=user.pk,
                created_at=decision.created_at,
                kind=decision.kind,
                undone_at__isnull=True,
            )
        siblings = list(siblings.select_for_update(of=("self",)))
        items = []
        for sibling in siblings:
            member = sibling.item
            later = ReviewDecision.objects.filter(
                item=member, created_at__gt=sibling.created_at, undone_at__isnull=True
            ).exists()
            if later:
                raise ReviewError("Someone has reviewed this item since; it cannot be undone.")
            member.review_state = sibling.previous_state or ReviewState.QUEUED
            member.category = sibling.previous_category
            member.needs_verification = sibling.kind == Kind.VERIFICATION
            member.claimed_by = user if member.pk == decision.item_id else None
            member.lease_expires_at = (
                now + timedelta(seconds=policy.lease_seconds)
                if member.pk == decision.item_id
                else None
            )
            items.append(member)
        ReviewDecision.objects.filter(pk__in=[s.pk for s in siblings]).update(undone_at=now)
        EvidenceItem.objects.bulk_update(
            items,
            ["review_state", "category", "needs_verification", "claimed_by", "lease_expires_at"],
        )
        audit_record(
            "review.undone",
            agency=agency,
            actor=user,
            obj=decision.item,
            request=request,
            data={
                "decision": str(decision.uuid),
                "category": decision.category,
                "items": len(items),
            },
        )
    return next(i for i in items if i.pk == decision.item_id)


def group_split(*, item, user, request=None) -> EvidenceItem:
    """Take ``item`` out of its group: it becomes its own queued item, and is never
    regrouped automatically (a person judged it different)."""
    from triage.models import ItemGroup
    from triage.review.grouping import refresh_group

    if item.group_id is None or item.group.pinned:
        raise ReviewError("This item is not part of a group.")
    if item.review_state != ReviewState.QUEUED:
        raise ReviewError("Only items awaiting review can be split from their group.")
    with transaction.atomic():
        old = item.group
        solo = ItemGroup.objects.create(
            agency_id=item.agency_id, case_id=item.case_id, representative=item, size=1, pinned=True
        )
        EvidenceItem.objects.filter(pk=item.pk).update(
            group=solo, claimed_by=None, lease_expires_at=None
        )
        item.group = solo
        refresh_group(old)
        audit_record(
            "review.group_split",
            agency=item.agency,
            actor=user,
            obj=item,
            request=request,
            data={"from_group": str(old.uuid)},
        )
    return item


# --- exposure ----------------------------------------------------------------------------

MAX_EXPOSURE_MS = 6 * 60 * 60 * 1000


def exposure_record(*, user, item, kind: str, duration_ms: int, request=None) -> ExposureEvent:
    """One reveal or video play with its duration; a reveal is also an audit event."""
    if kind not in ExposureEvent.Kind.values:
        raise ReviewError("Unknown exposure kind.")
    duration_ms = max(0, min(int(duration_ms or 0), MAX_EXPOSURE_MS))
    now = timezone.now()
    with transaction.atomic():
        event = ExposureEvent.objects.create(
            agency_id=item.agency_id,
            user=user,
            item=item,
            kind=kind,
            started_at=now - timedelta(milliseconds=duration_ms),
            duration_ms=duration_ms,
        )
        action = {
            ExposureEvent.Kind.REVEAL: "evidence.revealed",
            ExposureEvent.Kind.VIDEO: "evidence.video_played",
        }.get(kind, "evidence.original_opened")
        audit_record(
            action,
            agency=item.agency,
            actor=user,
            obj=item,
            request=request,
            data={"duration_ms": duration_ms, "case": str(item.case.uuid)},
        )
    return event


# --- the agency's own list ---------------------------------------------------------------


def own_list_for(*, agency, user, request=None) -> HashList:
    """The agency's own list of confirmed decisions, created on first use."""
    existing = HashList.objects.filter(agency=agency, is_agency_own=True).order_by("id").first()
    if existing is not None:
        return existing
    from triage.matching.lists import hashlist_create

    return hashlist_create(
        agency=agency,
        user=user,
        name=f"{agency.name}: confirmed decisions",
        scheme=agency.policy.category_scheme,
        is_agency_own=True,
        request=request,
    )


def hashlist_add_confirmed(*, items, user, request=None) -> HashList:
    """Add reviewed items' hashes (MD5, SHA-1, SHA-256, PDQ) with their category to the
    agency's own list in one step; bumps the list version (matchers pick it up)."""
    from triage.matching.lists import bump_version

    items = [i for i in items if i.review_state == ReviewState.REVIEWED and i.category]
    if not items:
        raise ReviewError("Only reviewed, categorised items can be added to the list.")
    agency = items[0].agency
    if any(i.agency_id != agency.pk for i in items):
        raise PermissionDenied("Items of another agency.")
    with transaction.atomic():
        hash_list = own_list_for(agency=agency, user=user, request=request)
        now = timezone.now()
        added = 0
        for item in items:
            blob = item.blob
            sha256 = blob.sha256 if blob else ""
            live = HashEntry.objects.filter(hash_list=hash_list, deleted_at__isnull=True)
            key = Q(sha256=sha256) if sha256 else Q(pdq=item.pdq, sha256="")
            entry = live.filter(key).first()
            if entry is None:
                HashEntry.objects.create(
                    hash_list=hash_list,
                    md5=blob.md5 if blob else "",
                    sha1=blob.sha1 if blob else "",
                    sha256=sha256,
                    pdq=item.pdq,
                    pdq_quality=item.pdq_quality,
                    category=item.category,
                    is_precategorized=True,
                    source_ref=str(item.uuid),
                    created_at=now,
                    updated_at=now,
                )
                added += 1
            elif entry.category != item.category:
                HashEntry.objects.filter(pk=entry.pk).update(category=item.category, updated_at=now)
                added += 1
        if added:
            bump_version(hash_list)
        audit_record(
            "hashlist.confirmed_added",
            agency=agency,
            actor=user,
            obj=hash_list,
            request=request,
            data={"items": [str(i.uuid) for i in items], "added": added},
        )
    return hash_list


def release_expired_leases() -> int:
    """Clear leases that ran out (the queue ignores them anyway; this keeps figures such as
    "being reviewed now" honest)."""
    return EvidenceItem.objects.filter(
        claimed_by__isnull=False, lease_expires_at__lt=timezone.now()
    ).update(claimed_by=None, lease_expires_at=None)


def review_preferences_set(*, user, blur: bool, grayscale: bool) -> None:
    """A reviewer's personal override of the agency's blur and grayscale defaults."""
    from hub.models import User

    User.objects.filter(pk=user.pk).update(prefers_blur=blur, prefers_grayscale=grayscale)
    user.prefers_blur = blur
    user.prefers_grayscale = grayscale
