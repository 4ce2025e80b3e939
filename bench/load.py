"""Bounded load test: concurrent reviewers and uploaders against the real stack, over HTTP.

    .venv/bin/python bench/load.py                          # 20 reviewers, 2 uploaders, 30 s
    .venv/bin/python bench/load.py --web-class sync         # gunicorn as the Dockerfile runs it
    .venv/bin/python bench/load.py --seconds 60 --items 20000 --reviewers 40
    HUB_DB_APP_ROLE=hub_app DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python bench/load.py   # bound by RLS

What runs: gunicorn (``hub.wsgi``, gthread workers) on 127.0.0.1 against a scratch PostgreSQL
database (``triage_hub_load``: created, migrated with ``manage.py migrate`` so row-level
security is on, dropped at the end) and a real Celery worker on Redis (db 3, flushed). The
seed is one agency with investigators (each with a TOTP device: the login is the real
password + code one), a queue of bulk-created items with thumbnails (volume), and a first
exhibit uploaded over HTTP and processed by the worker's pipeline (realism).

Each reviewer is a thread with its own connection and session doing what the browser does:
log in, open the review page (which claims an item), fetch the preview, report a reveal for
every fifth item (as review.js does on re-blur), grade with htmx (the response claims and
shows the next item: "claim" below is that round trip), reload the page every tenth item.
Each uploader opens the upload page, uploads a small batch of generated JPEGs the way
upload.js does (one multipart XHR with a manifest of paths and SHA-256s), opens the batch
page, pauses, repeats.

Printed: requests, errors (must be 0), items reviewed, items reviewed twice (counted in the
database afterwards: first-review decisions per item; must be 0), items handed to two
sessions (must be 0), p50/p95/p99 per kind of request, upload throughput, what the busy
database backends waited on (sampled from pg_stat_activity) and how much of the uploads the
pipeline finished. Exit status 1 when a correctness check fails. The client code here is
also what tests/load/ runs.

Importing this module has no side effects (no Django set-up): the test imports it."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load test password, not a real one"
# Grades that do not ask for a second review under the default policy (Project VIC US):
# each item is then decided exactly once, which is what the run checks.
DEFAULT_GRADES = ("0", "2", "3", "4")


# --- a small browser ----------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Browser:
    """One person's browser: a keep-alive connection and a cookie jar. Not thread-safe
    (one per thread), like a real browser tab."""

    IDLE_RECONNECT = 20.0  # seconds; the server keeps idle connections longer (30 s)

    def __init__(self, base_url: str, label: str = "", timeout: float = 120.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.label = label
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and time.monotonic() - self._last_used > self.IDLE_RECONNECT:
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def _store_cookies(self, raw: list[str]) -> None:
        for line in raw:
            jar = SimpleCookie()
            jar.load(line)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] in ("0", 0):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        sent = {"Host": f"{self.host}:{self.port}", "User-Agent": "triage-hub-load"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            conn = self._connection()
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=sent)
                raw = conn.getresponse()
                data = raw.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError):
                self.close()
                if attempt + 1 == attempts:
                    raise
                continue
            seconds = time.perf_counter() - started
            self._last_used = time.monotonic()
            self._store_cookies(raw.msg.get_all("Set-Cookie") or [])
            if raw.will_close:
                self.close()
            hdrs = {k.lower(): v for k, v in raw.getheaders()}
            return Response(raw.status, hdrs, data, seconds)
        raise AssertionError("unreachable")

    def get(self, path: str, headers=None) -> Response:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, fields: dict, headers=None) -> Response:
        from urllib.parse import urlencode

        body = urlencode(fields).encode()
        return self.request(
            "POST",
            path,
            body,
            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )

    def post_multipart(self, path: str, fields: dict, files: list, headers=None) -> Response:
        """``files``: (field, file name, bytes, content type)."""
        boundary = "----load" + uuid.uuid4().hex
        out = io.BytesIO()
        for name, value in fields.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            )
            out.write(str(value).encode() + b"\r\n")
        for name, filename, data, ctype in files:
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
            )
            out.write(data + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        ctype = f"multipart/form-data; boundary={boundary}"
        return self.request(
            "POST", path, out.getvalue(), {"Content-Type": ctype, **(headers or {})}
        )

    def remember_csrf(self, html: str) -> None:
        match = CSRF_RE.search(html)
        if match:
            self.csrf = match.group(1)


CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ITEM_RE = re.compile(r'data-item="([0-9a-f-]{36})"')
THUMB_RE = re.compile(r'src="(/items/[0-9a-f-]{36}/thumb/[a-z_]+/)"')
DECIDE_RE = re.compile(r'action="(/review/items/[0-9a-f-]{36}/decide/)"')
EXPOSURE_RE = re.compile(r'data-exposure-url="([^"]+)"')
GRADE_RE = re.compile(r'name="category" value="([^"]+)"')
EMPTY_MARK = 'data-testid="review-empty"'


@dataclass
class Credentials:
    username: str
    password: str
    totp_key: str  # hex, as TOTPDevice.key


def totp_code(key_hex: str) -> str:
    from django_otp.oath import totp  # pure Python, needs no Django settings

    return f"{totp(bytes.fromhex(key_hex)):06d}"


# --- recording ------------------------------------------------------------------------------


class Recorder:
    """Timings per kind of request, request and error counts; shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = {}
        self.requests = 0
        self.errors: list[str] = []

    def note(self, kind: str, response: Response) -> Response:
        with self.lock:
            self.requests += 1
            self.timings.setdefault(kind, []).append(response.seconds)
        return response

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def expect(self, kind: str, response: Response, status: int, who: str, what: str) -> bool:
        self.note(kind, response)
        if response.status != status:
            head = response.text[:200].replace("\n", " ")
            self.error(f"{who}: {what} answered {response.status}, expected {status}: {head}")
            return False
        return True


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100 * len(ordered) + 0.4999))))
    return ordered[rank - 1]


