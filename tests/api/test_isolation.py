"""Every API endpoint, called as another agency: 404 (its objects' existence is never
revealed); a role that is not enough: 403; an investigator off the case: 404."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hub.models import Role
from tests.api.conftest import add_file, error_of, png
from triage.models import ExportJob, HashList
from triage.models.matching import HashImport
from triage.services.intake import batch_create


@pytest.fixture
def demo(case, ivan, tmp_path, demo_agency, alice):
    """Demo Police objects of every kind the API names."""
    batch = batch_create(case=case, user=ivan, exhibit_ref="EX/9")
    item = add_file(batch, png(7), "seven.png", tmp_path)
    hash_list = HashList.objects.create(agency=demo_agency, name="Demo list", created_by=alice)
    hash_import = HashImport.objects.create(
        hash_list=hash_list, file_name="a.txt", storage_path="", format="text"
    )
    export = ExportJob.objects.create(agency=demo_agency, case=case, created_by=ivan)
    return {
        "case": case,
        "batch": batch,
        "item": item,
        "hashlist": hash_list,
        "hashimport": hash_import,
        "export": export,
    }


def endpoints(d):
    """(name, kwargs, method, body) for every endpoint naming an object."""
    case, batch, item, hl = (
        {"case": d["case"].uuid},
        {"batch": d["batch"].uuid},
        {"item": d["item"].uuid},
        {"hashlist": d["hashlist"].uuid},
    )
    return [
        ("triage:api_case", case, "get", None),
        ("triage:api_case_batches", case, "get", None),
        ("triage:api_case_batches", case, "post", {"exhibit_ref": "X"}),
        ("triage:api_case_items", case, "get", None),
        ("triage:api_batch", batch, "get", None),
        ("triage:api_batch_items", batch, "get", None),
        ("triage:api_batch_submit", batch, "post", {}),
        ("triage:api_batch_files", batch, "multipart", None),
        ("triage:api_item", item, "get", None),
        ("triage:api_item_decisions", item, "post", {"category": "1"}),
        ("triage:api_hashlist_export", hl, "get", None),
        ("triage:api_hashlist_imports", hl, "multipart", None),
        ("triage:api_hashlist_import", {**hl, "hashimport": d["hashimport"].uuid}, "get", None),
        ("triage:api_case_exports", case, "get", None),
        ("triage:api_case_exports", case, "post", {"batch": str(d["batch"].uuid)}),
        ("triage:api_export", {"export": d["export"].uuid}, "get", None),
        ("triage:api_export_download", {"export": d["export"].uuid}, "get", None),
    ]


def call(client, name, kwargs, method, body):
    url = reverse(name, kwargs=kwargs)
    if method == "get":
        return client.get(url)
    if method == "multipart":
        upload = SimpleUploadedFile("f.png", png(1), content_type="image/png")
        return client.post(url, {"file": upload}, format="multipart")
    return client.post(url, body, format="json")


def test_every_endpoint_is_404_for_another_agency(demo, api_for, otto, oscar):
    """Otto is Other Force's admin: the role never hides a 404 behind a 403."""
    client = api_for(otto)
    for name, kwargs, method, body in endpoints(demo):
        response = call(client, name, kwargs, method, body)
        assert response.status_code == 404, (name, method, response.status_code)
        assert error_of(response)["code"] == "not_found"
    # Nothing of Demo Police leaks into Other Force's lists either.
    for name in ("triage:api_cases", "triage:api_batches", "triage:api_hashlists"):
        results = api_for(otto).get(reverse(name)).json()["results"]
        assert not any(str(demo[k].uuid) in str(results) for k in ("case", "batch", "hashlist"))


def test_objects_are_reachable_by_their_own_agency(demo, api_for, alice):
    """The same calls as Demo Police's admin do not 404 (the test above can fail)."""
    client = api_for(alice)
    for name, kwargs, method, body in endpoints(demo):
        if name == "triage:api_batch_submit" or name == "triage:api_item_decisions":
            continue  # state-changing; covered in their own tests
        response = call(client, name, kwargs, method, body)
        if name == "triage:api_export_download":  # the export is still pending
            assert response.status_code == 409, response.content
            assert error_of(response)["code"] == "export_not_ready"
            continue
        assert (
            response.status_code < 400
            or response.status_code == 400
            and (error_of(response)["code"] != "not_found")
        ), (name, method, response.status_code)


def test_investigator_off_the_case_gets_404(demo, api_for, iris):
    client = api_for(iris)
    for name, kwargs, method, body in endpoints(demo):
        if "hashlist" in name:
            continue
        response = call(client, name, kwargs, method, body)
        assert response.status_code == 404, (name, method)
    assert api_for(iris).get(reverse("triage:api_cases")).json()["count"] == 0


@pytest.mark.parametrize(
    "name, role",
    [
        ("triage:api_hashlists", Role.SUPERVISOR),
        ("triage:api_hashlist_export", Role.ADMIN),
        ("triage:api_hashlist_imports", Role.ADMIN),
        ("triage:api_hashlist_import", Role.ADMIN),
    ],
)
def test_role_not_enough_is_403(demo, api_for, ivan, sam, name, role):
    kwargs = {
        "triage:api_hashlists": None,
        "triage:api_hashlist_export": {"hashlist": demo["hashlist"].uuid},
        "triage:api_hashlist_imports": {"hashlist": demo["hashlist"].uuid},
        "triage:api_hashlist_import": {
            "hashlist": demo["hashlist"].uuid,
            "hashimport": demo["hashimport"].uuid,
        },
    }[name]
    method = "multipart" if name == "triage:api_hashlist_imports" else "get"
    callers = [ivan] if role == Role.SUPERVISOR else [ivan, sam]
    for user in callers:
        response = call(api_for(user), name, kwargs, method, None)
        assert response.status_code == 403, (name, user)
        error = error_of(response)
        assert error["code"] == "permission_denied" and "role" in error["message"]


def test_operator_without_agency_is_403(client_for, hugo):
    response = client_for(hugo).get(reverse("triage:api_cases"))
    assert response.status_code == 403
    assert "member of an agency" in error_of(response)["message"]
