"""Hash-list services (every write, audited in its own transaction) and selectors."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from hub.audit import audit_record
from hub.models import Agency
from hub.policy import CATEGORY_SCHEMES
from triage.matching.hashes import classify
from triage.models.matching import HashEntry, HashList, RematchJob, Scheme


class HashListError(ValueError):
    """A change to a hash list that cannot be made, with a reason for a person."""


# --- selectors -------------------------------------------------------------------------


def usable_lists_q(agency_id: int) -> Q:
    """Lists an agency may match against: its own active lists, hub-wide lists, and lists
    another agency shared with it (by name or with the whole hub)."""
    return Q(is_active=True) & (
        Q(agency_id=agency_id)
        | Q(agency__isnull=True)
        | Q(shared_with_all=True)
        | Q(shared_with__id=agency_id)
    )


def usable_lists(agency) -> QuerySet[HashList]:
    agency_id = agency if isinstance(agency, int) else agency.id
    ids = HashList.objects.filter(usable_lists_q(agency_id)).values("id")
    return HashList.objects.filter(id__in=ids)


def list_user_ids(hash_list: HashList) -> set[int]:
    """Every agency that may use the list right now (active or not, matches are removed
    from items when it stops being usable)."""
    if hash_list.agency_id is None or hash_list.shared_with_all:
        return set(Agency.objects.values_list("id", flat=True))
    return {hash_list.agency_id, *hash_list.shared_with.values_list("id", flat=True)}


def category_counts(hash_list: HashList) -> list[dict]:
    return list(
        HashEntry.objects.filter(hash_list=hash_list, deleted_at__isnull=True)
        .values("category")
        .annotate(n=Count("id"))
        .order_by("category")
    )


def scheme_codes(scheme: str, agency: Agency | None = None) -> list[str] | None:
    """Valid category codes of a scheme, or None when any code is accepted (custom)."""
    if scheme == Scheme.CUSTOM:
        return None
    return [code for code, _ in CATEGORY_SCHEMES[scheme]]


def agency_scheme(agency: Agency | None) -> str | None:
    return agency.policy.category_scheme if agency is not None else None


def missing_category_map(hash_list: HashList, codes: set[str]) -> list[str]:
    """Categories of the list that cannot be read in the owning agency's scheme because
    the schemes differ and the list's ``category_map`` has no entry for them."""
    target = agency_scheme(hash_list.agency)
    if target is None or target == hash_list.scheme:
        return []
    cmap = hash_list.category_map or {}
    return sorted(c for c in codes if c and not isinstance(cmap.get(c), str))


def validate_settings(
    *, agency: Agency | None, scheme: str, category_map, pdq_threshold: int, pdq_quality_min
) -> dict:
    if scheme not in Scheme.values:
        raise HashListError(f"Unknown category scheme {scheme!r}.")
    if not isinstance(category_map, dict):
        raise HashListError('The category map must be a JSON object, e.g. {"1": "A"}.')
    target = agency_scheme(agency)
    if target is not None and target != "custom":
        valid = {code for code, _ in CATEGORY_SCHEMES[target]}
        for source, mapped in category_map.items():
            if isinstance(mapped, str) and mapped not in valid:
                raise HashListError(
                    f"Category map: {source!r} maps to {mapped!r}, which is not a category "
                    f"of your scheme ({', '.join(sorted(valid))})."
                )
    source_codes = scheme_codes(scheme)
    if source_codes is not None:
        for source, mapped in category_map.items():
            if isinstance(mapped, str) and source not in source_codes:
                raise HashListError(
                    f"Category map: {source!r} is not a category of the list's scheme."
                )
    if not 0 <= int(pdq_threshold) <= 128:
        raise HashListError("The PDQ threshold must be between 0 and 128.")
    if not 0 <= int(pdq_quality_min) <= 100:
        raise HashListError("The PDQ quality gate must be between 0 and 100.")
    return {
        "scheme": scheme,
        "category_map": category_map,
        "pdq_threshold": int(pdq_threshold),
        "pdq_quality_min": int(pdq_quality_min),
    }


# --- services --------------------------------------------------------------------------


