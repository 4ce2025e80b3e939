"""The signed manifest of an export, and its verification.

``manifest.json`` lists every other file of the export folder with its SHA-256 and size,
the case, the creation time and the creator, and two signatures over the same bytes, the
canonical JSON of the manifest without its "signature" block (keys sorted, no spaces,
UTF-8)::

    "signature": {
        "algorithm": "HMAC-SHA256", "key": "agency:<uuid>", "value": "<hex>",
        "ed25519": {"algorithm": "Ed25519", "public_key": "<32 bytes, hex>",
                    "public_key_sha256": "<hex>", "value": "<64 bytes, hex>"}
    }

* HMAC-SHA256, keyed per agency: ``HMAC-SHA256(SECRET_KEY, "triage-hub/export-manifest/v1:"
  + agency uuid)``. Only a hub holding the same SECRET_KEY can check it.
* Ed25519, with a per-agency key pair derived from SECRET_KEY and the agency uuid (HKDF-
  SHA256, info ``"triage-hub export manifest ed25519 v1:" + agency uuid``, a 32-byte seed),
  so no key is stored. Anyone holding the agency's PUBLIC key can check it: the exports
  page and each ``report.html`` show the key and its SHA-256 fingerprint, for the
  recipient to confirm out of band (``verify_export PATH --public-key HEX``). The
  ``public_key`` inside the manifest only says which key signed: it is not covered by the
  signature, so a check always uses a key obtained another way.

Manifests made before the Ed25519 signature (HMAC only) still verify on the hub. The key is
per agency, so one agency's key cannot sign another agency's export. The file hashes can be
checked by anyone with ``sha256sum``. ROTATING SECRET_KEY CHANGES BOTH KEYS (and the
published public key) and invalidates the hub-side check of older exports unless the old
key is kept in ``SECRET_KEY_FALLBACKS``, which verification also tries (signing always uses
the current key); a recipient holding the old public key can still check an old export."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

MANIFEST = "manifest.json"
FORMAT = "triage-hub-export/1"
ALGORITHM = "HMAC-SHA256"
KEY_CONTEXT = "triage-hub/export-manifest/v1:"
ED25519 = "Ed25519"
ED25519_INFO = b"triage-hub export manifest ed25519 v1"
CHUNK = 1024 * 1024


class VerificationError(Exception):
    """The export does not verify; ``str(exc)`` names the first problem."""


# --- keys ----------------------------------------------------------------------------


def _secrets() -> list[str]:
    """The current SECRET_KEY first, then the ones kept for verification only."""
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def agency_key(agency_uuid: str, secret: str | None = None) -> bytes:
    secret = settings.SECRET_KEY if secret is None else secret
    return hmac.new(
        secret.encode(), (KEY_CONTEXT + str(agency_uuid)).encode(), hashlib.sha256
    ).digest()


def _ed25519_private_key(agency_uuid: str, secret: str | None = None) -> Ed25519PrivateKey:
    secret = settings.SECRET_KEY if secret is None else secret
    seed = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=ED25519_INFO + b":" + str(agency_uuid).encode(),
    ).derive(secret.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def agency_public_key(agency_uuid: str, secret: str | None = None) -> str:
    """The agency's Ed25519 public key: its 32 raw bytes as 64 lower-case hex digits."""
    return _raw(_ed25519_private_key(agency_uuid, secret).public_key()).hex()


def public_key_fingerprint(public_key: str | bytes) -> str:
    """SHA-256 (hex) of the 32 raw bytes of a public key: short enough to read out."""
    return hashlib.sha256(parse_public_key(public_key)).hexdigest()