# --- the flows --------------------------------------------------------------------------------


def login(browser: Browser, creds: Credentials, rec: Recorder) -> bool:
    """The real two-step login: password (with the acknowledgement), then the TOTP code."""
    who = creds.username
    page = browser.get("/login/")
    if not rec.expect("login", page, 200, who, "GET /login/"):
        return False
    browser.remember_csrf(page.text)
    step1 = browser.post_form(
        "/login/",
        {
            "csrfmiddlewaretoken": browser.csrf,
            "username": creds.username,
            "password": creds.password,
            "acknowledge": "on",
        },
    )
    if not rec.expect("login", step1, 302, who, "the password step"):
        return False
    otp_page = browser.get("/login/otp/")
    if not rec.expect("login", otp_page, 200, who, "GET /login/otp/"):
        return False
    browser.remember_csrf(otp_page.text)
    step2 = browser.post_form(
        "/login/otp/", {"csrfmiddlewaretoken": browser.csrf, "code": totp_code(creds.totp_key)}
    )
    if not rec.expect("login", step2, 302, who, "the TOTP step"):
        return False
    if step2.header("location") != "/":
        rec.error(f"{who}: the TOTP step sent to {step2.header('location')!r}, not home")
        return False
    return True


def login_all(base_url: str, people: list[Credentials], rec: Recorder) -> list[Browser | None]:
    """Log everyone in at once (each login is its own thread); None for a failed login."""
    browsers: list[Browser | None] = [None] * len(people)

    def one(n: int) -> None:
        browser = Browser(base_url, people[n].username)
        try:
            if login(browser, people[n], rec):
                browsers[n] = browser
        except Exception as exc:  # noqa: BLE001 - counted as an error
            rec.error(f"{people[n].username}: login raised {exc!r}")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(people))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return browsers


@dataclass
class Session:
    """What one reviewer's session saw: items handed to it and items it graded."""

    username: str
    claimed: list[str] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    idle_polls: int = 0