def bump_version(hash_list: HashList) -> None:
    HashList.objects.filter(pk=hash_list.pk).update(version=F("version") + 1)
    hash_list.refresh_from_db(fields=["version"])


def schedule_rematch(hash_list: HashList, *, reason: str, agency_ids: set[int]) -> RematchJob:
    """Create the job row now; queue its task when the surrounding transaction commits."""
    job = RematchJob.objects.create(
        hash_list=hash_list,
        list_version=hash_list.version,
        reason=reason,
        agency_ids=sorted(agency_ids),
    )

    def enqueue():
        from triage.matching.tasks import rematch_start

        rematch_start.delay(job.id)

    transaction.on_commit(enqueue)
    return job


def hashlist_create(
    *,
    agency: Agency | None,
    user,
    name: str,
    description: str = "",
    scheme: str = Scheme.PROJECTVIC_US,
    category_map: dict | None = None,
    pdq_threshold: int = 31,
    pdq_quality_min: int = 50,
    is_agency_own: bool = False,
    request=None,
) -> HashList:
    """A new empty list owned by ``agency`` (None: hub-wide, published by an operator)."""
    name = (name or "").strip()
    if not name:
        raise HashListError("A hash list needs a name.")
    fields = validate_settings(
        agency=agency,
        scheme=scheme,
        category_map=category_map or {},
        pdq_threshold=pdq_threshold,
        pdq_quality_min=pdq_quality_min,
    )
    with transaction.atomic():
        hash_list = HashList.objects.create(
            agency=agency,
            name=name[:200],
            description=description,
            created_by=user,
            is_agency_own=is_agency_own,
            **fields,
        )
        audit_record(
            "hashlist.created",
            agency=agency,
            actor=user,
            obj=hash_list,
            data={"name": hash_list.name, "scheme": hash_list.scheme},
            request=request,
        )
    return hash_list


