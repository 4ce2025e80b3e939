from __future__ import annotations

from django.db import models


def _unconstrained(model: str, *, indexed: bool = True) -> models.ForeignKey:
    """No foreign key constraint: the triggers write these rows inside the source
    statement, and a derived row must never make that statement fail."""
    return models.ForeignKey(
        model,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=indexed,
        related_name="+",
    )


class ActivityCounts(models.Model):
    """What a rollup row counts for its key (agency, case, person, local day)."""

    person_id = models.BigIntegerField()
    day = models.DateField()
    # Items created that day (by ``created_at``).
    ingested = models.IntegerField(default=0)
    # Items with status done, by ``processed_at``, and those of them pre-categorised.
    processed = models.IntegerField(default=0)
    precategorized = models.IntegerField(default=0)
    # Decisions of a review kind (not auto) that are not undone, by ``created_at``.
    decisions = models.IntegerField(default=0)
    # Exposure events by ``started_at``: reveals, video plays and their milliseconds.
    reveals = models.IntegerField(default=0)
    videos = models.IntegerField(default=0)
    video_ms = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class DailyActivity(ActivityCounts):
    """The supervisor dashboard's daily rollup (PostgreSQL): per agency, case, person and
    local day, the counts the flow, rate and reviewer figures add up, so that a month of
    a million items is read from a few thousand rows instead of scanned.

    Derived data only. Database triggers keep it exact on every write to the items,
    decisions and exposure events, whatever code path makes it (services, bulk updates,
    cascades, raw SQL); ``migrate`` installs them and rebuilds the table when the
    triggers or the time zone change, and ``manage.py rebuild_dashboard_rollup`` rebuilds
    it on demand (triage/dashboard/rollup.py). The dashboard falls back to the direct
    queries (the reference) when the rollup is not in place: always on SQLite.

    ``person_id`` is the reviewer of a decision or the user of an exposure event, and 0
    for the item counts and for decisions without a reviewer. ``case`` is the case of the
    decision's or event's item.

    The triggers never write these rows (a row lock here would make writers wait on each
    other): they append to ``DailyActivityDelta``, which the compactor (a Celery beat
    task) folds in here; the figures are the sum of both tables."""

    pk = models.CompositePrimaryKey("agency_id", "case_id", "person_id", "day")
    agency = _unconstrained("hub.Agency")
    case = _unconstrained("triage.Case")

    class Meta:
        indexes = [models.Index(fields=["agency", "day"], name="activity_agency_day")]


class DailyActivityDelta(ActivityCounts):
    """Contributions to ``DailyActivity`` not yet folded into it: the triggers append one
    row per key and statement, with a plain INSERT. No unique key, so that concurrent
    writers never wait on each other; ``compact`` (triage/dashboard/rollup.py) moves them
    into ``DailyActivity`` in one statement, and the dashboard reads both tables."""

    id = models.BigAutoField(primary_key=True)
    # No index but the one the reads use, so that an append costs little.
    agency = _unconstrained("hub.Agency", indexed=False)
    case = _unconstrained("triage.Case", indexed=False)

    class Meta:
        indexes = [models.Index(fields=["agency", "day"], name="activity_delta_agency_day")]


class DailyActivityState(models.Model):
    """One row: the triggers' version and time zone that ``DailyActivity`` was built
    with. The dashboard reads the rollup only when both match its own."""

    version = models.CharField(max_length=40)
    time_zone = models.CharField(max_length=100)
    built_at = models.DateTimeField()
