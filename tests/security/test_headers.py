"""Response headers: evidence and downloads are never stored by a browser or proxy and never
served from /static or /media; the CSP forbids inline and eval'd script and style on every
kind of page; the other security headers are present (HSTS in HTTPS mode, checked in a
process started with HUB_HTTPS=true because the settings are read once at start-up)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

import hub.settings as configured
from tests.conftest import login_as
from triage.models import ExportJob, HashEntry, HashList
from triage.views import evidence as evidence_views

# Headers and CSRF do not depend on the database: checked once, in the SQLite run.
pytestmark = [pytest.mark.django_db, pytest.mark.db_independent]

ROOT = Path(__file__).resolve().parents[2]


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = [w.lower() for w in words[1:]]
    return out


# --- evidence and downloads: no-store, never public --------------------------------------


@pytest.fixture
def downloads(evidence, sam, alice, demo_agency):
    """Every kind of file the hub hands out: (who may fetch it, URL, label)."""
    item = evidence.the_item
    job = ExportJob.objects.create(
        agency=demo_agency,
        case=item.case,
        created_by=sam,
        status=ExportJob.Status.DONE,
        progress=100,
        folder=f"{demo_agency.uuid}/exports/security",
    )
    from triage.exports.services import export_zip

    zipped = export_zip(job)
    zipped.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("security/manifest.json", "{}")
    hash_list = HashList.objects.create(agency=demo_agency, name="Security list")
    HashEntry.objects.create(hash_list=hash_list, md5="0" * 32, category="1")
    thumb = {"item": item.uuid}
    return [
        (
            "ivan",
            reverse("triage:item_thumb", kwargs={**thumb, "kind": "thumb"}),
            "thumbnail",
        ),
        (
            "ivan",
            reverse("triage:item_thumb", kwargs={**thumb, "kind": "contact_sheet"}),
            "contact sheet",
        ),
        ("ivan", reverse("triage:item_original", kwargs=thumb), "original"),
        ("sam", reverse("triage:export_download", kwargs={"export": job.uuid}), "export zip"),
        (
            "sam",
            reverse("triage:api_export_download", kwargs={"export": job.uuid}),
            "export zip (API)",
        ),
        (
            "sam",
            reverse("triage:hashlist_export", kwargs={"hashlist": hash_list.uuid}),
            "hash list export",
        ),
        (
            "alice",
            reverse("triage:api_hashlist_export", kwargs={"hashlist": hash_list.uuid}),
            "hash list export (API)",
        ),
        ("alice", reverse("hub:audit_export"), "audit log CSV"),
        ("sam", reverse("triage:dashboard") + "?format=csv&table=cases", "dashboard CSV"),
    ]


def test_evidence_and_downloads_are_never_stored(downloads, client_for, ivan, sam, alice):
    people = {"ivan": client_for(ivan), "sam": client_for(sam), "alice": client_for(alice)}
    problems = []
    for who, url, label in downloads:
        response = people[who].get(url)
        if response.status_code != 200:
            problems.append(f"{label} {url}: status {response.status_code}")
            continue
        cache = response.get("Cache-Control", "")
        if "no-store" not in cache or "private" not in cache:
            problems.append(f"{label} {url}: Cache-Control {cache!r}")
        if response.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{label} {url}: no nosniff")
        if response.streaming:
            b"".join(response.streaming_content)  # close the file
    assert not problems, "\n".join(problems)


def test_signed_in_pages_are_not_stored_either(evidence, client_for, ivan):
    """Pages show evidence names, hashes and decisions: the browser keeps none of them
    (the Back button after logout shows nothing)."""
    client = client_for(ivan)
    item = evidence.the_item
    for url in (
        reverse("hub:home"),
        reverse("triage:review"),
        reverse("triage:item_detail", kwargs={"item": item.uuid}),
        "/api/v1/cases/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response.get("Cache-Control", ""), url


def _static_serving_patterns(patterns=None) -> list[str]:
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            found += _static_serving_patterns(entry.url_patterns)
        elif isinstance(entry, URLPattern) and entry.lookup_str.startswith(
            ("django.views.static", "django.contrib.staticfiles.views")
        ):
            found.append(str(entry.pattern))
    return found


def _inside(child: Path, parent: Path) -> bool:
    child, parent = Path(child).resolve(), Path(parent).resolve()
    return child == parent or parent in child.parents


def test_evidence_is_never_under_a_public_url(evidence, client_for, ivan):
    # Configuration as deployed (the module, not the per-test override).
    evidence_root = Path(configured.EVIDENCE_ROOT)
    public = [Path(configured.STATIC_ROOT), *map(Path, configured.STATICFILES_DIRS)]
    media_root = getattr(configured, "MEDIA_ROOT", "")
    if media_root:
        public.append(Path(media_root))
    for folder in public:
        assert not _inside(evidence_root, folder), f"evidence inside public {folder}"
        assert not _inside(folder, evidence_root), f"public {folder} inside the evidence"
    assert not _static_serving_patterns(), "a URL serves files from disk"

    # A stored thumbnail is reachable only through the authorised view.
    item = evidence.the_item
    derivative = item.derivatives.get(kind="thumb")
    client = client_for(ivan)
    for prefix in (settings.STATIC_URL, "/media/", "/evidence/", "/"):
        for rel in (derivative.storage_path, item.blob.storage_path):
            response = client.get(prefix + rel)
            assert response.status_code == 404, f"{prefix}{rel}: {response.status_code}"
    # Every evidence link the pages render points at an authorised view.
    for page in (
        reverse("triage:item_detail", kwargs={"item": item.uuid}),
        reverse("triage:review") + f"?item={item.uuid}",
    ):
        html = client.get(page).content.decode()
        links = re.findall(r'(?:src|href)="([^"]*' + str(item.uuid) + r'[^"]*)"', html)
        evidence_links = [u for u in links if "/thumb/" in u or "/original/" in u]
        assert evidence_links, f"no evidence link on {page}"
        for url in evidence_links:
            assert not url.startswith((settings.STATIC_URL, "/media/")), url
            view = resolve(url.split("?")[0]).func
            assert view in (evidence_views.item_thumb, evidence_views.item_original), url


# --- CSP and the other headers on every kind of page -------------------------------------


@pytest.fixture
def pages(evidence, client, ivan, alice, sam, hugo):
    """(label, client, url): logged out, half logged in, each role, the API, an error."""
    half = Client()
    half.force_login(ivan, backend="django.contrib.auth.backends.ModelBackend")
    iv, al, sa, hu = (login_as(Client(), u) for u in (ivan, alice, sam, hugo))
    item = evidence.the_item
    case = item.case
    return [
        ("login", client, reverse("hub:login")),
        ("second login step", half, reverse("hub:login_otp")),
        ("home", iv, reverse("hub:home")),
        ("review", iv, reverse("triage:review")),
        ("case list", iv, reverse("triage:case_list")),
        ("case", iv, reverse("triage:case_detail", kwargs={"case": case.uuid})),
        ("upload", iv, reverse("triage:batch_upload", kwargs={"case": case.uuid})),
        ("item", iv, reverse("triage:item_detail", kwargs={"item": item.uuid})),
        ("dashboard", sa, reverse("triage:dashboard")),
        ("hash lists", sa, reverse("triage:hashlist_list")),
        ("agency settings", al, reverse("hub:agency_settings")),
        ("agency users", al, reverse("hub:agency_users")),
        ("audit log", al, reverse("hub:audit_log")),
        ("API docs", al, reverse("triage:api_docs")),
        ("API JSON", al, "/api/v1/cases/"),
        ("operator", hu, reverse("hub:operator_agencies")),
        ("not found", iv, "/no-such-page/"),
    ]


def test_csp_forbids_inline_and_eval_on_every_kind_of_page(pages):
    problems = []
    for label, client, url in pages:
        response = client.get(url)
        if response.status_code >= 500:
            problems.append(f"{label}: server error {response.status_code}")
            continue
        header = response.get("Content-Security-Policy", "")
        if not header:
            problems.append(f"{label} {url}: no Content-Security-Policy")
            continue
        csp = _directives(header)
        default = csp.get("default-src")
        for directive in ("script-src", "style-src"):
            sources = csp.get(directive, default)
            if sources is None:
                problems.append(f"{label}: neither {directive} nor default-src")
                continue
            bad = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:"}
            bad &= set(sources)
            if bad or any(s.startswith(("http:", "https:")) for s in sources):
                problems.append(f"{label}: {directive} {' '.join(sources)}")
        if csp.get("object-src") != ["'none'"]:
            problems.append(f"{label}: object-src {csp.get('object-src')}")
        if csp.get("frame-ancestors") != ["'none'"]:
            problems.append(f"{label}: frame-ancestors {csp.get('frame-ancestors')}")
        if csp.get("base-uri") not in (["'none'"], ["'self'"]):
            problems.append(f"{label}: base-uri {csp.get('base-uri')}")
        # The pages must work under that policy: no inline script, handler or style.
        if response.get("Content-Type", "").startswith("text/html"):
            html = response.content.decode().lower()
            for marker in ("<script>", "<style", " style=", "javascript:", " onclick="):
                if marker in html:
                    problems.append(f"{label} {url}: inline {marker.strip()!r} in the page")
    assert not problems, "\n".join(problems)


def test_security_headers_on_every_kind_of_page(pages):
    problems = []
    for label, client, url in pages:
        response = client.get(url)
        expected = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        for name, value in expected.items():
            if response.get(name) != value:
                problems.append(f"{label} {url}: {name} {response.get(name)!r}")
        # Plain HTTP (HUB_HTTPS off): HSTS would be ignored and is not sent.
        if response.get("Strict-Transport-Security"):
            problems.append(f"{label}: HSTS on a plain-HTTP deployment")
    assert not problems, "\n".join(problems)


HTTPS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
host = "hub.example.test"
out = {"session_secure": settings.SESSION_COOKIE_SECURE,
       "csrf_secure": settings.CSRF_COOKIE_SECURE}
r = Client(HTTP_HOST=host).get("/login/", secure=True)
out["tls"] = {"status": r.status_code, "headers": dict(r.headers),
              "csrf_cookie_secure": bool(r.cookies["csrftoken"]["secure"])}
r = Client(HTTP_HOST=host).get("/login/")
out["plain"] = {"status": r.status_code, "location": r.get("Location", "")}
r = Client(HTTP_HOST=host).get("/login/", HTTP_X_FORWARDED_PROTO="https")
out["proxied"] = {"status": r.status_code, "hsts": r.get("Strict-Transport-Security", "")}
print("@@" + json.dumps(out))
"""


