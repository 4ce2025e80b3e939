"""Each importer on generated files, including malformed ones."""

from __future__ import annotations

import json

import pytest

from hub.models import AuditEvent
from triage.matching.importers import ImportFileError, import_bytes, parse_bytes
from triage.matching.importers.base import BadRow, Record
from triage.matching.lists import HashListError, hashlist_create
from triage.models import HashEntry

pytestmark = pytest.mark.django_db

MD5 = ["%032x" % (i + 1) for i in range(10)]
SHA1 = ["%040x" % (i + 1) for i in range(10)]
PDQ = ["%064x" % ((i + 1) * 0x1234567) for i in range(10)]


def vics(media: list[dict], *, version: int = 2, flat: bool = False) -> bytes:
    envelope = (
        {"@odata.context": "http://x/$metadata#Cases"}
        if version == 2
        else {"odata.metadata": "http://x/$metadata#Cases"}
    )
    envelope["value"] = media if flat else [{"CaseID": "7", "Media": media}]
    return json.dumps(envelope, indent=2).encode()


def media(i: int, **extra) -> dict:
    return {
        "MediaID": i,
        "MD5": MD5[i],
        "SHA1": SHA1[i],
        "Category": 1,
        "IsPrecategorized": True,
        "VictimIdentified": False,
        "Series": "S",
        "AlternativeHashes": [{"HashName": "PDQ", "HashValue": PDQ[i]}],
        **extra,
    }


@pytest.fixture
def hash_list(demo_agency, alice):
    return hashlist_create(agency=demo_agency, user=alice, name="Known")


def test_vics_2_envelope_imports_all_fields(hash_list, alice):
    summary = import_bytes(hash_list, vics([media(0), media(1, Category=2)]), "vics", user=alice)
    assert (summary["added"], summary["updated"], summary["skipped"]) == (2, 0, 0)
    entry = HashEntry.objects.get(hash_list=hash_list, md5=MD5[1])
    assert (entry.sha1, entry.pdq, entry.category) == (SHA1[1], PDQ[1], "2")
    assert entry.victim_identified is False and entry.series == "S"
    hash_list.refresh_from_db()
    assert hash_list.version == 2
    assert AuditEvent.objects.filter(action="hashlist.imported").count() == 1


def test_vics_1x_flat_value_and_sha256_alternative(hash_list):
    sha256 = "ab" * 32
    doc = vics(
        [media(0, AlternativeHashes=[{"HashName": "SHA256", "HashValue": sha256}])],
        version=1,
        flat=True,
    )
    summary = import_bytes(hash_list, doc, "auto", file_name="x.json")
    assert summary["added"] == 1
    assert HashEntry.objects.get(hash_list=hash_list).sha256 == sha256


def test_vics_bad_rows_have_line_numbers_and_do_not_abort(hash_list):
    doc = vics([media(0), media(1, MD5="nothex"), media(2, Category=9), media(3)])
    rows = parse_bytes(doc, "vics")
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert len(bad) == 1
    # The bad Media starts on the line of its opening brace in the indented document.
    text = doc.decode()
    expected_line = text[: text.index('"MediaID": 1')].count("\n")  # the "{" line
    assert bad[0].line == expected_line
    summary = import_bytes(hash_list, doc, "vics")
    assert summary["added"] == 2
    assert summary["bad_rows"] == 2
    lines = sorted(e["line"] for e in summary["errors"])
    assert all(isinstance(n, int) and n > 1 for n in lines)
    assert any("category '9'" in e["reason"] for e in summary["errors"])


def test_vics_update_and_duplicate(hash_list):
    import_bytes(hash_list, vics([media(0)]), "vics")
    summary = import_bytes(hash_list, vics([media(0, Category=2), media(0), media(1)]), "vics")
    assert summary["updated"] == 1
    assert summary["added"] == 1
    assert summary["skipped"] == 1
    assert any("duplicate" in r for r in summary["skipped_reasons"])
    assert HashEntry.objects.get(hash_list=hash_list, md5=MD5[0]).category == "2"
    again = import_bytes(hash_list, vics([media(1)]), "vics")
    assert again["skipped"] == 1 and "already in the list, unchanged" in again["skipped_reasons"]