def hashlist_update(*, hash_list: HashList, user, request=None, **changes) -> HashList:
    """Edit settings; the version bumps and past items are re-matched."""
    allowed = {
        "name",
        "description",
        "scheme",
        "category_map",
        "pdq_threshold",
        "pdq_quality_min",
        "is_active",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise HashListError(f"Cannot change {', '.join(sorted(unknown))}.")
    merged = {
        "scheme": changes.get("scheme", hash_list.scheme),
        "category_map": changes.get("category_map", hash_list.category_map),
        "pdq_threshold": changes.get("pdq_threshold", hash_list.pdq_threshold),
        "pdq_quality_min": changes.get("pdq_quality_min", hash_list.pdq_quality_min),
    }
    validate_settings(agency=hash_list.agency, **merged)
    if "name" in changes and not (changes["name"] or "").strip():
        raise HashListError("A hash list needs a name.")
    with transaction.atomic():
        locked = HashList.objects.select_for_update().get(pk=hash_list.pk)
        before = {k: getattr(locked, k) for k in changes}
        for key, value in changes.items():
            setattr(locked, key, value.strip() if key == "name" else value)
        locked.save(update_fields=list(changes))
        bump_version(locked)
        diff = {k: [before[k], getattr(locked, k)] for k in changes if before[k] != changes[k]}
        audit_record(
            "hashlist.updated",
            agency=locked.agency,
            actor=user,
            obj=locked,
            data=diff,
            request=request,
        )
        if diff:
            schedule_rematch(locked, reason="edit", agency_ids=list_user_ids(locked))
    return locked


def hashlist_share(
    *, hash_list: HashList, user, agencies: list[Agency], share_all: bool, request=None
) -> HashList:
    """Share with named agencies or with the whole hub. Receivers learn only the list's
    name and each entry's category on a match, never where an entry came from."""
    if hash_list.agency_id is None:
        raise HashListError("Hub-wide lists are already used by every agency.")
    with transaction.atomic():
        locked = HashList.objects.select_for_update().get(pk=hash_list.pk)
        users_before = list_user_ids(locked)
        others = [a for a in agencies if a.id != locked.agency_id]
        locked.shared_with.set(others)
        locked.shared_with_all = share_all
        locked.save(update_fields=["shared_with_all"])
        bump_version(locked)
        audit_record(
            "hashlist.shared",
            agency=locked.agency,
            actor=user,
            obj=locked,
            data={"with": sorted(a.name for a in others), "all": share_all},
            request=request,
        )
        schedule_rematch(locked, reason="sharing", agency_ids=users_before | list_user_ids(locked))
    return locked


def hashlist_tombstone(*, hash_list: HashList, user, values: list[str], request=None) -> dict:
    """Tombstone the live entries carrying any of the given hashes (kept for the record,
    never matched again). Returns counts and the values that were not hashes."""
    by_algo: dict[str, set[str]] = {}
    invalid = []
    for raw in values:
        if not raw.strip():
            continue
        found = classify(raw)
        if found is None:
            invalid.append(raw.strip()[:80])
            continue
        algo, value = found
        by_algo.setdefault(algo, set()).add(value)
        if algo == "sha256":  # 64 hex may be a PDQ hash too
            by_algo.setdefault("pdq", set()).add(value)
    query = Q()
    for algo, vals in by_algo.items():
        query |= Q(**{f"{algo}__in": vals})
    with transaction.atomic():
        count = 0
        if by_algo:
            count = HashEntry.objects.filter(
                query, hash_list=hash_list, deleted_at__isnull=True
            ).update(deleted_at=timezone.now(), updated_at=timezone.now())
        if count:
            bump_version(hash_list)
            schedule_rematch(hash_list, reason="tombstone", agency_ids=list_user_ids(hash_list))
        audit_record(
            "hashlist.tombstoned",
            agency=hash_list.agency,
            actor=user,
            obj=hash_list,
            data={"tombstoned": count, "invalid": len(invalid)},
            request=request,
        )
    return {"tombstoned": count, "invalid": invalid}


def hashlist_from_decisions(*, agency: Agency, user, name: str, request=None) -> HashList:
    """A new agency-own list built from the agency's reviewed, categorised items (the
    review area calls this). Categories are the agency's own scheme, so no mapping.

    Only categories a person decided count: an item is taken when its latest live (not
    undone) decision is a review, second review or supervisor resolution giving the item
    its current category. Auto-graded items (and verifications of an auto-grade, whose
    category came from a list too) are left out: they are already on a list."""
    from triage.models import EvidenceItem, ReviewDecision, ReviewState

    kinds = ReviewDecision.Kind
    latest = ReviewDecision.objects.filter(
        agency=agency, item=OuterRef("pk"), undone_at__isnull=True
    ).order_by("-created_at", "-id")
    items = (
        EvidenceItem.objects.filter(agency=agency, review_state=ReviewState.REVIEWED)
        .exclude(category="")
        .annotate(
            decided_kind=Subquery(latest.values("kind")[:1]),
            decided_category=Subquery(latest.values("category")[:1]),
        )
        .filter(
            decided_kind__in=(kinds.FIRST, kinds.SECOND, kinds.SUPERVISOR),
            decided_category=F("category"),
        )
        .select_related("blob")
        .order_by("id")
    )
    with transaction.atomic():
        hash_list = hashlist_create(
            agency=agency,
            user=user,
            name=name,
            scheme=agency.policy.category_scheme,
            is_agency_own=True,
            request=request,
        )
        seen: set[str] = set()
        batch = []
        now = timezone.now()
        for item in items.iterator(chunk_size=2000):
            blob = item.blob
            key = blob.sha256 if blob else item.pdq
            if not key or key in seen:
                continue
            seen.add(key)
            batch.append(
                HashEntry(
                    hash_list=hash_list,
                    md5=blob.md5 if blob else "",
                    sha1=blob.sha1 if blob else "",
                    sha256=blob.sha256 if blob else "",
                    pdq=item.pdq,
                    pdq_quality=item.pdq_quality,
                    category=item.category,
                    is_precategorized=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            if len(batch) >= 2000:
                HashEntry.objects.bulk_create(batch)
                batch = []
        HashEntry.objects.bulk_create(batch)
        bump_version(hash_list)
        audit_record(
            "hashlist.from_decisions",
            agency=agency,
            actor=user,
            obj=hash_list,
            data={"entries": len(seen)},
            request=request,
        )
        schedule_rematch(hash_list, reason="created", agency_ids=list_user_ids(hash_list))
    return hash_list
