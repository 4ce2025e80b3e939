import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from hub.audit import audit_record
from hub.models import AuditEvent
from tests.hub.helpers import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(demo_agency, other_agency, alice, ivan):
    for i in range(60):
        audit_record(
            "case.viewed", agency=demo_agency, actor=ivan, object_type="Case", object_id=f"c{i}"
        )
    audit_record(
        "membership.role_changed",
        agency=demo_agency,
        actor=alice,
        object_type="Membership",
        object_id="m1",
        data={"role": {"old": "a", "new": "b"}},
    )
    audit_record("secret.other", agency=other_agency, actor=None, data={"x": 1})
    audit_record("auth.login", agency=None, actor=alice)


def test_admin_sees_the_agency_log_paginated_with_chain_status(client_for, alice, history):
    response = client_for(alice).get(reverse("hub:audit_log"))
    assert response.status_code == 200
    page = response.context["page"]
    assert page.paginator.count == 61 and len(page.object_list) == 50
    assert page.object_list[0].action == "membership.role_changed"  # newest first
    assert b"Chain verified up to sequence 61" in response.content
    assert b"secret.other" not in response.content  # another agency's chain
    older = client_for(alice).get(reverse("hub:audit_log"), {"page": 2})
    assert len(older.context["page"].object_list) == 11


def test_filters(client_for, alice, history, demo_agency):
    client = client_for(alice)
    by_actor = client.get(reverse("hub:audit_log"), {"actor": "alice"}).context["page"]
    assert [e.action for e in by_actor.object_list] == ["membership.role_changed"]
    by_action = client.get(reverse("hub:audit_log"), {"action": "case."}).context["page"]
    assert by_action.paginator.count == 60
    by_object = client.get(reverse("hub:audit_log"), {"object": "c7"}).context["page"]
    assert [e.object_id for e in by_object.object_list] == ["c7"]
    AuditEvent.objects.filter(object_id="c0").update(created_at=timezone.now() - timedelta(days=3))
    until = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    by_time = client.get(reverse("hub:audit_log"), {"until": until}).context["page"]
    assert [e.object_id for e in by_time.object_list] == ["c0"]


def test_not_for_supervisors(client_for, sam):
    assert client_for(sam).get(reverse("hub:audit_log")).status_code == 403
    assert client_for(sam).get(reverse("hub:audit_export")).status_code == 403


def test_csv_export_is_filtered_and_audited(client_for, alice, history, demo_agency):
    response = client_for(alice).get(reverse("hub:audit_export"), {"action": "membership"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["seq", "created_at", "actor", "action"]
    assert [r[3] for r in rows[1:]] == ["membership.role_changed"]
    exported = events(demo_agency, "audit.exported").get()
    assert exported.actor == alice and exported.data["filters"] == {"action": "membership"}
    assert exported.data["rows"] == len(rows) - 1 == 1


def _export(client, **params):
    response = client.get(reverse("hub:audit_export"), params)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_records_exactly_what_it_holds(client_for, alice, history, demo_agency):
    """Unfiltered: the 61 events up to the head, not the export's own event, and the
    audit row says so (rows and the last sequence); time filters are recorded as given,
    other query parameters are not filters."""
    client = client_for(alice)
    rows = _export(client, utm="x")
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 62))
    exported = events(demo_agency, "audit.exported").get()
    assert exported.seq == 62
    assert exported.data == {"filters": {}, "rows": 61, "up_to_seq": 61}

    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    rows = _export(client, since=since, actor="ivan")
    second = events(demo_agency, "audit.exported").last()
    assert second.data["filters"] == {"since": since, "actor": "ivan"}
    assert second.data["rows"] == len(rows) - 1 == 60
    assert second.data["up_to_seq"] == 62


def test_csv_export_of_an_invalid_filter_is_empty_and_says_so(client_for, alice, history):
    rows = _export(client_for(alice), since="not a date")
    assert rows[1:] == []
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.data["filters"] == {"since": "not a date", "invalid": True}
    assert exported.data["rows"] == 0


def test_csv_export_neutralises_formulas_and_writes_json(client_for, alice, demo_agency):
    from tests.conftest import make_user

    mallory = make_user("=cmd|' /C calc'!A0", demo_agency, "investigator")
    audit_record("case.viewed", agency=demo_agency, actor=mallory, object_id="@SUM(A1)",
                 data={"n": 1, "who": "x"})  # fmt: skip
    rows = _export(client_for(alice))
    row = next(r for r in rows[1:] if r[3] == "case.viewed")
    assert row[2] == "'=cmd|' /C calc'!A0"
    assert row[5] == "'@SUM(A1)"
    assert json.loads(row[7]) == {"n": 1, "who": "x"}


def test_other_agency_admin_exports_only_their_chain(client_for, otto, history):
    rows = _export(client_for(otto))
    assert [r[3] for r in rows[1:]] == ["secret.other"]


def test_page_reports_the_first_broken_sequence(client_for, alice, history, demo_agency):
    AuditEvent.objects.filter(agency=demo_agency, seq=7).update(data={"forged": True})
    response = client_for(alice).get(reverse("hub:audit_log"))
    assert b"Chain broken at sequence 7" in response.content


def test_verify_audit_passes_on_an_intact_log(history):
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "All 3 chain(s) verified" in out.getvalue()


def test_verify_audit_names_a_tampered_row(history, demo_agency):
    AuditEvent.objects.filter(agency=demo_agency, seq=12).update(actor_label="nobody")
    out = io.StringIO()
    with pytest.raises(CommandError, match="demo-police"):
        call_command("verify_audit", stdout=out)
    assert "first broken sequence 12 (row content changed)" in out.getvalue()


def test_verify_audit_detects_a_deleted_row(history, demo_agency):
    AuditEvent.objects.filter(agency=demo_agency, seq=30).delete()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", "--agency", "demo-police", stdout=out)
    assert "first broken sequence 30" in out.getvalue()


def test_verify_audit_detects_a_deleted_last_row(history, demo_agency):
    AuditEvent.objects.filter(agency=demo_agency, seq=61).delete()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", "--agency", "demo-police", stdout=out)
    assert "first broken sequence 61" in out.getvalue()


def test_verify_audit_one_agency_ignores_others(history, other_agency, demo_agency):
    AuditEvent.objects.filter(agency=other_agency).update(data={"x": 2})
    out = io.StringIO()
    call_command("verify_audit", "--agency", "demo-police", stdout=out)
    assert "verified up to 61" in out.getvalue()
    with pytest.raises(CommandError, match="other-force"):
        call_command("verify_audit", "--agency", "other-force", stdout=io.StringIO())


def test_verify_audit_unknown_agency(db):
    with pytest.raises(CommandError, match="No agency"):
        call_command("verify_audit", "--agency", "nope")
