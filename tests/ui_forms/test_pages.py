"""Lookup, labels, hub health and chart ticks."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from hub.models import AuditEvent
from triage.dashboard import charts, health

pytestmark = pytest.mark.django_db


def test_empty_lookup_is_a_field_error_not_an_empty_table(client_for, ivan):
    client = client_for(ivan)
    response = client.post(reverse("triage:lookup"), {"hashes": "  \n "})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Paste at least one hash, or choose a file." in body
    assert 'data-testid="lookup-results"' not in body and "<table" not in body
    assert not AuditEvent.objects.filter(action="hash.lookup").exists()


def test_empty_lookup_through_htmx_replaces_the_form(client_for, ivan):
    response = client_for(ivan).post(
        reverse("triage:lookup"), {"hashes": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200  # htmx swaps no 4xx answer
    assert response["HX-Retarget"] == "#lookup-form"
    body = response.content.decode()
    assert "Paste at least one hash" in body and "<table" not in body


def test_lookup_with_a_value_still_shows_results(client_for, ivan):
    response = client_for(ivan).post(reverse("triage:lookup"), {"hashes": "ee" * 16})
    assert response.status_code == 200
    assert 'data-testid="lookup-results"' in response.content.decode()


def test_upload_and_case_forms_have_no_label_colon(client_for, ivan, demo_agency):
    from triage.services.intake import case_create

    client = client_for(ivan)
    case = case_create(agency=demo_agency, user=ivan, reference="C-1", title="t", team=[ivan])
    new_case = client.get(reverse("triage:case_create")).content.decode()
    upload = client.get(reverse("triage:batch_upload", kwargs={"case": case.uuid}))
    upload = upload.content.decode()
    for label in ("Reference", "Title"):
        assert f">{label}</label>" in new_case and f">{label}:</label>" not in new_case
    for label in ("Exhibit reference", "Note"):
        assert f">{label}</label>" in upload and f">{label}:</label>" not in upload


@pytest.mark.parametrize("url", ["filesystem://", "memory://"])
def test_health_says_at_once_that_a_demo_broker_cannot_report_workers(url, monkeypatch):
    from hub.celery import app

    def no_ping(*a, **k):
        raise AssertionError("no ping should be sent over this broker")

    monkeypatch.setattr(app.control, "inspect", no_ping)
    started = time.monotonic()
    assert health.workers_seen(timeout=5, broker_url=url) is None
    assert time.monotonic() - started < 0.5
    kind = url.split(":")[0]
    assert health.workers_unavailable_reason(url) == (
        f"worker status is not available with the {kind} broker (demo mode)"
    )
    assert health.workers_unavailable_reason("redis://127.0.0.1:6379/0") == ""


def test_health_page_shows_the_broker_message(client_for, hugo, settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    started = time.monotonic()
    response = client_for(hugo).get(reverse("triage:hub_health"))
    assert time.monotonic() - started < 1.5
    body = response.content.decode()
    assert "Worker status is not available with the filesystem broker (demo mode)" in body
    assert "did not answer a ping" not in body


@pytest.mark.parametrize(
    "peak, expected",
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (25, [0, 10, 20, 30]),
        (37.5, [0, 10, 20, 30, 40]),
        (99, [0, 25, 50, 75, 100]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_count_axes_have_round_integer_ticks(peak, expected):
    ticks = charts.nice_ticks(peak)
    assert ticks == expected
    assert all(float(t).is_integer() for t in ticks)
    assert ticks[-1] >= peak


def test_small_counts_never_get_fractional_ticks():
    for peak in (0.3, 1, 2, 5, 6, 9, 13, 18, 25, 50, 75):
        ticks = charts.nice_ticks(peak)
        assert all(float(t).is_integer() for t in ticks), (peak, ticks)
        assert 2 <= len(ticks) <= 6, (peak, ticks)


def test_chart_tick_labels_are_whole_numbers():
    svg = charts.bar_chart("c", "t", ["a", "b"], [charts.Series("s", [25, 3])])
    labels = [
        part.split(">", 1)[1].split("<", 1)[0] for part in svg.split('<text class="tick"')[1:]
    ]
    numbers = [label for label in labels if label.replace(".", "").isdigit()]
    assert numbers == ["0", "10", "20", "30"]