def review_loop(browser: Browser, rec: Recorder, session: Session, deadline: float, grades,
                rng: random.Random) -> None:  # fmt: skip
    """One reviewer until ``deadline`` (time.monotonic); stops at the first error."""
    who = session.username

    def page() -> str | None:
        r = browser.get("/review/")
        if not rec.expect("page", r, 200, who, "GET /review/"):
            return None
        browser.remember_csrf(r.text)
        return r.text

    html = page()
    n = 0
    while html is not None and time.monotonic() < deadline:
        item = ITEM_RE.search(html)
        if item is None:
            if EMPTY_MARK not in html:
                rec.error(f"{who}: a review page with neither an item nor the empty note")
                return
            session.idle_polls += 1
            time.sleep(0.5)
            html = page()
            continue
        uuid_ = item.group(1)
        if not session.claimed or session.claimed[-1] != uuid_:
            session.claimed.append(uuid_)
        thumb, decide = THUMB_RE.search(html), DECIDE_RE.search(html)
        if thumb is None or decide is None:
            rec.error(f"{who}: the panel of {uuid_} has no preview or no grade form")
            return
        preview = browser.get(thumb.group(1))
        if not rec.expect("preview", preview, 200, who, f"preview {thumb.group(1)}"):
            return
        if not preview.header("content-type").startswith("image/") or not preview.body:
            rec.error(f"{who}: preview of {uuid_} is not an image")
            return
        browser.remember_csrf(html)
        ajax = {"HX-Request": "true", "X-CSRFToken": browser.csrf}
        if n % 5 == 4:
            exposure = EXPOSURE_RE.search(html)
            r = browser.post_form(
                exposure.group(1),
                {"kind": "reveal", "duration_ms": str(rng.randint(300, 3000)),
                 "csrfmiddlewaretoken": browser.csrf},
                {"X-CSRFToken": browser.csrf},
            )  # fmt: skip
            if not rec.expect("exposure", r, 200, who, "the reveal report"):
                return
        allowed = [g for g in GRADE_RE.findall(html) if g in grades] or list(grades)
        r = browser.post_form(
            decide.group(1),
            {"csrfmiddlewaretoken": browser.csrf, "scope": "", "category": rng.choice(allowed),
             "note": ""},
            ajax,
        )  # fmt: skip
        if not rec.expect("claim", r, 200, who, f"grading {uuid_}"):
            return
        session.decided.append(uuid_)
        html = r.text
        n += 1
        if n % 10 == 0 and time.monotonic() < deadline:
            html = page()  # a full reload resumes the item the last grade claimed


@dataclass
class UploadLog:
    username: str
    batches: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    batch_urls: list[str] = field(default_factory=list)


class ImageSource:
    """Distinct small benign JPEGs (triage.synthetic patterns), one new seed per file, so
    no two uploads are near-duplicates (which the pipeline would group)."""

    def __init__(self, first_seed: int = 10_000, size=(320, 240)):
        self.seed = first_seed
        self.size = size
        self.lock = threading.Lock()

    def next(self) -> tuple[str, bytes]:
        from PIL import Image

        from triage.synthetic import pattern

        with self.lock:
            self.seed += 1
            seed = self.seed
        buf = io.BytesIO()
        Image.fromarray(pattern(seed, self.size, noise=2.0)).save(buf, "JPEG", quality=85)
        return f"load-{seed}.jpg", buf.getvalue()


def upload_once(browser: Browser, rec: Recorder, log: UploadLog, case_uuid: str,
                images: ImageSource, count: int) -> bool:  # fmt: skip
    who = log.username
    form_url = f"/cases/{case_uuid}/upload/"
    page = browser.get(form_url)
    if not rec.expect("page", page, 200, who, "GET the upload page"):
        return False
    browser.remember_csrf(page.text)
    files, manifest = [], []
    for _ in range(count):
        name, data = images.next()
        files.append(("files", name, data, "image/jpeg"))
        manifest.append({"path": f"load/{name}", "sha256": hashlib.sha256(data).hexdigest()})
    fields = {
        "csrfmiddlewaretoken": browser.csrf,
        "exhibit_ref": f"LOAD/{log.batches + 1}",
        "note": "",
        "manifest": json.dumps(manifest),
    }
    r = browser.post_multipart(
        form_url,
        fields,
        files,
        {"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": browser.csrf},
    )
    if not rec.expect("upload", r, 200, who, "the upload"):
        return False
    answer = json.loads(r.body)
    if answer.get("accepted") != count or answer.get("rejected"):
        rec.error(f"{who}: upload accepted {answer.get('accepted')} of {count}: {answer}")
        return False
    log.batches += 1
    log.files += count
    log.bytes += sum(len(f[2]) for f in files)
    log.seconds += r.seconds
    log.batch_urls.append(answer["redirect"])
    batch_page = browser.get(answer["redirect"])
    return rec.expect("page", batch_page, 200, who, "GET the batch page")


def upload_loop(browser: Browser, rec: Recorder, log: UploadLog, case_uuid: str, deadline,
                images: ImageSource, count: int, pause: float) -> None:  # fmt: skip
    while time.monotonic() < deadline:
        if not upload_once(browser, rec, log, case_uuid, images, count):
            return
        time.sleep(pause)


