"""Hash-list pages and lookup as personas: roles, isolation, audit, and no leaks through
sharing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hub.models import AuditEvent
from triage.matching import service
from triage.matching.importers import import_bytes
from triage.matching.lists import hashlist_create, hashlist_share
from triage.matching.service import match_items
from triage.models import HashEntry, HashList

from .helpers import Evidence, crypto, jpeg, pattern, pdq_of, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    service.INDEX_CACHE.clear()


@pytest.fixture
def own_list(demo_agency, alice):
    hl = hashlist_create(agency=demo_agency, user=alice, name="Demo known")
    import_bytes(hl, ("0123456789abcdef" * 2 + ",1\n").encode(), "text")
    return hl


@pytest.fixture
def their_list(other_agency, otto):
    return hashlist_create(agency=other_agency, user=otto, name="Other secret list")


def test_roles_on_the_list_page(client_for, alice, sam, ivan, own_list):
    url = reverse("triage:hashlist_list")
    assert client_for(ivan).get(url).status_code == 403
    page = client_for(sam).get(url)
    assert page.status_code == 200 and b"Demo known" in page.content
    assert b"New hash list" not in page.content
    assert b"New hash list" in client_for(alice).get(url).content
    assert client_for(sam).get(reverse("triage:hashlist_create")).status_code == 403
    edit = reverse("triage:hashlist_edit", kwargs={"hashlist": own_list.uuid})
    assert client_for(sam).post(edit, {"name": "x"}).status_code == 403


def test_other_agencys_list_is_404(client_for, alice, their_list):
    kwargs = {"hashlist": their_list.uuid}
    client = client_for(alice)
    for name in ("hashlist_detail", "hashlist_export", "hashlist_import"):
        assert client.get(reverse(f"triage:{name}", kwargs=kwargs)).status_code == 404
    for name in ("hashlist_edit", "hashlist_share", "hashlist_tombstone"):
        assert client.post(reverse(f"triage:{name}", kwargs=kwargs)).status_code == 404


def test_create_import_and_progress(client_for, alice, django_capture_on_commit_callbacks):
    client = client_for(alice)
    response = client.post(
        reverse("triage:hashlist_create"),
        {"name": "Mine", "scheme": "projectvic_us", "pdq_threshold": 31, "pdq_quality_min": 50},
    )
    assert response.status_code == 302
    hl = HashList.objects.get(name="Mine")
    assert AuditEvent.objects.filter(action="hashlist.created", object_id=str(hl.uuid)).exists()
    upload = SimpleUploadedFile("h.txt", ("aa" * 16 + "\nnot a hash\n").encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("triage:hashlist_import", kwargs={"hashlist": hl.uuid}),
            {"file": upload, "format": "auto", "hex64": "sha256"},
        )
    assert response.status_code == 302
    assert HashEntry.objects.filter(hash_list=hl).count() == 1
    detail = client.get(reverse("triage:hashlist_detail", kwargs={"hashlist": hl.uuid}))
    assert b"line 2: no MD5" in detail.content
    progress = client.get(reverse("triage:hashlist_list") + "?fragment=progress")
    assert b"2/2" in progress.content and b"1 added" in progress.content


def test_settings_require_category_map_values_in_scheme(client_for, alice, own_list):
    url = reverse("triage:hashlist_edit", kwargs={"hashlist": own_list.uuid})
    data = {
        "name": "Demo known",
        "scheme": "legacy",
        "category_map": '{"0": "9"}',
        "pdq_threshold": 31,
        "pdq_quality_min": 50,
        "is_active": "on",
    }
    client_for(alice).post(url, data)
    own_list.refresh_from_db()
    assert own_list.scheme == "projectvic_us"  # refused: 9 is no Project VIC category
    data["category_map"] = '{"0": "0", "1": "1"}'
    version = own_list.version
    client_for(alice).post(url, data)
    own_list.refresh_from_db()
    assert own_list.scheme == "legacy" and own_list.version == version + 1


def test_export_formats_and_audit(client_for, sam, own_list):
    client = client_for(sam)
    url = reverse("triage:hashlist_export", kwargs={"hashlist": own_list.uuid})
    vics = b"".join(client.get(url + "?format=vics").streaming_content)
    assert b'"@odata.context"' in vics and b"0123456789abcdef" in vics
    import json

    assert json.loads(vics)["value"][0]["Media"][0]["Category"] == 1
    csv = b"".join(client.get(url + "?format=csv").streaming_content)
    assert csv.startswith(b"md5,sha1,sha256,pdq")
    text = b"".join(client.get(url + "?format=text&algorithm=md5").streaming_content)
    assert text == b"0123456789abcdef" * 2 + b"\n"
    assert AuditEvent.objects.filter(action="hashlist.exported").count() == 3
    # Round trip: the export imports into a new list unchanged.
    copy = hashlist_create(agency=own_list.agency, user=sam, name="Copy")
    assert import_bytes(copy, vics, "vics")["added"] == 1


def test_tombstone_view(client_for, alice, own_list):
    url = reverse("triage:hashlist_tombstone", kwargs={"hashlist": own_list.uuid})
    client_for(alice).post(url, {"hashes": "0123456789abcdef" * 2 + "\nnope"})
    assert HashEntry.objects.get(hash_list=own_list).deleted_at is not None
    assert AuditEvent.objects.filter(action="hashlist.tombstoned").exists()


def test_lookup_pasted_and_file(client_for, ivan, demo_agency, alice):
    rgb = pattern(31)
    data = png_bytes(rgb)
    hl = hashlist_create(agency=demo_agency, user=alice, name="Lookup list")
    import_bytes(
        hl, f"md5,pdq,category\n{crypto(data)['md5']},{pdq_of(rgb)[0]},2\n".encode(), "text"
    )
    client = client_for(ivan)
    url = reverse("triage:lookup")
    assert client.get(url).status_code == 200
    response = client.post(url, {"hashes": crypto(data)["md5"] + "\n" + "ee" * 16 + "\nxyz"})
    body = response.content.decode()
    assert "Lookup list" in body and "Child exploitive" in body
    assert "Not known" in body and "not an MD5" in body
    near = jpeg(rgb, quality=40)
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(near).save(buf, format="JPEG", quality=40)
    upload = SimpleUploadedFile("probe.jpg", buf.getvalue(), content_type="image/jpeg")
    response = client.post(url, {"hashes": "", "file": upload}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body  # the htmx partial
    assert "PDQ at distance" in body and "Lookup list" in body
    assert AuditEvent.objects.filter(action="hash.lookup").count() == 2


def test_sharing_does_not_leak_the_source(
    client_for, demo_agency, other_agency, otto, alice, sam, ivan
):
    """Other Force shares a list; Demo Police's item matches it. Demo Police sees the
    list name and the category, nothing of where the entry came from."""
    rgb = pattern(41)
    source = Evidence(other_agency, reference="OTHER-CASE-7731", user=otto)
    source_item = source.item(rgb, name="otto-secret-exhibit-file.png")
    shared = hashlist_create(agency=other_agency, user=otto, name="Shared known list")
    import_bytes(
        shared,
        (
            "md5,pdq,category,series,id\n"
            f"{crypto(png_bytes(rgb))['md5']},{pdq_of(rgb)[0]},1,"
            f"SeriesOTHER-CASE-7731,ref-otto-secret-exhibit-file\n"
        ).encode(),
        "text",
    )
    hashlist_share(hash_list=shared, user=otto, agencies=[demo_agency], share_all=False)
    mine = Evidence(demo_agency, user=alice).item(jpeg(rgb), name="demo-file.jpg")
    match_items([mine])
    assert mine.matches.exists()

    forbidden = [
        "OTHER-CASE-7731",
        "otto-secret-exhibit-file",
        "otto",
        "Otto",
        "Other Force",
        str(source_item.uuid),
        str(shared.uuid).upper(),
    ]
    forbidden += [str(e.id) for e in HashEntry.objects.filter(hash_list=shared)][:0]

    from django.template.loader import render_to_string

    section = render_to_string("triage/items/_matches.html", {"item": mine})
    assert "Shared known list" in section and "Child abuse material" in section
    for text in forbidden:
        assert text not in section, text

    client = client_for(ivan)
    body = client.post(reverse("triage:lookup"), {"hashes": pdq_of(rgb)[0]}).content.decode()
    assert "Shared known list" in body
    for text in forbidden:
        assert text not in body, text

    page = client_for(sam).get(reverse("triage:hashlist_list")).content.decode()
    detail = client_for(sam).get(
        reverse("triage:hashlist_detail", kwargs={"hashlist": shared.uuid})
    )
    assert detail.status_code == 200
    for body in (page, detail.content.decode()):
        assert "Shared known list" in body
        for text in forbidden + [crypto(png_bytes(rgb))["md5"]]:
            assert text not in body, text
    # ...but the shared list cannot be exported, edited or imported into by the receiver.
    kwargs = {"hashlist": shared.uuid}
    assert (
        client_for(alice).get(reverse("triage:hashlist_export", kwargs=kwargs)).status_code == 404
    )
    assert client_for(alice).post(reverse("triage:hashlist_edit", kwargs=kwargs)).status_code == 404


def test_hub_operator_manages_hub_wide_lists(client_for, hugo, alice, demo_agency):
    client = client_for(hugo)
    response = client.post(
        reverse("triage:hashlist_create"),
        {"name": "Hub list", "scheme": "projectvic_us", "pdq_threshold": 31, "pdq_quality_min": 50},
    )
    assert response.status_code == 302
    hl = HashList.objects.get(name="Hub list")
    assert hl.agency is None
    page = client_for(alice).get(reverse("triage:hashlist_list")).content.decode()
    assert "Hub list" in page
    detail = client_for(alice).get(reverse("triage:hashlist_detail", kwargs={"hashlist": hl.uuid}))
    assert b"shared with your agency by the hub" in detail.content
    assert (
        client_for(alice)
        .post(reverse("triage:hashlist_tombstone", kwargs={"hashlist": hl.uuid}))
        .status_code
        == 404
    )
