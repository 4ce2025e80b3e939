"""Hash lookup (rate-limited, audited, agency's usable lists only), hash lists, and
import/export for admins."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hub.models import AuditEvent
from tests.api.conftest import error_of, png
from triage.matching.lists import hashlist_create
from triage.models import HashEntry
from triage.models.matching import HashImport

LOOKUP = reverse("triage:api_lookup")
KNOWN = hashlib.md5(png(1)).hexdigest()
SECRET = hashlib.md5(b"other force only").hexdigest()


@pytest.fixture
def lists(demo_agency, other_agency, alice, otto):
    own = hashlist_create(agency=demo_agency, user=alice, name="Demo known")
    HashEntry.objects.create(hash_list=own, md5=KNOWN, category="1")
    private = hashlist_create(agency=other_agency, user=otto, name="Other private")
    HashEntry.objects.create(hash_list=private, md5=SECRET, category="1")
    return own, private


def test_lookup_answers_list_category_algorithm_distance(api_for, ivan, lists):
    response = api_for(ivan).post(LOOKUP, {"hashes": [KNOWN, SECRET, "not-a-hash"]}, format="json")
    assert response.status_code == 200, response.content
    known, secret, bad = response.json()["results"]
    assert known["known"] is True
    assert known["hits"] == [
        {
            "list": "Demo known",
            "category": "1 · Child abuse material",
            "algorithm": "MD5",
            "distance": 0,
        }
    ]
    # Another agency's private list is never consulted.
    assert secret["known"] is False and secret["hits"] == []
    assert bad["error"] and bad["known"] is False
    event = AuditEvent.objects.get(action="hash.lookup")
    assert event.actor == ivan and event.data["known"] == 1


def test_lookup_validates_its_input(api_for, ivan, lists):
    response = api_for(ivan).post(LOOKUP, {"hashes": []}, format="json")
    assert response.status_code == 400
    assert "hashes" in error_of(response)["details"]
    response = api_for(ivan).post(LOOKUP, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_lookups_are_rate_limited_per_user(api_for, ivan, iris, lists):
    api = api_for(ivan)
    for _ in range(60):
        assert api.post(LOOKUP, {"hashes": [KNOWN]}, format="json").status_code == 200
    response = api.post(LOOKUP, {"hashes": [KNOWN]}, format="json")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    # Another user is not slowed down by ivan.
    assert api_for(iris).post(LOOKUP, {"hashes": [KNOWN]}, format="json").status_code == 200


def test_hash_lists_lists_usable_lists(api_for, sam, lists):
    body = api_for(sam).get(reverse("triage:api_hashlists")).json()
    assert [row["name"] for row in body["results"]] == ["Demo known"]
    assert body["results"][0]["owned"] is True


def test_admin_imports_and_exports_a_list(
    api_for, alice, lists, django_capture_on_commit_callbacks
):
    own, _ = lists
    new = hashlib.md5(b"benign sample").hexdigest()
    upload = SimpleUploadedFile("hashes.txt", f"{new}\n".encode(), content_type="text/plain")
    url = reverse("triage:api_hashlist_imports", kwargs={"hashlist": own.uuid})
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(alice).post(url, {"file": upload, "format": "text"}, format="multipart")
    assert response.status_code == 202, response.content
    job = response.json()
    status_url = reverse(
        "triage:api_hashlist_import", kwargs={"hashlist": own.uuid, "hashimport": job["uuid"]}
    )
    assert api_for(alice).get(status_url).json()["status"] == HashImport.Status.DONE
    assert HashEntry.objects.filter(hash_list=own, md5=new).exists()

    export = reverse("triage:api_hashlist_export", kwargs={"hashlist": own.uuid})
    response = api_for(alice).get(export, {"file_format": "text", "algorithm": "md5"})
    assert response.status_code == 200
    exported = b"".join(response.streaming_content).decode().split()
    assert sorted(exported) == sorted([KNOWN, new])
    assert AuditEvent.objects.filter(action="hashlist.exported").exists()
    response = api_for(alice).get(export, {"file_format": "pdf"})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid"


def test_shared_or_hub_wide_lists_are_not_exportable(api_for, alice, hugo, lists):
    hub_list = hashlist_create(agency=None, user=hugo, name="Hub wide")
    url = reverse("triage:api_hashlist_export", kwargs={"hashlist": hub_list.uuid})
    assert api_for(alice).get(url).status_code == 404