@dataclass
class LoadResult:
    rec: Recorder
    sessions: list[Session]
    uploads: list[UploadLog]
    seconds: float

    def shared_claims(self) -> dict[str, list[str]]:
        """Items handed to more than one session (must be none)."""
        owners: dict[str, set[str]] = {}
        for s in self.sessions:
            for item in s.claimed:
                owners.setdefault(item, set()).add(s.username)
        return {item: sorted(who) for item, who in owners.items() if len(who) > 1}

    @property
    def decided(self) -> int:
        return sum(len(s.decided) for s in self.sessions)

    def p(self, kind: str, q: float) -> float:
        return percentile(self.rec.timings.get(kind, []), q) * 1000

    def lines(self) -> list[str]:
        rec = self.rec
        out = [
            f"requests: {rec.requests} ({rec.requests / max(self.seconds, 1e-9):.0f}/s over "
            f"{self.seconds:.1f} s), errors: {len(rec.errors)}",
            f"items reviewed: {self.decided} by {sum(1 for s in self.sessions if s.decided)} "
            f"of {len(self.sessions)} reviewers ({self.decided / max(self.seconds, 1e-9):.1f}/s); "
            f"handed to two sessions: {len(self.shared_claims())}; "
            f"idle polls (queue empty): {sum(s.idle_polls for s in self.sessions)}",
            f"{'latency ms':<34}{'n':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}",
        ]
        labels = {
            "page": "page load (full page)",
            "claim": "claim (grade -> next item, htmx)",
            "preview": "preview (thumbnail)",
            "exposure": "reveal report",
            "upload": "upload (one batch)",
            "login": "login requests",
        }
        for kind, label in labels.items():
            values = rec.timings.get(kind, [])
            if values:
                out.append(
                    f"{label:<34}{len(values):>6}{self.p(kind, 50):>8.0f}{self.p(kind, 95):>8.0f}"
                    f"{self.p(kind, 99):>8.0f}{max(values) * 1000:>8.0f}"
                )
        files = sum(u.files for u in self.uploads)
        size = sum(u.bytes for u in self.uploads)
        busy = sum(u.seconds for u in self.uploads)
        out.append(
            f"uploads: {sum(u.batches for u in self.uploads)} batches, {files} files, "
            f"{size / 1e6:.2f} MB; {files / max(self.seconds, 1e-9):.2f} files/s over the run, "
            f"{size / 1e6 / max(busy, 1e-9):.2f} MB/s while uploading"
        )
        for message in rec.errors[:10]:
            out.append(f"  error: {message}")
        return out


def run_load(browsers_reviewing: list[Browser], browsers_uploading: list[Browser], *,
             rec: Recorder, upload_case: str, seconds: float, grades=DEFAULT_GRADES,
             upload_batch: int = 3, upload_pause: float = 1.0, seed: int = 1,
             images: ImageSource | None = None) -> LoadResult:  # fmt: skip
    """Run logged-in reviewers and uploaders for ``seconds``, all starting together."""
    images = images or ImageSource()
    sessions = [Session(b.label) for b in browsers_reviewing]
    uploads = [UploadLog(b.label) for b in browsers_uploading]
    start = threading.Barrier(len(sessions) + len(uploads) + 1)
    deadline = [0.0]  # set by this thread just before it releases the others

    def guarded(who: str, body):
        def run() -> None:
            try:
                start.wait()
                body()
            except Exception as exc:  # noqa: BLE001 - counted as an error
                rec.error(f"{who}: {exc!r}")

        return run

    threads = []
    for n, (browser, session) in enumerate(zip(browsers_reviewing, sessions, strict=True)):
        rng = random.Random(seed * 1000 + n)

        def review(b=browser, s=session, r=rng):
            review_loop(b, rec, s, deadline[0], grades, r)

        threads.append(threading.Thread(target=guarded(session.username, review)))
    for browser, log in zip(browsers_uploading, uploads, strict=True):

        def upload(b=browser, u=log):
            upload_loop(b, rec, u, upload_case, deadline[0], images, upload_batch, upload_pause)

        threads.append(threading.Thread(target=guarded(log.username, upload)))
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    started = time.monotonic()
    start.wait()
    for t in threads:
        t.join(seconds + 300)
    return LoadResult(rec, sessions, uploads, time.monotonic() - started)


# --- the stack: seed, web server, worker, database checks -----------------------------------