def parse_public_key(public_key: str | bytes) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as bytes or hex (spaces and colons
    allowed); ValueError saying what is wrong otherwise."""
    if isinstance(public_key, bytes):
        raw = public_key
    else:
        text = "".join(str(public_key).split()).replace(":", "")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError("an Ed25519 public key is 64 hex digits") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes (64 hex digits), not {len(raw)}")
    return raw


@dataclass(frozen=True)
class PublicKeyInfo:
    """What a recipient needs to check an agency's exports, shown on the exports page and
    in each report."""

    algorithm: str
    public_key: str  # hex
    fingerprint: str  # SHA-256 of the raw key, hex


def agency_signing_key(agency_uuid: str) -> PublicKeyInfo:
    public_key = agency_public_key(agency_uuid)
    return PublicKeyInfo(ED25519, public_key, public_key_fingerprint(public_key))


# --- signing and checking the signatures ---------------------------------------------


def canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(manifest: dict, agency_uuid: str) -> dict:
    body = canonical(manifest)
    value = hmac.new(agency_key(agency_uuid), body, hashlib.sha256).hexdigest()
    private_key = _ed25519_private_key(agency_uuid)
    public_key = _raw(private_key.public_key()).hex()
    return {
        **manifest,
        "signature": {
            "algorithm": ALGORITHM,
            "key": f"agency:{agency_uuid}",
            "value": value,
            "ed25519": {
                "algorithm": ED25519,
                "public_key": public_key,
                "public_key_sha256": public_key_fingerprint(public_key),
                "value": private_key.sign(body).hex(),
            },
        },
    }


def _signature_block(manifest: dict) -> dict:
    signature = manifest.get("signature") if isinstance(manifest, dict) else None
    return signature if isinstance(signature, dict) else {}


def ed25519_entry(manifest: dict) -> dict:
    """The manifest's Ed25519 signature entry ({} for a manifest made before it)."""
    entry = _signature_block(manifest).get("ed25519")
    return entry if isinstance(entry, dict) else {}


def ed25519_signature_valid(manifest: dict, public_key: str | bytes) -> bool:
    """Whether ``public_key`` (hex or raw bytes) made the manifest's Ed25519 signature.
    Needs nothing of the hub (no SECRET_KEY): this is the recipient's check. The public
    key written in the manifest is ignored: trust only a key obtained out of band."""
    entry = ed25519_entry(manifest)
    if entry.get("algorithm") != ED25519 or not isinstance(entry.get("value"), str):
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(parse_public_key(public_key))
        key.verify(bytes.fromhex(entry["value"]), canonical(manifest))
    except (InvalidSignature, ValueError):
        return False
    return True


def _hmac_valid(manifest: dict, agency_uuid: str) -> bool:
    signature = _signature_block(manifest)
    if signature.get("algorithm") != ALGORITHM or not isinstance(signature.get("value"), str):
        return False
    body = canonical(manifest)
    for secret in _secrets():
        expected = hmac.new(agency_key(agency_uuid, secret), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signature["value"]):
            return True
    return False


def signature_valid(manifest: dict) -> bool:
    """The hub's own check (it needs SECRET_KEY): every signature the manifest carries
    (the HMAC, the Ed25519 signature, or both) was made with this hub's key for the
    manifest's agency, current or kept in SECRET_KEY_FALLBACKS; and there is at least one.
    A manifest made before the Ed25519 signature carries the HMAC only."""
    signature = _signature_block(manifest)
    agency = manifest.get("agency") if isinstance(manifest, dict) else None
    agency_uuid = agency.get("uuid") if isinstance(agency, dict) else None
    if not signature or not isinstance(agency_uuid, str) or not agency_uuid:
        return False
    checks = []
    if "value" in signature or "algorithm" in signature:
        checks.append(_hmac_valid(manifest, agency_uuid))
    if "ed25519" in signature:
        checks.append(
            any(
                ed25519_signature_valid(manifest, agency_public_key(agency_uuid, secret))
                for secret in _secrets()
            )
        )
    return bool(checks) and all(checks)


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


@dataclass
class FileCheck:
    """The verdict on one file of an export (the manifest's stands for its signature)."""

    name: str
    ok: bool
    detail: str

    @property
    def problem(self) -> str:
        return "" if self.ok else f"{self.name}: {self.detail}"


