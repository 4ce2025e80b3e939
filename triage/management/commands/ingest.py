"""Ingest files, folders (recursively) and archives into a new batch of a case.

Without --wait the batch is queued for the workers. With --wait the command processes the
batch itself (inline, the same stage functions) when no worker answers a ping or when the
tasks run eagerly, and otherwise waits for the workers; then it prints a JSON summary."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hub.models import Agency, User
from triage.models import Case
from triage.services.intake import (
    IntakeRejected,
    batch_add_file,
    batch_create,
    batch_progress,
    batch_submit,
    case_create,
    process_batch_now,
)


def _files(paths: list[Path]):
    """(file, provenance path) pairs: a folder keeps its own name as the first part."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
                yield child, f"{path.name}/{child.relative_to(path).as_posix()}"
        elif path.is_file():
            yield path, path.name
        else:
            raise CommandError(f"{path} is neither a file nor a folder")


def _bar(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r{label:10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stderr.flush()


def _worker_available() -> bool:
    from hub.celery import app

    if app.conf.task_always_eager or app.conf.get("CELERY_TASK_ALWAYS_EAGER"):
        return False
    try:
        return bool(app.control.ping(timeout=1.0))
    except Exception:  # the filesystem transport cannot broadcast: treat as no worker
        return False


class Command(BaseCommand):
    help = "Add files, folders and archives to a new batch of a case and process them."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", type=Path)
        parser.add_argument("--agency", required=True, help="Agency slug.")
        parser.add_argument("--case", required=True, help="Case reference (created if new).")
        parser.add_argument("--user", help="Username recorded as the uploader.")
        parser.add_argument("--exhibit", default="", help="Exhibit reference.")
        parser.add_argument("--wait", action="store_true", help="Wait for the result.")
        parser.add_argument(
            "--inline", action="store_true", help="With --wait: process here, even with workers."
        )

    def handle(self, *args, **options):
        agency = Agency.objects.filter(slug=options["agency"]).first()
        if agency is None:
            raise CommandError(f"No agency {options['agency']!r}")
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"], memberships__agency=agency).first()
            if user is None:
                raise CommandError(f"{options['user']!r} is not a member of {agency.slug}")
        case = Case.objects.filter(agency=agency, reference=options["case"]).first()
        if case is None:
            case = case_create(
                agency=agency, user=user, reference=options["case"], title=options["case"]
            )
        files = list(_files(options["paths"]))
        batch = batch_create(case=case, user=user, exhibit_ref=options["exhibit"], source="cli")
        rejected = []
        for n, (path, relative) in enumerate(files, 1):
            try:
                batch_add_file(batch=batch, src_path=path, name=path.name, relative_path=relative)
            except IntakeRejected as exc:
                rejected.append({"path": relative, "reason": str(exc)})
            _bar(n, len(files), "stored")
        sys.stderr.write("\n")
        if not options["wait"]:
            batch_submit(batch=batch, user=user)
            self.stdout.write(f"Batch {batch.uuid} queued: {len(files) - len(rejected)} files.")
            return
        if options["inline"] or not _worker_available():
            sys.stderr.write("processing inline (no worker answered)\n")
            process_batch_now(batch, user=user)
        else:
            batch_submit(batch=batch, user=user)
            while not (progress := batch_progress(batch))["is_complete"]:
                _bar(progress["found"] - progress["pending"], progress["found"], "processed")
                time.sleep(0.5)
            sys.stderr.write("\n")
        progress = batch_progress(batch)
        summary = {
            "batch": str(batch.uuid),
            "case": case.reference,
            "rejected": rejected,
            **{k: v for k, v in progress.items() if k != "percent"},
        }
        self.stdout.write(json.dumps(summary, default=str))