@dataclass
class Seed:
    agency_id: int
    reviewers: list[Credentials]
    uploaders: list[Credentials]
    queue_case: str
    upload_case: str
    items: int


def seed(*, reviewers: int = 20, uploaders: int = 2, items: int = 1000, thumbs: int = 16,
         slug: str = "load-police", password: str = PASSWORD) -> Seed:  # fmt: skip
    """One agency, investigators with TOTP devices, a case with ``items`` queued items
    (bulk-created, each with a thumbnail) and an empty case the uploaders fill. Needs
    Django set up; writes the thumbnails under settings.EVIDENCE_ROOT."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from PIL import Image

    from hub.models import Agency, Membership, Role, User
    from triage.models import Case, Derivative, EvidenceBatch, EvidenceItem
    from triage.synthetic import pattern

    agency = Agency.objects.create(name="Load Police", slug=slug)
    hashed = make_password(password)  # one Argon2 hash for everyone: seeding stays quick
    people = User.objects.bulk_create(
        [
            User(username=f"{kind}{n:02d}", email=f"{kind}{n:02d}@load.test", password=hashed)
            for kind, count in (("reviewer", reviewers), ("uploader", uploaders))
            for n in range(count)
        ]
    )
    people = list(User.objects.filter(username__in=[p.username for p in people]).order_by("id"))
    Membership.objects.bulk_create(
        [Membership(user=u, agency=agency, role=Role.INVESTIGATOR) for u in people]
    )
    creds = []
    for user in people:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        creds.append(Credentials(user.username, password, device.key))
    queue_case = Case.objects.create(
        agency=agency, reference="LOAD-QUEUE", title="Load: queue", created_by=people[0]
    )
    upload_case = Case.objects.create(
        agency=agency, reference="LOAD-UPLOADS", title="Load: uploads", created_by=people[0]
    )
    for case in (queue_case, upload_case):
        case.team.add(*people)
    batch = EvidenceBatch.objects.create(agency=agency, case=queue_case, uploaded_by=people[0])

    folder = Path(settings.EVIDENCE_ROOT) / str(agency.uuid) / "load-thumbs"
    folder.mkdir(parents=True, exist_ok=True)
    rel = []
    for n in range(thumbs):
        path = folder / f"{n}.png"
        Image.fromarray(pattern(n, (128, 96))).save(path, "PNG")
        rel.append(str(path.relative_to(settings.EVIDENCE_ROOT)))

    rng = random.Random(7)
    now = timezone.now()
    chunk = 2000
    for start in range(0, items, chunk):
        rows = [
            EvidenceItem(
                agency=agency, case=queue_case, batch=batch, path=f"load/{k}.png",
                original_name=f"{k}.png", size=1000, media_kind="image",
                media_type="image/png", status="done", review_state="queued", queued_at=now,
                priority=round(rng.uniform(-50, 100), 3), priority_reasons=[],
            )
            for k in range(start, min(items, start + chunk))
        ]  # fmt: skip
        made = EvidenceItem.objects.bulk_create(rows, batch_size=chunk)
        if made and made[0].pk is None:  # backends that do not return ids
            made = list(EvidenceItem.objects.filter(batch=batch).order_by("id")[start:])
        Derivative.objects.bulk_create(
            [
                Derivative(item=item, kind=Derivative.Kind.THUMB, parent_sha256="0" * 64,
                           storage_path=rel[k % thumbs], width=128, height=96)
                for k, item in enumerate(made)
            ],
            batch_size=chunk,
        )  # fmt: skip
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE triage_evidenceitem")
    return Seed(
        agency_id=agency.pk,
        reviewers=creds[:reviewers],
        uploaders=creds[reviewers:],
        queue_case=str(queue_case.uuid),
        upload_case=str(upload_case.uuid),
        items=items,
    )


def check_database(agency_id: int, upload_case: str) -> dict:
    """Afterwards, from the database: decisions, items with more than one live first review
    (must be 0), items still held, uploaded items and how many the pipeline finished, the
    agency's audit rows per action and whether its hash chain still verifies."""
    from django.db.models import Count

    from hub.audit import chain_key, verify_chain
    from hub.models import Agency, AuditEvent
    from triage.models import EvidenceItem, ReviewDecision

    first = ReviewDecision.objects.filter(
        agency_id=agency_id, kind__in=("first", "verification"), undone_at__isnull=True
    )
    per_item = first.values("item_id").annotate(n=Count("id"))
    uploaded = EvidenceItem.objects.filter(case__uuid=upload_case, parent__isnull=True)
    chain = chain_key(Agency.objects.get(pk=agency_id))
    actions = dict(
        AuditEvent.objects.filter(chain=chain, action__in=AUDITED)
        .values_list("action")
        .annotate(n=Count("id"))
    )
    status = verify_chain(chain)
    return {
        "first_decisions": first.count(),
        "items_reviewed": per_item.count(),
        "items_reviewed_twice": per_item.filter(n__gt=1).count(),
        "items_held": EvidenceItem.objects.filter(
            agency_id=agency_id, claimed_by__isnull=False
        ).count(),
        "uploaded_items": uploaded.count(),
        "uploaded_done": uploaded.filter(status="done").count(),
        "audit": {action: actions.get(action, 0) for action in AUDITED},
        "audit_chain_ok": status.ok,
        "audit_chain_length": status.verified_up_to,
    }


