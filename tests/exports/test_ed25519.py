"""Ed25519 signatures on export manifests: a recipient checks them with the agency's public
key alone (no SECRET_KEY); any changed byte, a wrong key or a self-made key fails; HMAC-only
manifests of older exports still verify on the hub; the key is shown where recipients look;
``verify_export`` prints a verdict per file and exits non-zero on failure."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hub.models import AuditEvent
from triage.exports import manifest as manifest_mod
from triage.exports import services

pytestmark = pytest.mark.django_db


def read_manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def write_manifest(folder, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))


def public_key_of(job) -> str:
    return manifest_mod.agency_public_key(str(job.agency.uuid))


def drop_secret(settings) -> None:
    """From here on, the recipient's machine: no hub secret at all (reading SECRET_KEY
    raises). Call it once per test, after anything that needs the hub's key: restoring an
    override onto an empty SECRET_KEY would raise in the settings fixture's teardown."""
    settings.SECRET_KEY = ""
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(ImproperlyConfigured):
        settings.SECRET_KEY  # noqa: B018 - proves the secret is gone


@pytest.fixture
def no_secret(settings):
    drop_secret(settings)
    return settings


def run_verify(*argv) -> tuple[int, str]:
    """``verify_export ARGV``: (the exit code manage.py would give, the output). The
    process-level exit code is checked once, in a subprocess, at the end of this file."""
    out = io.StringIO()
    try:
        call_command("verify_export", *map(str, argv), stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_manifest_carries_an_ed25519_signature_over_the_canonical_bytes(ready_export):
    folder = services.export_folder(ready_export)
    manifest = read_manifest(folder)
    signature = manifest["signature"]
    assert signature["algorithm"] == "HMAC-SHA256"  # kept, for older verifiers
    entry = signature["ed25519"]
    public_key = public_key_of(ready_export)
    assert entry["algorithm"] == "Ed25519"
    assert entry["public_key"] == public_key and len(public_key) == 64
    raw = bytes.fromhex(public_key)
    assert entry["public_key_sha256"] == hashlib.sha256(raw).hexdigest()
    completed = AuditEvent.objects.get(action="export.completed", object_id=str(ready_export.uuid))
    assert completed.data["ed25519_public_key"] == public_key  # which key signed, on record
    # What a court can do with any Ed25519 library: the canonical JSON of the manifest
    # without its "signature" block, keys sorted, no spaces, UTF-8.
    body = {k: v for k, v in manifest.items() if k != "signature"}
    message = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    Ed25519PublicKey.from_public_bytes(raw).verify(
        bytes.fromhex(entry["value"]), message.encode()
    )  # raises InvalidSignature if not


def test_public_key_alone_verifies_without_the_hubs_secret(ready_export, no_secret):
    folder = services.export_folder(ready_export)
    public_key = read_manifest(folder)["signature"]["ed25519"]["public_key"]
    assert manifest_mod.ed25519_signature_valid(read_manifest(folder), public_key)
    assert manifest_mod.verify_export(folder, public_key=public_key)["export"] == str(
        ready_export.uuid
    )
    zipped = services.export_zip(ready_export)
    assert manifest_mod.verify_export(zipped, public_key=public_key.upper())
    code, output = run_verify(zipped, "--public-key", public_key)
    assert code == 0, output
    assert "OK: 4 files and the signature verify (case OP-EXPORT)." in output
    # ...whereas the hub's own check needs the secret it does not have.
    with pytest.raises(ImproperlyConfigured):
        manifest_mod.verify_export(folder)


def test_one_changed_byte_of_the_manifest_fails(ready_export, no_secret):
    folder = services.export_folder(ready_export)
    public_key = read_manifest(folder)["signature"]["ed25519"]["public_key"]
    raw = (folder / "manifest.json").read_bytes()
    at = raw.index(b'"OP-EXPORT"') + 1
    tampered = raw[:at] + b"Q" + raw[at + 1 :]  # OP-EXPORT -> QP-EXPORT
    (folder / "manifest.json").write_bytes(tampered)
    assert not manifest_mod.ed25519_signature_valid(read_manifest(folder), public_key)
    with pytest.raises(manifest_mod.VerificationError, match="Ed25519 signature does not match"):
        manifest_mod.verify_export(folder, public_key=public_key)
    code, output = run_verify(folder, "--public-key", public_key)
    assert code == 1
    assert "FAIL  manifest.json" in output and "OK    vics.json" in output


def test_a_changed_signature_or_file_fails(ready_export, no_secret):
    folder = services.export_folder(ready_export)
    manifest = read_manifest(folder)
    public_key = manifest["signature"]["ed25519"]["public_key"]
    value = bytearray.fromhex(manifest["signature"]["ed25519"]["value"])
    value[0] ^= 0x01
    manifest["signature"]["ed25519"]["value"] = value.hex()
    assert not manifest_mod.ed25519_signature_valid(manifest, public_key)

    data = bytearray((folder / "vics.json").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "vics.json").write_bytes(bytes(data))
    with pytest.raises(manifest_mod.VerificationError, match="vics.json: SHA-256"):
        manifest_mod.verify_export(folder, public_key=public_key)
    code, output = run_verify(folder, "--public-key", public_key)
    assert code == 1
    assert "OK    manifest.json" in output  # the signature is fine; the file is not
    assert "FAIL  vics.json" in output and "OK    items.csv" in output
    assert "FAILED: vics.json: SHA-256" in output


def test_wrong_or_malformed_public_key_fails(ready_export, other_agency, settings):
    folder = services.export_folder(ready_export)
    # The key of another agency of the same hub: the manifest names a different key.
    others = manifest_mod.agency_public_key(str(other_agency.uuid))
    drop_secret(settings)
    assert not manifest_mod.ed25519_signature_valid(read_manifest(folder), others)
    with pytest.raises(manifest_mod.VerificationError, match="another key signed it"):
        manifest_mod.verify_export(folder, public_key=others)
    code, output = run_verify(folder, "--public-key", others)
    assert code == 1 and "FAIL  manifest.json" in output

    for bad in ("nothex", "ab" * 31, "ab" * 33):
        assert not manifest_mod.ed25519_signature_valid(read_manifest(folder), bad)
        code, output = run_verify(folder, "--public-key", bad)
        assert code == 1 and "public key" in output and "64 hex digits" in output


def test_a_self_made_key_cannot_pass_for_the_hubs(ready_export, settings):
    """Someone who changes an export and re-signs it with a key pair of their own makes a
    signature that verifies with THEIR key, and with nothing the hub or agency published."""
    folder = services.export_folder(ready_export)
    manifest = read_manifest(folder)
    manifest["created_by"] = "mallory"
    forger = Ed25519PrivateKey.generate()
    forged_key = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    manifest["signature"] = {
        "ed25519": {
            "algorithm": "Ed25519",
            "public_key": forged_key,
            "value": forger.sign(manifest_mod.canonical(manifest)).hex(),
        }
    }
    write_manifest(folder, manifest)
    assert manifest_mod.ed25519_signature_valid(manifest, forged_key)  # self-consistent...
    assert not manifest_mod.signature_valid(manifest)  # ...but not this hub's key
    with pytest.raises(manifest_mod.VerificationError, match="signature does not match"):
        manifest_mod.verify_export(folder)
    with pytest.raises(manifest_mod.VerificationError, match="another key signed it"):
        manifest_mod.verify_export(folder, public_key=public_key_of(ready_export))
    # A valid HMAC does not carry a forged Ed25519 signature either: both must hold.
    manifest = read_manifest(folder)
    manifest["created_by"] = "ivan"
    genuine = manifest_mod.sign(
        {k: v for k, v in manifest.items() if k != "signature"}, str(ready_export.agency.uuid)
    )
    genuine["signature"]["ed25519"]["value"] = forger.sign(manifest_mod.canonical(genuine)).hex()
    assert not manifest_mod.signature_valid(genuine)


def test_hmac_only_manifest_of_an_older_export_still_verifies(ready_export, capsys):
    """A manifest made before the Ed25519 signature: the same file without its entry."""
    folder = services.export_folder(ready_export)
    manifest = read_manifest(folder)
    del manifest["signature"]["ed25519"]
    assert set(manifest["signature"]) == {"algorithm", "key", "value"}
    write_manifest(folder, manifest)
    assert manifest_mod.signature_valid(manifest)
    assert manifest_mod.verify_export(folder)["export"] == str(ready_export.uuid)
    call_command("verify_export", str(folder))
    out = capsys.readouterr().out
    assert "OK    manifest.json  signed by this hub (HMAC-SHA256)" in out
    # The public key cannot check it: it says so, rather than passing it.
    with pytest.raises(manifest_mod.VerificationError, match="no Ed25519 signature"):
        manifest_mod.verify_export(folder, public_key=public_key_of(ready_export))
    # And its HMAC still catches a change.
    manifest["case"]["title"] = "Changed"
    write_manifest(folder, manifest)
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_export", str(folder))


def test_hub_check_covers_both_signatures_and_key_rotation(ready_export, settings):
    folder = services.export_folder(ready_export)
    public_key = public_key_of(ready_export)
    code, output = run_verify(folder)
    assert code == 0, output
    assert "signed by this hub (HMAC-SHA256 and Ed25519)" in output
    for name in ("vics.json", "items.csv", "report.html", "report.pdf"):
        assert f"OK    {name}" in output

    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-rotated-secret-key-" + "z" * 40
    assert manifest_mod.agency_public_key(str(ready_export.agency.uuid)) != public_key
    assert run_verify(folder)[0] == 1
    settings.SECRET_KEY_FALLBACKS = [old]
    assert run_verify(folder)[0] == 0
    # The recipient holding the old public key is not affected by the rotation at all.
    assert manifest_mod.verify_export(folder, public_key=public_key)


def test_keys_are_deterministic_and_per_agency(demo_agency, other_agency, settings):
    first = manifest_mod.agency_public_key(str(demo_agency.uuid))
    assert manifest_mod.agency_public_key(str(demo_agency.uuid)) == first
    assert manifest_mod.agency_public_key(str(other_agency.uuid)) != first
    info = manifest_mod.agency_signing_key(str(demo_agency.uuid))
    assert info.public_key == first
    assert info.fingerprint == hashlib.sha256(bytes.fromhex(first)).hexdigest()


def test_verify_export_exit_codes_and_errors(ready_export, tmp_path):
    folder = services.export_folder(ready_export)
    assert run_verify(folder)[0] == 0
    code, output = run_verify(tmp_path / "nowhere")
    assert code == 1 and "no such file or folder" in output
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    code, output = run_verify(tmp_path / "junk.zip")
    assert code == 1 and "neither a folder nor a zip" in output
    # Two problems: the first is named, the count of the rest given, every file listed.
    (folder / "items.csv").write_text("changed")
    (folder / "extra.txt").write_text("added")
    code, output = run_verify(folder)
    assert code == 1
    assert "FAIL  items.csv" in output and "FAIL  extra.txt" in output
    assert "FAILED: items.csv: size" in output and "(and 1 more)" in output


def test_public_key_changed_in_a_zip_copy_still_fails(ready_export, tmp_path):
    """The key printed inside the manifest is not trusted: replacing it with the
    forger's key changes nothing for a recipient who checks with the published key."""
    source = services.export_zip(ready_export)
    target = tmp_path / "copy.zip"
    forger = Ed25519PrivateKey.generate()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("manifest.json"):
                manifest = json.loads(data)
                manifest["counts"]["items"] = 0
                manifest["signature"]["ed25519"]["public_key"] = (
                    forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
                )
                manifest["signature"]["ed25519"]["value"] = forger.sign(
                    manifest_mod.canonical(manifest)
                ).hex()
                data = json.dumps(manifest).encode()
            zout.writestr(info, data)
    code, output = run_verify(target, "--public-key", public_key_of(ready_export))
    assert code == 1 and "another key signed it" in output


def test_public_key_is_shown_on_the_exports_page_and_in_the_report(ready_export, ivan, client_for):
    info = manifest_mod.agency_signing_key(str(ready_export.agency.uuid))
    client = client_for(ivan)
    for url in (
        reverse("triage:export_list", kwargs={"case": ready_export.case.uuid}),
        reverse("triage:export_detail", kwargs={"export": ready_export.uuid}),
    ):
        page = client.get(url)
        assert page.status_code == 200
        assert info.public_key.encode() in page.content, url
        assert info.fingerprint.encode() in page.content, url
        assert b"--public-key" in page.content
        assert b"Export files are deleted 30 days after they finish" in page.content
    report = (services.export_folder(ready_export) / "report.html").read_text()
    assert info.public_key in report and info.fingerprint in report


def test_manage_py_exit_codes(ready_export, tmp_path):
    """The real process: 0 when the export verifies with the public key, 1 when it does
    not (a recipient's shell script relies on it)."""
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    folder = services.export_folder(ready_export)
    public_key = public_key_of(ready_export)
    env = {**os.environ, "SECRET_KEY": "the-recipient-has-another-secret-" + "r" * 30}

    def run(*args):
        return subprocess.run(
            [sys.executable, str(manage), "verify_export", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    ok = run(folder, "--public-key", public_key)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: 4 files and the signature verify" in ok.stdout
    (folder / "report.html").write_text("changed")
    failed = run(folder, "--public-key", public_key)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAIL  report.html" in failed.stdout and "FAILED: report.html" in failed.stderr
