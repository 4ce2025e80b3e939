"""schemathesis against the OpenAPI schema, over HTTP, on a live test server on 127.0.0.1.

Alice (an admin, so every endpoint is reachable) authenticates with a real API token. The
path parameters are real objects of her agency (a processed batch and its item, a batch
still receiving, a hash list and an import, a finished export), so the generated requests
reach the views' logic rather than stopping at a 404. Checks: no server error, responses
(bodies, status codes, content types) as documented. Examples are bounded so the run
stays well under a minute and a half; the seed is fixed so a failure reproduces (the
output prints the curl command of each failing request).

Marked ``services``: it runs once, in the PostgreSQL run, where the server errors a
database can add (NUL bytes, out-of-range integers, row-level security) show; the SQLite
run would spend the same minute again on the same requests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import png
from triage.api.tokens import api_token_create

pytestmark = pytest.mark.services

MAX_EXAMPLES = 5
SEED = 8
CHECKS = [
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
]


@pytest.fixture
def objects(alice, case, processed_batch, tmp_path):
    """Real objects for every path parameter of the schema."""
    from triage.exports import services as export_services
    from triage.models import HashList
    from triage.models.matching import HashImport
    from triage.services.intake import batch_add_file, batch_create

    receiving = batch_create(case=case, user=alice, exhibit_ref="EX/RECEIVING")
    path = tmp_path / "r.png"
    path.write_bytes(png(40))
    batch_add_file(batch=receiving, src_path=path, name="r.png", move=True)
    hash_list = HashList.objects.create(agency=case.agency, name="Fuzzed list")
    hash_import = HashImport.objects.create(
        hash_list=hash_list, file_name="x.txt", storage_path="", format="text"
    )
    job = export_services.export_create(case=case, user=alice)
    export_services.export_run(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    return {
        "case": case.uuid,
        "batch": processed_batch.uuid,
        "item": processed_batch.items.order_by("id").first().uuid,
        "hashlist": hash_list.uuid,
        "hashimport": hash_import.uuid,
        "export": job.uuid,
        "receiving": receiving.uuid,
    }


def config(objects: dict) -> str:
    """schemathesis.toml: every setting of the run, the path parameters included."""
    q = json.dumps
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "request-timeout = 30",
        "max-failures = 5",
        "",
        "[generation]",
        'database = "none"',
        f"max-examples = {MAX_EXAMPLES}",
        "",
        "[checks]",
        "enabled = false",  # only these:
        *(f"{check}.enabled = true" for check in CHECKS),
        "",
        "[phases.examples]",
        "enabled = true",
        "[phases.stateful]",
        "enabled = false",
        "[phases.fuzzing]",
        "enabled = true",
        # The coverage phase's boundary values, positive only and without unexpected
        # methods (the route walk sends those): its negative half doubles the run time,
        # and the fuzzing phase sends negative data too.
        "[phases.coverage]",
        "enabled = true",
        "unexpected-methods = []",
        "generate-duplicate-query-parameters = false",
        "[phases.coverage.generation]",
        'mode = "positive"',
        "",
        "[parameters]",
        *(f"{q('path.' + k)} = {q(str(v))}" for k, v in objects.items() if k != "receiving"),
        "",
        # Uploads and submission go to the batch that is still receiving files.
        "[[operations]]",
        'include-path-regex = "/batches/\\\\{batch\\\\}/(files|submit)/$"',
        f'parameters = {{ "path.batch" = {q(str(objects["receiving"]))} }}',
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(240)
def test_schemathesis_finds_no_server_error(live_server, objects, alice, tmp_path):
    _, token = api_token_create(
        user=alice, agency=alice.memberships.get().agency, name="schemathesis", lifetime_days=1
    )
    base = f"http://127.0.0.1:{live_server.thread.port}"
    (tmp_path / "schemathesis.toml").write_text(config(objects))
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        f"{base}/api/schema/",
        "--header",
        f"Authorization: Bearer {token}",
        "--output-sanitize",
        "true",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=200, check=False
    )
    output = result.stdout + result.stderr
    assert "Loaded specification" in output, output[-6000:]
    assert result.returncode == 0, output[-12000:]
    # It really exercised the API: every operation of the schema was tested, with data.
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-3000:]
    assert int(selected[1]) == int(selected[2]) == int(tested[1]) >= 20, output[-3000:]
    generated = re.search(r"(\d+) generated, \1 passed", output)
    assert generated and int(generated[1]) >= 100, output[-3000:]
    print(output[-1500:])  # the summary, for the log (pytest -rP)