@pytest.mark.parametrize(
    "doc",
    [
        b'{"value": [{"Media": [{"MD5": "' + MD5[0].encode() + b'"}, {"MD5": ]}]}',
        b'{"value": [ {"Media": [] } ',
        b"[1, 2, 3]",
        b'{"something": []}',
        b"\xff\xfe garbage",
    ],
)
def test_malformed_vics_changes_nothing(hash_list, doc):
    version = hash_list.version
    with pytest.raises(ImportFileError) as exc:
        import_bytes(hash_list, doc, "vics")
    assert "VICS" in str(exc.value) or "JSON" in str(exc.value)
    hash_list.refresh_from_db()
    assert hash_list.version == version
    assert not HashEntry.objects.filter(hash_list=hash_list).exists()


def test_malformed_vics_reports_the_line(hash_list):
    doc = b'{\n "value": [\n  {"Media": [\n   {"MD5": "x"},\n   {"MD5": }\n ]}]}'
    with pytest.raises(ImportFileError, match="line 5"):
        parse_bytes(doc, "vics")


NCMEC = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
    <images count="3" maxTimestamp="2017-10-24T15:10:00Z">
        <image>
            <member id="42">Example Member</member>
            <id>image1</id>
            <classification>A1</classification>
            <fingerprints>
                <md5>{md5a}</md5>
                <sha1>{sha1a}</sha1>
                <pdq>{pdqa}</pdq>
            </fingerprints>
        </image>
        <image>
            <id>image2</id>
            <fingerprints><md5>bad</md5></fingerprints>
        </image>
        <image>
            <id>image3</id>
            <classification>B2</classification>
            <fingerprints><md5>{md5b}</md5></fingerprints>
        </image>
        {deleted}
    </images>
