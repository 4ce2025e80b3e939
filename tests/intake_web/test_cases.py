"""Case pages as personas: who sees which case, creation, edit, and isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hub.models import AuditEvent
from triage.models import Case

pytestmark = pytest.mark.django_db


def detail(case):
    return reverse("triage:case_detail", kwargs={"case": case.uuid})


def test_investigator_sees_only_cases_they_are_on(client_for, case, ivan, iris, other_case):
    page = client_for(ivan).get(reverse("triage:case_list"))
    assert page.status_code == 200
    assert b"DP-100" in page.content and b"OF-7" not in page.content
    assert client_for(ivan).get(detail(case)).status_code == 200

    # iris is in the same agency but not on the team: the case does not exist for her.
    page = client_for(iris).get(reverse("triage:case_list"))
    assert b"DP-100" not in page.content
    assert b"No cases yet" in page.content
    assert client_for(iris).get(detail(case)).status_code == 404
    assert (
        client_for(iris).get(reverse("triage:case_edit", kwargs={"case": case.uuid})).status_code
        == 404
    )


def test_lead_and_creator_see_their_case(client_for, demo_agency, iris, ivan):
    from triage.services.intake import case_create

    mine = case_create(agency=demo_agency, user=iris, reference="DP-2", title="Mine")
    mine.team.clear()  # visible through created_by alone
    led = case_create(agency=demo_agency, user=ivan, reference="DP-3", title="Led")
    led.team.clear()
    led.lead = iris
    led.save()
    page = client_for(iris).get(reverse("triage:case_list"))
    assert b"DP-2" in page.content and b"DP-3" in page.content


def test_supervisor_and_admin_see_all_agency_cases(client_for, case, sam, alice, other_case):
    for person in (sam, alice):
        page = client_for(person).get(reverse("triage:case_list"))
        assert b"DP-100" in page.content and b"OF-7" not in page.content
        assert client_for(person).get(detail(case)).status_code == 200


def test_other_agency_case_is_404(client_for, alice, oscar, case, other_case):
    assert client_for(alice).get(detail(other_case)).status_code == 404
    assert client_for(oscar).get(detail(case)).status_code == 404
    edit = reverse("triage:case_edit", kwargs={"case": case.uuid})
    assert client_for(oscar).post(edit, {"urgency": 0}).status_code == 404
    assert client_for(alice).get("/cases/not-a-uuid/").status_code == 404


def test_case_list_shows_backlog_counts(client_for, case, sam, post_upload, ivan):
    from .helpers import image_bytes, upload_file

    post_upload(client_for(ivan), case, [upload_file("a.png", image_bytes(1))])
    page = client_for(sam).get(reverse("triage:case_list"))
    table = page.content.decode()
    assert "DP-100" in table and "Urgent" in table
    # One upload with one item.
    assert page.context["page"].object_list[0].n_batches == 1
    assert page.context["page"].object_list[0].n_items == 1


def test_investigator_creates_a_case_with_a_team(client_for, ivan, iris, sam):
    client = client_for(ivan)
    assert client.get(reverse("triage:case_create")).status_code == 200
    response = client.post(
        reverse("triage:case_create"),
        {"reference": "DP-55", "title": "Attic", "urgency": 3, "team": [iris.pk], "lead": ivan.pk},
    )
    assert response.status_code == 302
    created = Case.objects.get(reference="DP-55")
    assert response["Location"] == detail(created)
    assert created.urgency == 3 and created.lead == ivan
    assert set(created.team.all()) == {ivan, iris}
    assert client_for(iris).get(detail(created)).status_code == 200


def test_case_reference_is_unique_per_agency(client_for, ivan, oscar, case):
    response = client_for(ivan).post(
        reverse("triage:case_create"), {"reference": "dp-100", "title": "Again", "urgency": 0}
    )
    assert response.status_code == 200
    assert b"already has a case with this reference" in response.content
    # Another agency may use the same reference.
    response = client_for(oscar).post(
        reverse("triage:case_create"), {"reference": "DP-100", "title": "Theirs", "urgency": 0}
    )
    assert response.status_code == 302


def test_team_is_chosen_from_agency_members_only(client_for, ivan, iris, oscar):
    response = client_for(ivan).post(
        reverse("triage:case_create"),
        {"reference": "DP-9", "title": "X", "urgency": 0, "team": [oscar.pk]},
    )
    assert response.status_code == 200
    assert not Case.objects.filter(reference="DP-9").exists()
    page = client_for(ivan).get(reverse("triage:case_create")).content.decode()
    assert "iris" in page and "oscar" not in page


def test_edit_team_and_urgency_is_audited(client_for, case, sam, iris, ivan):
    url = reverse("triage:case_edit", kwargs={"case": case.uuid})
    response = client_for(sam).post(url, {"urgency": 1, "team": [ivan.pk, iris.pk]})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.urgency == 1 and set(case.team.all()) == {ivan, iris}
    event = AuditEvent.objects.filter(action="case.updated").last()
    assert event.object_id == str(case.uuid) and event.actor == sam
    assert event.data["after"]["team"] == ["iris", "ivan"]
    assert client_for(iris).get(detail(case)).status_code == 200


def test_logged_out_is_sent_to_login(client, case):
    response = client.get(reverse("triage:case_list"))
    assert response.status_code == 302 and "next=" in response["Location"]