# What the reviewers' requests must leave in the audit log, one row each.
AUDITED = ("evidence.served", "evidence.revealed", "review.decided")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A subprocess in its own process group, with its output in a log file."""

    def __init__(self, argv: list[str], env: dict, log_path: Path):
        self.argv, self.env, self.log_path = argv, env, Path(log_path)
        self.proc: subprocess.Popen | None = None

    def start(self):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def web_server(env: dict, log_path: Path, *, workers: int = 4, threads: int = 4,
               worker_class: str = "gthread", conn_max_age: int = 60,
               port: int | None = None) -> tuple[Service, str]:  # fmt: skip
    """gunicorn serving hub.wsgi on 127.0.0.1 with a browser-like keep-alive and, as in
    docker-compose.yml, persistent database connections (DATABASE_CONN_MAX_AGE)."""
    port = port or free_port()
    threads = 1 if worker_class == "sync" else threads  # gunicorn: sync + threads = gthread
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    argv = [
        gunicorn, "hub.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
        "--keep-alive", "30", "--timeout", "120", "--graceful-timeout", "10", "--preload",
    ]  # fmt: skip
    env = {**env, "DATABASE_CONN_MAX_AGE": str(conn_max_age)}
    return Service(argv, env, log_path), f"http://127.0.0.1:{port}"


class WaitSampler(threading.Thread):
    """Samples pg_stat_activity of one database every ``interval`` seconds: what the busy
    backends wait on (a lock, I/O, nothing = running), and which statements wait on locks."""

    def __init__(self, dsn: dict, dbname: str, interval: float = 0.25):
        super().__init__(daemon=True)
        self.dsn, self.dbname, self.interval = dsn, dbname, interval
        self.stop_event = threading.Event()
        self.states: dict[str, int] = {}
        self.lock_waits: dict[str, int] = {}
        self.samples = 0

    def run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(**self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                while not self.stop_event.wait(self.interval):
                    cursor.execute(
                        "SELECT coalesce(wait_event_type, 'running'), left(query, 70) "
                        "FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                        "AND pid <> pg_backend_pid()",
                        [self.dbname],
                    )
                    self.samples += 1
                    for state, query in cursor.fetchall():
                        self.states[state] = self.states.get(state, 0) + 1
                        if state == "Lock":
                            key = " ".join(query.split())
                            self.lock_waits[key] = self.lock_waits.get(key, 0) + 1
        finally:
            conn.close()

    def lines(self) -> list[str]:
        busy = sum(self.states.values())
        out = [
            f"database activity: {self.samples} samples, {busy / max(self.samples, 1):.1f} busy "
            "backends on average; "
            + ", ".join(
                f"{k} {v / max(busy, 1):.0%}"
                for k, v in sorted(self.states.items(), key=lambda x: -x[1])
            )
        ]
        for query, n in sorted(self.lock_waits.items(), key=lambda x: -x[1])[:3]:
            out.append(f"  waiting on a lock ({n / max(busy, 1):.0%}): {query}")
        return out


def celery_worker(env: dict, log_path: Path, concurrency: int = 2) -> Service:
    celery = str(Path(sys.executable).with_name("celery"))
    argv = [
        celery, "-A", "hub", "worker", "-Q", "intake,inference,maintenance",
        "-c", str(concurrency), "--without-heartbeat", "--without-gossip", "--without-mingle",
        "-n", f"load-{os.getpid()}@%h", "--loglevel", "WARNING",
    ]  # fmt: skip
    return Service(argv, env, log_path)


def wait_ready(server: Service, base_url: str, timeout: float = 120) -> float:
    """Poll the login page until it answers 200; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not server.alive():
            raise RuntimeError("the web server exited:\n" + server.log())
        try:
            if Browser(base_url, timeout=5).get("/login/").status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the web server did not answer within {timeout} s:\n" + server.log())


