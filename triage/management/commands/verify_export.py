"""Verify an export folder or zip: re-hash every file against the signed manifest and
check the manifest's signature (needs this hub's SECRET_KEY). Exit 0 and "OK", or non-zero
naming the first problem."""

from django.core.management.base import BaseCommand, CommandError

from triage.exports.manifest import VerificationError, verify_export


class Command(BaseCommand):
    help = "Verify an export (folder or zip) against its signed manifest."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the export folder or its zip")

    def handle(self, *args, path, **options):
        try:
            manifest = verify_export(path)
        except VerificationError as exc:
            raise CommandError(f"FAILED: {exc}") from None
        case = manifest.get("case", {}).get("reference", "")
        files = len(manifest.get("files", []))
        self.stdout.write(f"OK: {files} files and the signature verify (case {case}).")
