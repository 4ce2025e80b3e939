"""Dangerous file names: control characters (ESC, LF, CR, DEL), a right-to-left override,
bytes that are not UTF-8, ``../`` and a 4,000-character name, inside archives and as upload
names. Provenance is kept, but escaped (``\\x1b``), so that no page, header or CSV cell
ever carries the raw character."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.hostile import corpus
from tests.hostile.checks import RAW_CONTROL
from triage.models import EvidenceItem, ItemStatus

ESCAPED = {
    "esc\x1b[31mred.txt": "esc\\x1b[31mred.txt",
    "new\nline.txt": "new\\x0aline.txt",
    "carriage\rreturn.txt": "carriage\\x0dreturn.txt",
    "del\x7f.txt": "del\\x7f.txt",
    corpus.BIDI_NAME: "invoice\\u202etxt.exe",
    corpus.LATIN1_NAME: "caf\\xe9.txt",
}
RAW_PIECES = ("\x1b", "\x7f", "\u202e", "new\nline", "carriage\rreturn", "\udce9")


def assert_no_raw_names(text: str, where: str) -> None:
    for piece in RAW_PIECES:
        assert piece not in text, (where, repr(piece))


@pytest.fixture
def names_batch(add, batch, tmp_path, process_now):
    add(corpus.names_zip(tmp_path / "names.zip"))
    add(corpus.names_tar(tmp_path / "names.tar"))
    process_now(batch)
    return batch


def test_names_inside_archives_are_kept_escaped_everywhere_they_are_shown(
    names_batch, client_for, alice
):
    members = EvidenceItem.objects.filter(batch=names_batch, parent__isnull=False)
    assert members.count() == 6 + 6
    assert set(members.values_list("status", flat=True)) == {ItemStatus.DONE}
    for item in members:
        assert not RAW_CONTROL.search(item.path), repr(item.path)
        assert not RAW_CONTROL.search(item.original_name), repr(item.original_name)
    paths = set(members.values_list("path", flat=True))
    for raw, escaped in ESCAPED.items():
        folder = "names.tar/t" if raw == corpus.LATIN1_NAME else "names.zip/dir"
        assert f"{folder}/{escaped}" in paths, (raw, sorted(paths))
    assert "names.tar/t/new\\x0aline.txt" in paths
    # The 4,000-character name: the full provenance in the path, a shortened display name.
    for archive in ("names.zip", "names.tar"):
        long = members.get(path=f"{archive}/{corpus.LONG_NAME}")
        assert len(long.path) == len(archive) + 1 + 4000
        assert len(long.original_name) <= 500

    # Pages, the download header and CSV cells never carry a raw character.
    from triage.exports.csv_items import cell

    client = client_for(alice)
    batch_page = client.get(reverse("triage:batch_detail", kwargs={"batch": names_batch.uuid}))
    assert batch_page.status_code == 200
    html = batch_page.content.decode()
    assert_no_raw_names(html, "batch page")
    assert "esc\\x1b[31mred.txt" in html and "invoice\\u202etxt.exe" in html
    for item in EvidenceItem.objects.filter(batch=names_batch, parent__isnull=False):
        page = client.get(reverse("triage:item_detail", kwargs={"item": item.uuid}))
        assert page.status_code == 200
        assert_no_raw_names(page.content.decode(), item.path[:60])
        assert item.original_name in page.content.decode()
        assert_no_raw_names(cell(item.path) + cell(item.original_name), "csv")
    bidi = EvidenceItem.objects.get(batch=names_batch, path__endswith="txt.exe")
    download = client.get(reverse("triage:item_original", kwargs={"item": bidi.uuid}))
    assert download.status_code == 200
    disposition = download["Content-Disposition"]
    assert "attachment" in disposition and not RAW_CONTROL.search(disposition)
    b"".join(download.streaming_content)


def test_upload_names_and_folder_paths_are_escaped(
    client_for, alice, case, django_capture_on_commit_callbacks, tmp_path, settings
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    names = ["esc\x1bname.jpg", "del\x7f.jpg", corpus.BIDI_NAME, corpus.LONG_NAME, "plain.jpg"]
    files = [
        SimpleUploadedFile(name, corpus.small_jpeg(70 + i), content_type="image/jpeg")
        for i, name in enumerate(names)
    ]
    # upload.js sends each file's folder path in the manifest: any characters may be there.
    paths = [
        "",
        "",
        "",
        "",
        "../../etc/" + "deep/" * 790 + "new\nline\r.jpg",  # ~4,000 characters, '..' and LF/CR
    ]
    manifest = json.dumps([{"path": p, "sha256": ""} for p in paths])
    url = reverse("triage:batch_upload", kwargs={"case": case.uuid})
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            url,
            {"exhibit_ref": "HX/2", "note": "", "files": files, "manifest": manifest},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 5
    items = EvidenceItem.objects.filter(case=case).order_by("id")
    assert set(items.values_list("status", flat=True)) == {ItemStatus.DONE}
    for item in items:
        assert not RAW_CONTROL.search(item.path + item.original_name), repr(item.path)
    by_path = {i.path: i for i in items}
    # Django's multipart parser already drops non-printable characters from upload names.
    assert {"escname.jpg", "del.jpg", "invoicetxt.exe"} <= set(by_path)
    # Django keeps at most 255 characters of an upload's name (the extension survives).
    long = next(i for i in items if i.path.startswith("nnn"))
    assert len(long.path) == 255 and long.path.endswith(".txt")
    deep = next(i for i in items if i.path.endswith(".jpg") and i.path.startswith("etc/"))
    assert deep.path.endswith("new\\x0aline\\x0d.jpg") and ".." not in deep.path.split("/")
    assert len(deep.path) > 3900
    assert deep.original_name == "plain.jpg"  # the browser's file name; the path is the manifest's
    assert not list(tmp_path.parent.rglob("new*line*"))  # nothing named after it on disk


def test_service_level_long_name_keeps_the_whole_path(add, batch, tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(corpus.small_jpeg(80))
    item = add(path, name="a" * 3000 + "\x1b" + "b" * 997 + ".jpg")
    assert item.path == "a" * 3000 + "\\x1b" + "b" * 997 + ".jpg"
    assert len(item.original_name) == 500 and item.original_name.endswith("bbb.jpg")
    assert "…" in item.original_name and not RAW_CONTROL.search(item.original_name)
