"""A bounded load test over real HTTP (the small version of bench/load.py, whose client code
it runs): gunicorn on the test database, a real Celery worker on Redis, 20 reviewers each
with their own logged-in session (password + TOTP) claiming, previewing and grading
concurrently for about 10 s while 2 uploaders upload small batches the way upload.js does.
The uploaders log in over HTTP (password + TOTP); the reviewers' sessions are made directly,
as tests/conftest.py's browser_login does, because 20 Argon2 logins at once cost the 2-core
CI machine more time than the whole run (bench/load.py logs everyone in over HTTP).

Asserts: no HTTP error, no item handed to two sessions, no item decided twice (counted in
the database), every successful grade is exactly one decision in the database, every
uploaded file became an item, and every preview, reveal and grade left exactly one audit
row in the agency's hash chain, which still verifies. Prints the p95s (the figures of
bench/load.py, smaller)."""

from __future__ import annotations

import pytest
from django.db import connection

from bench import load
from tests.conftest import login_as

pytestmark = [pytest.mark.services, pytest.mark.worker]

REVIEWERS = 20
UPLOADERS = 2
SECONDS = 10
ITEMS = 1200  # more than 20 reviewers can grade in the window, so nobody idles


def _signed_in(base_url: str, username: str) -> load.Browser:
    """A browser holding a fresh, 2FA-verified session of ``username``."""
    from django.conf import settings
    from django.test import Client

    from hub.models import User

    client = login_as(Client(), User.objects.get(username=username))
    browser = load.Browser(base_url, username)
    browser.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[
        settings.SESSION_COOKIE_NAME
    ].value
    return browser


def test_concurrent_reviewers_and_uploaders_over_http(celery_worker_process, tmp_path, capsys):
    if connection.vendor != "postgresql":
        pytest.skip("the load test needs PostgreSQL (SKIP LOCKED claims); it runs there")
    worker = celery_worker_process().start()
    env = {**worker.env, "HUB_DATA_DIR": str(tmp_path / "web-data")}
    server, base_url = load.web_server(env, tmp_path / "web.log", workers=2, threads=8)
    server.start()  # both start while the seed is written
    try:
        seeded = load.seed(reviewers=REVIEWERS, uploaders=UPLOADERS, items=ITEMS)
        ready = load.wait_ready(server, base_url)
        rec = load.Recorder()
        reviewers = [_signed_in(base_url, c.username) for c in seeded.reviewers]
        uploaders = load.login_all(base_url, seeded.uploaders, rec)
        assert not rec.errors and all(uploaders), rec.errors[:5]
        logins = rec.timings["login"]
        rec = load.Recorder()
        outcome = load.run_load(
            reviewers,
            uploaders,
            rec=rec,
            upload_case=seeded.upload_case,
            seconds=SECONDS,
            upload_batch=3,
            upload_pause=0.5,
        )
        for browser in reviewers + uploaders:
            browser.close()  # gunicorn would wait for idle keep-alive connections
    finally:
        server.stop()
    db = load.check_database(seeded.agency_id, seeded.upload_case)
    with capsys.disabled():
        print(f"\nload test: web server ready in {ready:.1f} s; uploaders' login requests "
              f"p95 {load.percentile(logins, 95) * 1000:.0f} ms")  # fmt: skip
        for line in outcome.lines():
            print("  " + line)
        print(f"  database: {db}")

    assert not rec.errors, "\n".join(rec.errors[:10]) + "\n" + server.log(3000)
    assert outcome.shared_claims() == {}
    assert db["items_reviewed_twice"] == 0
    # Each successful grade is one decision in the database: nothing lost, nothing doubled.
    assert db["first_decisions"] == outcome.decided == db["items_reviewed"]
    graded_by = [s for s in outcome.sessions if s.decided]
    assert len(graded_by) >= REVIEWERS // 2, "the reviewers did not really work concurrently"
    sent = sum(u.files for u in outcome.uploads)
    assert sent >= 3 * UPLOADERS and db["uploaded_items"] == sent
    for kind in ("page", "claim", "preview", "upload"):
        assert outcome.rec.timings.get(kind), f"no {kind} request was made"
    # Every evidence view, reveal and decision is audited, once, in a chain that still
    # verifies after twenty people appended to it at the same time.
    assert db["audit"] == {
        "evidence.served": len(rec.timings["preview"]),
        "evidence.revealed": len(rec.timings.get("exposure", [])),
        "review.decided": outcome.decided,
    }
    assert db["audit_chain_ok"], db
