"""Court-ready exports: build, verify, tamper, re-import, schema, report, access, audit."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import jsonschema
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hub.models import AuditEvent
from tests.exports.vics_schema import VICS_SCHEMA
from triage.exports import manifest as manifest_mod
from triage.exports import services
from triage.matching.importers import parse_bytes
from triage.matching.importers.base import Record
from triage.models import Blob, EvidenceItem, ExportJob

pytestmark = pytest.mark.django_db


def run_export(case, user, batch=None) -> ExportJob:
    job = services.export_create(case=case, user=user, batch=batch)
    services.export_run(job.pk)  # the task's body, called directly
    job.refresh_from_db()
    return job


@pytest.fixture
def done_export(processed_case, sam):
    job = run_export(processed_case, sam)
    assert job.status == ExportJob.Status.DONE, job.error
    return job


def test_export_folder_has_every_file_and_verifies(done_export, capsys):
    folder = services.export_folder(done_export)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["items.csv", "manifest.json", "report.html", "report.pdf", "vics.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["case"]["reference"] == "OP-EXPORT"
    assert manifest["created_by"] == "sam"
    assert {f["path"] for f in manifest["files"]} == set(names) - {"manifest.json"}
    assert manifest["signature"]["algorithm"] == "HMAC-SHA256"
    call_command("verify_export", str(folder))
    assert "OK" in capsys.readouterr().out
    call_command("verify_export", str(services.export_zip(done_export)))
    assert "OK" in capsys.readouterr().out


def test_one_changed_byte_fails_verification(done_export):
    folder = services.export_folder(done_export)
    data = bytearray((folder / "items.csv").read_bytes())
    data[10] ^= 0x01
    (folder / "items.csv").write_bytes(bytes(data))
    with pytest.raises(CommandError, match="items.csv: SHA-256"):
        call_command("verify_export", str(folder))


def test_tampered_manifest_fails_the_signature(done_export):
    folder = services.export_folder(done_export)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["created_by"] = "someone-else"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_export", str(folder))


def test_changed_file_in_the_zip_fails(done_export, tmp_path):
    source = services.export_zip(done_export)
    target = tmp_path / "tampered.zip"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("report.html"):
                data = data.replace(b"Export case", b"Expert case")
            zout.writestr(info, data)
    with pytest.raises(CommandError, match="report.html"):
        call_command("verify_export", str(target))


def test_extra_file_and_rotated_secret_fail(done_export, settings):
    folder = services.export_folder(done_export)
    assert manifest_mod.verify_export(folder)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "y" * 40
    with pytest.raises(manifest_mod.VerificationError, match="signature"):
        manifest_mod.verify_export(folder)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert manifest_mod.verify_export(folder)  # the old key kept as a fallback still verifies
    (folder / "extra.txt").write_text("added later")
    with pytest.raises(manifest_mod.VerificationError, match="extra.txt: not listed"):
        manifest_mod.verify_export(folder)


def test_vics_matches_the_schema_and_reimports(done_export, processed_case):
    raw = (services.export_folder(done_export) / "vics.json").read_bytes()
    doc = json.loads(raw)
    jsonschema.validate(doc, VICS_SCHEMA, format_checker=jsonschema.FormatChecker())
    case_doc = doc["value"][0]
    assert case_doc["CaseID"] == str(processed_case.uuid)
    assert case_doc["CaseNumber"] == "OP-EXPORT"
    assert case_doc["TotalMediaFiles"] == len(case_doc["Media"]) == 4
    assert case_doc["TotalPrecategorized"] == 1

    records = parse_bytes(raw, "vics")
    assert all(isinstance(r, Record) for r in records), records
    items = EvidenceItem.objects.filter(case=processed_case).select_related("blob")
    by_md5 = {r.md5: r for r in records}
    for item in items:
        record = by_md5[item.blob.md5]
        assert record.sha1 == item.blob.sha1
        assert record.sha256 == item.blob.sha256
        assert record.pdq == item.pdq
        assert record.category == item.category
        assert record.is_precategorized == item.is_precategorized


def test_non_projectvic_scheme_leaves_category_out_with_a_comment(processed_case, sam):
    agency = processed_case.agency
    agency.settings = {**(agency.settings or {}), "category_scheme": "uk_caid"}
    agency.save()
    EvidenceItem.objects.filter(case=processed_case, category="1").update(category="A")
    EvidenceItem.objects.filter(case=processed_case, category="0").update(category="NP")
    job = run_export(processed_case, sam)
    doc = json.loads((services.export_folder(job) / "vics.json").read_text())
    media = doc["value"][0]["Media"]
    graded_a = [m for m in media if "Comments" in m]
    assert len(graded_a) == 1 and "Category" not in graded_a[0]
    assert "uk_caid" in graded_a[0]["Comments"]
    assert [m["Category"] for m in media if "Category" in m] == [0]  # NP -> non-pertinent


def test_items_csv_and_report(done_export, processed_case):
    folder = services.export_folder(done_export)
    rows = list(csv.DictReader(io.StringIO((folder / "items.csv").read_text())))
    items = EvidenceItem.objects.filter(case=processed_case).select_related("blob")
    assert len(rows) == items.count()
    by_sha = {r["sha256"]: r for r in rows}
    matched = next(i for i in items if i.known_state == "exact")
    assert by_sha[matched.blob.sha256]["matched_lists"] == "Known list"
    decided = next(i for i in items if i.category == "0")
    assert by_sha[decided.blob.sha256]["decided_by"] == "sam"
    assert any(r["original_name"] == "'=notes.txt" for r in rows)  # no formula injection

    html = (folder / "report.html").read_text()
    assert "<img" not in html.lower() and "data:image" not in html
    for item in items:
        assert item.blob.sha256 in html
    assert "Known list" in html and "sam" in html and "EX-1" in html
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")


def test_fixity_detects_a_modified_blob_and_blocks_the_export(processed_case, sam, settings):
    blob = Blob.objects.filter(agency=processed_case.agency).order_by("id").first()
    path = settings.EVIDENCE_ROOT / blob.storage_path
    path.chmod(0o640)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))

    job = run_export(processed_case, sam)
    assert job.status == ExportJob.Status.REFUSED
    assert "fixity" in job.error and not job.folder
    blob.refresh_from_db()
    assert blob.fixity_ok is False and blob.last_fixity_at is not None
    assert AuditEvent.objects.filter(action="blob.fixity_failed", object_id=str(blob.pk)).exists()
    assert AuditEvent.objects.filter(action="export.refused", object_id=str(job.uuid)).exists()
    # Known failures refuse a new export at once, with the same message.
    with pytest.raises(services.ExportRefused, match="fixity check"):
        services.export_create(case=processed_case, user=sam)


def test_fixity_command(processed_case, settings, capsys):
    call_command("fixity", "--agency", "demo-police")
    assert "OK: 4 stored originals checked" in capsys.readouterr().out
    blob = Blob.objects.order_by("id").last()
    (settings.EVIDENCE_ROOT / blob.storage_path).unlink()
    with pytest.raises(CommandError, match="1 of 4 stored originals failed"):
        call_command("fixity")
    blob.refresh_from_db()
    assert blob.fixity_ok is False
    assert Blob.objects.filter(fixity_ok=True).count() == 3


def test_batch_export_covers_only_that_batch(processed_case, sam):
    batch = processed_case.batches.get()
    job = run_export(processed_case, sam, batch=batch)
    assert job.kind == ExportJob.Kind.BATCH and job.status == ExportJob.Status.DONE
    assert manifest_mod.verify_export(services.export_folder(job))["batch"]["exhibit_ref"] == "EX-1"