</queryResult>
"""


def ncmec(deleted: str = "") -> bytes:
    return NCMEC.format(
        md5a=MD5[0], sha1a=SHA1[0], pdqa=PDQ[0], md5b=MD5[1], deleted=deleted
    ).encode()


@pytest.fixture
def custom_list(demo_agency, alice):
    # NCMEC classifications (A1, B2, ...) read in Demo Police's Project VIC scheme.
    return hashlist_create(
        agency=demo_agency,
        user=alice,
        name="NCMEC",
        scheme="custom",
        category_map={"A1": "1", "A2": "1", "B1": "2", "B2": "2"},
    )


def test_ncmec_entries_and_bad_row_line(custom_list):
    summary = import_bytes(custom_list, ncmec(), "ncmec")
    assert summary["added"] == 2
    assert summary["errors"] == [
        {"line": 14, "reason": "MD5 is not 32 hexadecimal characters: 'bad'"}
    ]
    entry = HashEntry.objects.get(hash_list=custom_list, source_ref="image1")
    assert (entry.md5, entry.sha1, entry.pdq, entry.category) == (MD5[0], SHA1[0], PDQ[0], "A1")
    # The sharing member is not stored anywhere.
    assert "Example Member" not in json.dumps(list(HashEntry.objects.values()), default=str)


def test_ncmec_deleted_image_tombstones(custom_list):
    import_bytes(custom_list, ncmec(), "ncmec")
    summary = import_bytes(
        custom_list, ncmec("<deletedImage><id>image1</id></deletedImage>"), "ncmec"
    )
    assert summary["tombstoned"] == 1
    entry = HashEntry.objects.get(hash_list=custom_list, source_ref="image1")
    assert entry.deleted_at is not None


@pytest.mark.parametrize(
    "doc",
    [
        b"<queryResult><images><image></images></queryResult>",
        b"<status><ipAddress>1</ipAddress></status>",
        b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa">]><queryResult>&a;</queryResult>',
    ],
)
def test_malformed_ncmec_changes_nothing(custom_list, doc):
    with pytest.raises(ImportFileError):
        import_bytes(custom_list, doc, "ncmec")
    assert not HashEntry.objects.filter(hash_list=custom_list).exists()


def test_text_one_per_line_autodetects(hash_list):
    text = "\n".join([MD5[0], SHA1[1], "# comment", "", "zzz", "pdq:" + PDQ[2], "ab" * 32])
    rows = parse_bytes(text.encode(), "text")
    records = [r for r in rows if isinstance(r, Record)]
    assert [(r.md5, r.sha1, r.pdq, r.sha256) for r in records] == [
        (MD5[0], "", "", ""),
        ("", SHA1[1], "", ""),
        ("", "", PDQ[2], ""),
        ("", "", "", "ab" * 32),
    ]
    assert [(b.line, "no MD5" in b.reason) for b in rows if isinstance(b, BadRow)] == [(5, True)]


def test_text_hex64_as_pdq(hash_list):
    summary = import_bytes(hash_list, ("cd" * 32 + "\n").encode(), "text", hex64="pdq")
    assert summary["added"] == 1
    assert HashEntry.objects.get(hash_list=hash_list).pdq == "cd" * 32


def test_csv_with_header_and_category(hash_list):
    doc = f"md5,category,series\n{MD5[0]},1,alpha\n{MD5[1]},7,beta\nnot-a-hash,1,x\n"
    summary = import_bytes(hash_list, doc.encode(), "text")
    assert summary["added"] == 1
    assert sorted(e["line"] for e in summary["errors"]) == [3, 4]
    assert HashEntry.objects.get(hash_list=hash_list).series == "alpha"


def test_csv_without_header(hash_list):
    summary = import_bytes(hash_list, f"{MD5[0]};2\n{SHA1[0]}\t1\n".encode(), "text")
    assert summary["added"] == 2
    assert set(HashEntry.objects.values_list("category", flat=True)) == {"2", "1"}


@pytest.mark.parametrize("doc", [b"\x00\x01\x02binary", "éé".encode("latin-1"), b"x\ny\nz\n"])
def test_malformed_text_changes_nothing(hash_list, doc):
    with pytest.raises(ImportFileError):
        import_bytes(hash_list, doc, "text")
    assert not HashEntry.objects.exists()


def test_scheme_difference_requires_category_map(demo_agency, alice):
    legacy = hashlist_create(agency=demo_agency, user=alice, name="Legacy", scheme="legacy")
    doc = f"md5,category\n{MD5[0]},0\n{MD5[1]},1\n".encode()
    with pytest.raises(HashListError, match="category map for 0, 1"):
        import_bytes(legacy, doc, "text")
    assert not HashEntry.objects.exists()
    legacy.category_map = {"0": "0", "1": "1"}
    legacy.save()
    assert import_bytes(legacy, doc, "text")["added"] == 2


def test_background_import_job(hash_list, alice, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from triage.matching.importers import hashimport_create
    from triage.models import HashImport

    upload = SimpleUploadedFile("list.json", vics([media(0), media(1)]))
    with django_capture_on_commit_callbacks(execute=True):
        job = hashimport_create(hash_list=hash_list, user=alice, uploaded_file=upload, fmt="auto")
    job.refresh_from_db()
    assert job.status == HashImport.Status.DONE
    assert (job.processed, job.total, job.summary["added"]) == (2, 2, 2)

    bad = SimpleUploadedFile("broken.json", b'{"value": [')
    with django_capture_on_commit_callbacks(execute=True):
        failed = hashimport_create(hash_list=hash_list, user=alice, uploaded_file=bad, fmt="vics")
    failed.refresh_from_db()
    assert failed.status == HashImport.Status.FAILED and "VICS" in failed.error
    assert HashEntry.objects.count() == 2