def test_https_mode_sends_hsts_redirects_and_secures_cookies(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "CELERY_"))}
    env.pop("DATABASE_URL", None)  # the probe touches no database
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_HTTPS": "true",
            "ALLOWED_HOSTS": "hub.example.test",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", HTTPS_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("@@")), None)
    assert line, proc.stdout + proc.stderr
    out = json.loads(line[2:])
    assert out["session_secure"] and out["csrf_secure"]
    tls = out["tls"]
    assert tls["status"] == 200 and tls["csrf_cookie_secure"]
    hsts = [p.strip().lower() for p in tls["headers"]["Strict-Transport-Security"].split(";")]
    max_age = next(int(p.split("=")[1]) for p in hsts if p.startswith("max-age="))
    assert max_age >= 180 * 24 * 3600 and "includesubdomains" in hsts
    for name, value in (
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    ):
        assert tls["headers"].get(name) == value, name
    assert "frame-ancestors 'none'" in tls["headers"]["Content-Security-Policy"]
    # Plain HTTP is redirected to HTTPS; behind the proxy, its header counts as HTTPS.
    assert out["plain"]["status"] == 301
    assert out["plain"]["location"] == "https://hub.example.test/login/"
    assert out["proxied"]["status"] == 200 and out["proxied"]["hsts"]
