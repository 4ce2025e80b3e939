"""Hub health: operator only, counts only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from triage.dashboard import health
from triage.models import Blob, Case, EvidenceBatch, EvidenceItem


@pytest.fixture
def no_ping(monkeypatch):
    monkeypatch.setattr(health, "workers_seen", lambda timeout=1.0: ["w1@host"])


def test_filesystem_queue_depths(tmp_path):
    for i, q in enumerate(["intake", "intake", "inference", "other"]):
        (tmp_path / f"{i}_abc.{q}.msg").write_bytes(b"{}")
    (tmp_path / "junk.txt").write_bytes(b"")
    depths = health.queue_depths("filesystem://", {"data_folder_in": str(tmp_path)})
    assert depths == {"intake": 2, "inference": 1, "maintenance": 0}


def test_unknown_broker_and_unreachable_redis():
    assert health.queue_depths("amqp://x", {}) == dict.fromkeys(health.QUEUES)
    assert health.queue_depths("redis://127.0.0.1:1/0", {}) == dict.fromkeys(health.QUEUES)


def test_workers_seen_survives_a_broken_broker(monkeypatch):
    from hub.celery import app

    def boom(*a, **k):
        raise OSError("no broker")

    monkeypatch.setattr(app.control, "inspect", boom)
    assert health.workers_seen(timeout=0.1) is None


def test_operator_page_counts_only(client_for, hugo, sam, demo_agency, other_agency, no_ping):
    now = timezone.now()
    for agency, n_failed, n_err in ((demo_agency, 3, 1), (other_agency, 0, 2)):
        case = Case.objects.create(agency=agency, reference="H", title="secret title")
        batch = EvidenceBatch.objects.create(agency=agency, case=case)
        for i in range(n_failed + n_err + 1):
            status = "failed" if i < n_failed else "errored" if i < n_failed + n_err else "done"
            EvidenceItem.objects.create(
                agency=agency, case=case, batch=batch, path=f"secret/path{i}.jpg",
                original_name="x", status=status, processed_at=now,
                failure_reason="secret reason",
            )  # fmt: skip
        EvidenceItem.objects.create(
            agency=agency, case=case, batch=batch, path="old", original_name="o",
            status="failed", processed_at=now - timedelta(days=2),
        )  # fmt: skip
    Blob.objects.create(
        agency=demo_agency, sha256="a" * 64, sha1="", md5="", size=1, fixity_ok=False
    )
    Blob.objects.create(
        agency=demo_agency, sha256="b" * 64, sha1="", md5="", size=1, fixity_ok=True
    )
    assert client_for(sam).get(reverse("triage:hub_health")).status_code == 403
    response = client_for(hugo).get(reverse("triage:hub_health"))
    assert response.status_code == 200
    h = response.context["health"]
    assert {r["agency__name"]: (r["failed"], r["errored"]) for r in h["failures"]} == {
        "Demo Police": (3, 1),
        "Other Force": (0, 2),
    }
    assert h["fixity_failures"] == 1
    assert h["workers"] == ["w1@host"]
    body = response.content.decode()
    assert "secret" not in body
