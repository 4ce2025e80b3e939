"""The signed manifest of an export, and its verification.

``manifest.json`` lists every other file of the export folder with its SHA-256 and size,
the case, the creation time and the creator, and a signature over all of that:

    HMAC-SHA256(key, canonical JSON of the manifest without "signature")
    key = HMAC-SHA256(SECRET_KEY, "triage-hub/export-manifest/v1:" + agency uuid)

The key is per agency, so one agency's key cannot sign another agency's export. Only a hub
holding the same SECRET_KEY can verify (``manage.py verify_export``); the file hashes can
be checked by anyone with ``sha256sum``. ROTATING SECRET_KEY INVALIDATES THE SIGNATURES OF
OLDER EXPORTS unless the old key is kept in ``SECRET_KEY_FALLBACKS``, which verification
also tries (signing always uses the current key)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

MANIFEST = "manifest.json"
FORMAT = "triage-hub-export/1"
ALGORITHM = "HMAC-SHA256"
KEY_CONTEXT = "triage-hub/export-manifest/v1:"
CHUNK = 1024 * 1024


class VerificationError(Exception):
    """The export does not verify; ``str(exc)`` names the first problem."""


def agency_key(agency_uuid: str, secret: str | None = None) -> bytes:
    secret = settings.SECRET_KEY if secret is None else secret
    return hmac.new(
        secret.encode(), (KEY_CONTEXT + str(agency_uuid)).encode(), hashlib.sha256
    ).digest()


def canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(manifest: dict, agency_uuid: str) -> dict:
    value = hmac.new(agency_key(agency_uuid), canonical(manifest), hashlib.sha256).hexdigest()
    return {
        **manifest,
        "signature": {"algorithm": ALGORITHM, "key": f"agency:{agency_uuid}", "value": value},
    }


def signature_valid(manifest: dict) -> bool:
    signature = manifest.get("signature")
    agency_uuid = (manifest.get("agency") or {}).get("uuid")
    if not isinstance(signature, dict) or not agency_uuid:
        return False
    if signature.get("algorithm") != ALGORITHM or not isinstance(signature.get("value"), str):
        return False
    body = canonical(manifest)
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        expected = hmac.new(agency_key(agency_uuid, secret), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signature["value"]):
            return True
    return False


def file_entry(path: Path, name: str) -> dict:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"path": name, "sha256": digest.hexdigest(), "size": size}


# --- verification --------------------------------------------------------------------


@dataclass
class _Source:
    """A folder or a zip, seen as ``name -> bytes stream``."""

    names: list[str]
    opener: object

    def open(self, name: str):
        return self.opener(name)


def _folder_source(folder: Path) -> _Source:
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return _Source(names, lambda name: open(folder / name, "rb"))  # noqa: SIM115


def _zip_source(zf: zipfile.ZipFile) -> _Source:
    names = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename).parts
        if info.filename.startswith("/") or ".." in parts:
            raise VerificationError(f"unsafe path in the zip: {info.filename!r}")
        names.append(info.filename)
    # A zip made by the hub holds one top folder; verify relative to it.
    tops = {PurePosixPath(n).parts[0] for n in names}
    prefix = ""
    if len(tops) == 1 and MANIFEST not in names:
        prefix = tops.pop() + "/"
    stripped = sorted(n[len(prefix) :] for n in names)
    return _Source(stripped, lambda name: zf.open(prefix + name))


def _hash_stream(stream) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _verify_source(source: _Source) -> dict:
    if MANIFEST not in source.names:
        raise VerificationError("manifest.json is missing")
    with source.open(MANIFEST) as fh:
        try:
            manifest = json.load(io.TextIOWrapper(fh, encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerificationError(f"manifest.json is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VerificationError(f"manifest.json is not a {FORMAT} manifest")
    if not signature_valid(manifest):
        raise VerificationError(
            "manifest.json: the signature does not match (the manifest was changed, or it "
            "was signed by another hub or before SECRET_KEY was rotated)"
        )
    listed = {}
    for entry in manifest.get("files") or []:
        listed[entry["path"]] = entry
    for name, entry in listed.items():
        if name not in source.names:
            raise VerificationError(f"{name}: listed in the manifest but missing")
        sha256, size = _hash_stream(source.open(name))
        if size != entry["size"]:
            raise VerificationError(f"{name}: size {size} bytes, manifest says {entry['size']}")
        if sha256 != entry["sha256"]:
            raise VerificationError(
                f"{name}: SHA-256 {sha256} does not match the manifest ({entry['sha256']})"
            )
    for name in source.names:
        if name != MANIFEST and name not in listed:
            raise VerificationError(f"{name}: not listed in the manifest")
    return manifest


def verify_export(path: str | Path) -> dict:
    """Verify an export folder or zip; return its manifest or raise VerificationError."""
    path = Path(path)
    if path.is_dir():
        return _verify_source(_folder_source(path))
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                return _verify_source(_zip_source(zf))
        except zipfile.BadZipFile:
            raise VerificationError(f"{path}: neither a folder nor a zip file") from None
    raise VerificationError(f"{path}: no such file or folder")