@dataclass
class ExportCheck:
    """Every verdict on an export: the signature first, then each file."""

    manifest: dict
    checks: list[FileCheck] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [c.problem for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.problems


def _signature_check(manifest: dict, public_key: str | bytes | None) -> FileCheck:
    if public_key is None:
        if signature_valid(manifest):
            kinds = [ALGORITHM] if "value" in _signature_block(manifest) else []
            kinds += [ED25519] if ed25519_entry(manifest) else []
            return FileCheck(MANIFEST, True, f"signed by this hub ({' and '.join(kinds)})")
        return FileCheck(
            MANIFEST,
            False,
            "the signature does not match (the manifest was changed, or it was signed by "
            "another hub or before SECRET_KEY was rotated)",
        )
    fingerprint = public_key_fingerprint(public_key)
    if not ed25519_entry(manifest):
        return FileCheck(
            MANIFEST,
            False,
            "no Ed25519 signature (an export made before they were added): check it on "
            "the hub that made it, without --public-key",
        )
    if ed25519_signature_valid(manifest, public_key):
        return FileCheck(MANIFEST, True, f"Ed25519 signature of key SHA-256 {fingerprint}")
    named = str(ed25519_entry(manifest).get("public_key", "")).lower()
    if named and named != parse_public_key(public_key).hex():
        return FileCheck(
            MANIFEST,
            False,
            f"the Ed25519 signature does not match key SHA-256 {fingerprint}: the manifest "
            "says another key signed it (another agency or hub), or it was changed",
        )
    return FileCheck(
        MANIFEST,
        False,
        f"the Ed25519 signature does not match key SHA-256 {fingerprint} (the manifest was "
        "changed)",
    )


def _check_source(source: _Source, public_key: str | bytes | None) -> ExportCheck:
    if MANIFEST not in source.names:
        raise VerificationError("manifest.json is missing")
    with source.open(MANIFEST) as fh:
        try:
            manifest = json.load(io.TextIOWrapper(fh, encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerificationError(f"manifest.json is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VerificationError(f"manifest.json is not a {FORMAT} manifest")
    result = ExportCheck(manifest, [_signature_check(manifest, public_key)])
    listed = {}
    entries = manifest.get("files")
    for entry in entries if isinstance(entries, list) else []:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("path"), str)
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(entry.get("size"), int)
        ):
            result.checks.append(FileCheck(MANIFEST, False, f"malformed file entry {entry!r}"))
            continue
        listed[entry["path"]] = entry
    for name, entry in listed.items():
        if name not in source.names:
            result.checks.append(FileCheck(name, False, "listed in the manifest but missing"))
            continue
        sha256, size = _hash_stream(source.open(name))
        if size != entry["size"]:
            check = FileCheck(name, False, f"size {size} bytes, manifest says {entry['size']}")
        elif sha256 != entry["sha256"]:
            check = FileCheck(
                name, False, f"SHA-256 {sha256} does not match the manifest ({entry['sha256']})"
            )
        else:
            check = FileCheck(name, True, f"SHA-256 {sha256}, {size} bytes")
        result.checks.append(check)
    for name in source.names:
        if name != MANIFEST and name not in listed:
            result.checks.append(FileCheck(name, False, "not listed in the manifest"))
    return result


def check_export(path: str | Path, *, public_key: str | bytes | None = None) -> ExportCheck:
    """Check an export folder or zip: its signature, then every file against the manifest.

    Without ``public_key`` the signature is checked with this hub's keys (SECRET_KEY);
    with it, only the Ed25519 signature, with that key (what a recipient does). Raises
    VerificationError when there is nothing to check (no such path, no manifest, a zip
    with an unsafe path); the verdicts on the files are in the result."""
    path = Path(path)
    if public_key is not None:
        try:
            parse_public_key(public_key)
        except ValueError as exc:
            raise VerificationError(f"the public key: {exc}") from None
    if path.is_dir():
        return _check_source(_folder_source(path), public_key)
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                return _check_source(_zip_source(zf), public_key)
        except zipfile.BadZipFile:
            raise VerificationError(f"{path}: neither a folder nor a zip file") from None
    raise VerificationError(f"{path}: no such file or folder")


def verify_export(path: str | Path, *, public_key: str | bytes | None = None) -> dict:
    """Verify an export folder or zip; return its manifest or raise VerificationError
    naming the first problem (see ``check_export``)."""
    result = check_export(path, public_key=public_key)
    if not result.ok:
        raise VerificationError(result.problems[0])
    return result.manifest
