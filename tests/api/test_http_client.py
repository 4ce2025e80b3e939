"""A forensic tool's whole round trip, over real HTTP with a bearer token, against a live
server on 127.0.0.1 with a real Celery worker on Redis: open a case and a batch, upload
files (multipart, with the client's SHA-256), submit, poll until processed, start a VICS
export, poll it, download it, and check it with the hub's own VICS importer, the
independent JSON schema, and the signed manifest."""

from __future__ import annotations

import hashlib
import json
import time

import jsonschema
import pytest
import requests

# Register every task now: the ``celery_worker_process`` fixture calls ``app.close()``,
# which takes the app off Celery's active list, so a task module first imported after it
# (the export task is imported lazily) would never be registered in this process.
import triage.tasks  # noqa: F401
from tests.api.conftest import png
from tests.conftest import wait_until
from tests.exports.vics_schema import VICS_SCHEMA
from triage.api.tokens import api_token_create
from triage.exports import manifest as manifest_mod
from triage.matching.importers import parse_bytes

pytestmark = [pytest.mark.services, pytest.mark.worker]


class Client:
    """A minimal API client, as a tool would write one."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expect: int, **kwargs):
        url = path if path.startswith("http") else self.base + path
        response = self.session.request(method, url, timeout=60, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response

    def poll(self, path: str, done, timeout: float, log=lambda: ""):
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", path, 200).json()
            if done(body):
                return body
            assert time.monotonic() < deadline, f"{path} not done: {body}\n{log()}"
            time.sleep(0.3)


@pytest.fixture
def workers(celery_worker_process):
    from hub.celery import app

    app.amqp._producer_pool = None
    yield celery_worker_process
    app.amqp._producer_pool = None


def test_upload_process_export_and_download_over_http(
    live_server, workers, ivan, demo_agency, tmp_path
):
    worker = workers(HUB_CHUNK_SIZE="2").start()
    _, token = api_token_create(user=ivan, agency=demo_agency, name="tool", lifetime_days=1)
    api = Client(f"http://127.0.0.1:{live_server.thread.port}", token)

    case = api.call(
        "POST", "/api/v1/cases/", 201, json={"reference": "HTTP-1", "title": "Over the wire"}
    ).json()
    batch = api.call(
        "POST", f"/api/v1/cases/{case['uuid']}/batches/", 201, json={"exhibit_ref": "EX/HTTP"}
    ).json()
    images = {f"img{n}.png": png(100 + n) for n in range(4)}
    uploaded = api.call(
        "POST",
        f"/api/v1/batches/{batch['uuid']}/files/",
        201,
        files=[("file", (name, data, "image/png")) for name, data in images.items()],
        data={
            "sha256": [hashlib.sha256(d).hexdigest() for d in images.values()],
            "path": [f"phone/DCIM/{name}" for name in images],
        },
    ).json()
    assert [a["sha256"] for a in uploaded["accepted"]] == [
        hashlib.sha256(d).hexdigest() for d in images.values()
    ]
    api.call("POST", f"/api/v1/batches/{batch['uuid']}/submit/", 202)

    # The worker processes the batch; the tool polls its status.
    done = api.poll(
        f"/api/v1/batches/{batch['uuid']}/",
        lambda b: b["status"] == "complete",
        timeout=90,
        log=worker.log,
    )
    assert done["progress"]["found"] == 4 and done["progress"]["done"] == 4, done
    items = api.call("GET", f"/api/v1/batches/{batch['uuid']}/items/", 200).json()
    assert items["count"] == 4
    by_sha = {i["hashes"]["sha256"]: i for i in items["results"]}
    assert set(by_sha) == {hashlib.sha256(d).hexdigest() for d in images.values()}

    # The export: started through the API, built by the worker, polled, downloaded.
    export = api.call("POST", f"/api/v1/cases/{case['uuid']}/exports/", 202, json={}).json()
    assert export["status"] == "pending"
    ready = api.poll(
        f"/api/v1/exports/{export['uuid']}/",
        lambda e: e["status"] not in ("pending", "running"),
        timeout=90,
        log=worker.log,
    )
    assert ready["status"] == "done", ready
    assert api.call("GET", f"/api/v1/cases/{case['uuid']}/exports/", 200).json()["count"] == 1

    files = {f["file"]: f for f in ready["files"]}
    vics = api.call("GET", files["vics"]["download_url"], 200)
    assert vics.headers["Content-Type"] == "application/json"
    assert "no-store" in vics.headers["Cache-Control"]
    raw = vics.content
    assert hashlib.sha256(raw).hexdigest() == files["vics"]["sha256"]

    doc = json.loads(raw)
    jsonschema.validate(doc, VICS_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert doc["value"][0]["CaseNumber"] == "HTTP-1"
    assert doc["value"][0]["TotalMediaFiles"] == 4
    records = parse_bytes(raw, "vics")
    assert {r.sha256 for r in records} == set(by_sha)
    assert {r.md5 for r in records} == {i["hashes"]["md5"] for i in items["results"]}
    assert {r.pdq or "" for r in records} == {i["hashes"]["pdq"] for i in items["results"]}

    # And the whole signed bundle, streamed to disk, verifies.
    bundle = tmp_path / "bundle.zip"
    with api.session.get(api.base + ready["download_url"], stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/zip"
        with open(bundle, "wb") as fh:
            for chunk in response.iter_content(64 * 1024):
                fh.write(chunk)
    manifest = manifest_mod.verify_export(bundle)
    assert manifest["export"] == export["uuid"] and manifest["created_by"] == "ivan"

    from hub.models import AuditEvent

    wait_until(
        lambda: (
            AuditEvent.objects.filter(action="export.downloaded", object_id=export["uuid"]).count()
            == 2
        ),
        timeout=10,
        message="two audited downloads",
    )
