"""PostgreSQL row-level security: the database's backstop under the application's own
agency filters. A query with no agency filter at all still returns only the rows of
the agency in scope, and nothing when no agency is set."""

from __future__ import annotations

import pytest
from django.db import connection

from hub import db_scope
from triage.models import Case, EvidenceItem

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgres_with_app_role(settings):
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is a PostgreSQL feature (this is the SQLite run)")
    if not settings.HUB_DB_APP_ROLE:
        pytest.fail("the PostgreSQL run must set HUB_DB_APP_ROLE (see the Makefile)")


@pytest.fixture
def make_items():
    from triage.models import EvidenceBatch

    def make(agency, n):
        case = Case.objects.create(agency=agency, reference=f"RLS-{agency.pk}", title="RLS")
        batch = EvidenceBatch.objects.create(agency=agency, case=case)
        return [
            EvidenceItem.objects.create(
                agency=agency, case=case, batch=batch, path=f"f{i}.jpg", original_name=f"f{i}.jpg"
            )
            for i in range(n)
        ]

    return make


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # no agency filter on purpose
        return cursor.fetchone()[0]


def test_the_application_role_is_neither_owner_nor_bypassrls(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, r.rolsuper, r.rolbypassrls FROM pg_roles r"
            " WHERE r.rolname = current_user"
        )
        user, superuser, bypass = cursor.fetchone()
        cursor.execute(
            "SELECT tableowner, rowsecurity FROM pg_tables t JOIN pg_class c"
            " ON c.relname = t.tablename WHERE t.tablename = 'triage_evidenceitem'"
        )
        owner, rls = cursor.fetchone()
    assert user == settings.HUB_DB_APP_ROLE
    assert not superuser and not bypass
    assert owner != user
    assert rls


def test_a_raw_query_sees_only_the_agency_in_scope(demo_agency, other_agency, make_items):
    mine = make_items(demo_agency, 3)
    theirs = make_items(other_agency, 2)
    assert mine and theirs
    with db_scope.agency_scope(None):
        assert _count("triage_evidenceitem") == 0
        assert _count("triage_case") == 0
        assert not EvidenceItem.objects.exists()
    with db_scope.agency_scope(demo_agency):
        assert _count("triage_evidenceitem") == 3
        assert set(EvidenceItem.objects.values_list("agency_id", flat=True)) == {demo_agency.pk}
        # Even an explicit lookup of another agency's row finds nothing.
        assert not EvidenceItem.objects.filter(pk=theirs[0].pk).exists()
        assert not Case.objects.filter(agency=other_agency).exists()
    with db_scope.agency_scope(other_agency):
        assert _count("triage_evidenceitem") == 2
    with db_scope.all_agencies():
        assert _count("triage_evidenceitem") == 5


def test_writing_into_another_agency_is_refused(demo_agency, other_agency, make_items):
    from django.db import DatabaseError, transaction

    theirs = make_items(other_agency, 1)[0]
    with db_scope.agency_scope(demo_agency):
        # Invisible rows cannot be updated: zero rows match.
        assert EvidenceItem.objects.filter(pk=theirs.pk).update(stage="x") == 0
        # And a row cannot be moved into, or created in, another agency.
        with pytest.raises(DatabaseError), transaction.atomic():
            Case.objects.create(agency=other_agency, title="planted", reference="X-1")


@pytest.fixture
def worker_factory(celery_worker_process):
    from hub.celery import app

    app.amqp._producer_pool = None
    yield celery_worker_process
    app.amqp._producer_pool = None


@pytest.mark.worker
def test_a_task_runs_in_the_agency_it_was_queued_for(
    worker_factory, demo_agency, other_agency, alice, tmp_path
):
    """The scope rides in the message: a worker task queued in another agency's scope
    cannot see this agency's batch, one queued in its own scope processes it."""
    from hub.celery import app
    from tests.conftest import wait_until
    from tests.pipeline.test_worker import _batch, _complete
    from triage.models import EvidenceBatch, ItemStatus

    batch = _batch(demo_agency, alice, tmp_path, 3)
    EvidenceBatch.objects.filter(pk=batch.pk).update(status=EvidenceBatch.Status.QUEUED)
    worker = worker_factory().start()
    with db_scope.agency_scope(other_agency):
        app.send_task("triage.pipeline.start_batch", args=[batch.pk])
    wait_until(lambda: "succeeded" in worker.log(), timeout=60, message=worker.log())
    assert EvidenceBatch.objects.get(pk=batch.pk).status == EvidenceBatch.Status.QUEUED
    assert not batch.items.exclude(status=ItemStatus.PENDING).exists()

    with db_scope.agency_scope(demo_agency):
        app.send_task("triage.pipeline.start_batch", args=[batch.pk])
    wait_until(lambda: _complete(batch), timeout=60, message=worker.log())
    assert batch.items.filter(status=ItemStatus.DONE).count() == 3