def wait_processed(agency_id: int, upload_case: str, expected: int, timeout: float) -> float:
    """Wait until ``expected`` uploaded items are processed (or ``timeout``); seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check_database(agency_id, upload_case)["uploaded_done"] >= expected:
            break
        time.sleep(0.5)
    return time.monotonic() - started


# --- the benchmark ----------------------------------------------------------------------------


def _dsn(url: str) -> dict:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or None,
        "dbname": parts.path.lstrip("/") or "postgres",
    }


def _admin_sql(base_url: str, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(**_dsn(base_url))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Bounded load test over HTTP (see the doc).")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--items", type=int, default=3_000, help="bulk-created queued items")
    parser.add_argument(
        "--pipeline-items", type=int, default=10, help="images uploaded and processed first"
    )
    parser.add_argument("--upload-batch", type=int, default=3, help="files per upload")
    parser.add_argument("--upload-pause", type=float, default=1.0, help="seconds between uploads")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument(
        "--web-class", default="gthread", help="gunicorn worker class (production: sync)"
    )
    parser.add_argument("--conn-max-age", type=int, default=60, help="as docker-compose.yml")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--db-name", default="triage_hub_load")
    parser.add_argument("--keep", action="store_true", help="keep the database and data folder")
    args = parser.parse_args()

    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base_db.startswith("postgres"):
        print("bench/load.py needs PostgreSQL (DATABASE_URL=postgres://...)")
        return 2
    scratch_url = base_db.rsplit("/", 1)[0] + "/" + args.db_name
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
    data = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "HUB_DATA_DIR": str(data),
        "DATABASE_URL": scratch_url,
        "CELERY_BROKER_URL": redis_url,
    }
    if os.environ.get("HUB_DB_APP_ROLE"):
        env["HUB_DB_APP_ROLE"] = os.environ["HUB_DB_APP_ROLE"]
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import psycopg2

    from bench._report import result

    try:
        _admin_sql(
            base_db,
            f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)',
            f'CREATE DATABASE "{args.db_name}"',
        )
    except psycopg2.OperationalError as exc:
        print(f"bench/load.py needs PostgreSQL at {base_db}: {exc}".strip())
        shutil.rmtree(data, ignore_errors=True)
        return 2
    services: list[Service] = []
    wall = time.perf_counter()
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        migrate_s = time.perf_counter() - t0
        import django

        django.setup()
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        t0 = time.perf_counter()
        s = seed(reviewers=args.reviewers, uploaders=args.uploaders, items=args.items)
        seed_s = time.perf_counter() - t0
        worker = celery_worker(env, data / "worker.log", args.worker_concurrency).start()
        services.append(worker)
        server, base_url = web_server(
            env, data / "web.log", workers=args.web_workers, threads=args.web_threads,
            worker_class=args.web_class, conn_max_age=args.conn_max_age,
        )  # fmt: skip
        services.append(server.start())
        ready_s = wait_ready(server, base_url)
        print(
            f"load: {args.reviewers} reviewers, {args.uploaders} uploaders, {args.seconds:.0f} s; "
            f"gunicorn {args.web_workers} workers x "
            f"{1 if args.web_class == 'sync' else args.web_threads} threads ({args.web_class}, "
            f"DATABASE_CONN_MAX_AGE={args.conn_max_age}), "
            f"Celery worker concurrency {args.worker_concurrency} on {redis_url}, "
            f"PostgreSQL {args.db_name}"
            + (f" as role {env['HUB_DB_APP_ROLE']}" if env.get("HUB_DB_APP_ROLE") else "")
        )
        print(
            f"set-up: migrate {migrate_s:.1f} s, seed {args.items} queued items "
            f"{seed_s:.1f} s, web server ready in {ready_s:.1f} s"
        )

        rec = Recorder()
        t0 = time.perf_counter()
        browsers = login_all(base_url, s.reviewers + s.uploaders, rec)
        if rec.errors or any(b is None for b in browsers):
            print("\n".join(["login failed:", *rec.errors[:10], server.log()]))
            return 1
        logins = rec.timings["login"]
        print(
            f"logins: {len(browsers)} people at once over HTTP (password + TOTP) in "
            f"{time.perf_counter() - t0:.1f} s; per request p50 {percentile(logins, 50) * 1000:.0f}"
            f" ms, p95 {percentile(logins, 95) * 1000:.0f} ms (Argon2 dominates)"
        )
        reviewing, uploading = browsers[: args.reviewers], browsers[args.reviewers :]

        # The realistic part of the queue: an exhibit uploaded over HTTP and processed by
        # the worker's pipeline (hashes, PDQ, thumbnails, classifier, prioritise).
        images = ImageSource()
        warm = UploadLog(uploading[0].label) if uploading else None
        if warm is not None and args.pipeline_items:
            t0 = time.perf_counter()
            left = args.pipeline_items
            while left > 0:
                count = min(10, left)
                if not upload_once(uploading[0], rec, warm, s.upload_case, images, count):
                    print("\n".join(["the first exhibit failed:", *rec.errors[:10]]))
                    return 1
                left -= count
            waited = wait_processed(s.agency_id, s.upload_case, args.pipeline_items, 300)
            done = check_database(s.agency_id, s.upload_case)["uploaded_done"]
            took = time.perf_counter() - t0
            print(
                f"first exhibit: {args.pipeline_items} images uploaded and processed by the "
                f"pipeline in {took:.1f} s ({done} done; {done / max(took, 1e-9):.1f} images/s, "
                f"processing wait {waited:.1f} s)"
            )
        rec = Recorder()  # the timed run starts clean (logins and the first exhibit apart)
        sampler = WaitSampler(_dsn(scratch_url), args.db_name)
        sampler.start()
        outcome = run_load(
            reviewing, uploading, rec=rec, upload_case=s.upload_case, seconds=args.seconds,
            upload_batch=args.upload_batch, upload_pause=args.upload_pause, images=images,
        )  # fmt: skip
        sampler.stop_event.set()
        sampler.join(5)
        for browser in browsers:
            browser.close()  # or gunicorn waits for the idle keep-alive connections
        uploaded = sum(u.files for u in outcome.uploads) + (warm.files if warm else 0)
        grace = wait_processed(s.agency_id, s.upload_case, uploaded, 20)
        db = check_database(s.agency_id, s.upload_case)
        for line in outcome.lines():
            print(line)
        print(
            f"database: {db['first_decisions']} first-review decisions on "
            f"{db['items_reviewed']} items; ITEMS REVIEWED TWICE: {db['items_reviewed_twice']}; "
            f"items still held: {db['items_held']}"
        )
        print(
            f"audit: {db['audit']}; the agency's chain of {db['audit_chain_length']} rows "
            + ("verifies" if db["audit_chain_ok"] else "DOES NOT VERIFY")
        )
        for line in sampler.lines():
            print(line)
        print(
            f"pipeline: {db['uploaded_done']} of {db['uploaded_items']} uploaded items processed "
            f"{grace:.1f} s after the run ended"
        )
        ok = (
            not rec.errors
            and db["items_reviewed_twice"] == 0
            and not outcome.shared_claims()
            and db["first_decisions"] == outcome.decided
            and db["audit_chain_ok"]
        )
        print(
            "RESULT: "
            + ("OK" if ok else "FAILED (see errors and counts above)")
            + f" (whole benchmark {time.perf_counter() - wall:.0f} s)"
        )
        note = f"{args.reviewers} reviewers + {args.uploaders} uploaders, {args.seconds:.0f} s"
        result("load", "claim p95 (grade -> next, HTTP)", f"{outcome.p('claim', 95):.0f} ms", note)
        result("load", "page load p95", f"{outcome.p('page', 95):.0f} ms", note)
        result(
            "load",
            "errors / reviewed twice",
            f"{len(rec.errors)} / {db['items_reviewed_twice']}",
            f"{outcome.decided} items reviewed, {rec.requests} requests",
        )
        return 0 if ok else 1
    finally:
        for service in reversed(services):
            service.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
            pass
        if not args.keep:
            _admin_sql(base_db, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            shutil.rmtree(data, ignore_errors=True)
        else:
            print(f"kept: database {args.db_name}, data {data}")


if __name__ == "__main__":
    sys.exit(main())
