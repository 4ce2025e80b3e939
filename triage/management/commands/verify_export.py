"""Verify an export folder or zip: re-hash every file against the signed manifest and
check the manifest's signature. One line per file (OK or FAIL); exit 0 when everything
verifies, 1 naming the first problem otherwise.

Without ``--public-key`` the signature is checked with this hub's keys (its SECRET_KEY:
the HMAC and the Ed25519 signature). With ``--public-key HEX`` (the agency's Ed25519
public key, as its exports page and every report show it) only the Ed25519 signature is
checked, with that key: what a court or a defence expert does, without the hub's secret."""

from django.core.management.base import BaseCommand, CommandError

from triage.exports.manifest import VerificationError, check_export


class Command(BaseCommand):
    help = "Verify an export (folder or zip) against its signed manifest."
    # Checking a copy of an export must not depend on this hub's health (its model
    # files, its database): no system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("path", help="the export folder or its zip")
        parser.add_argument(
            "--public-key",
            metavar="HEX",
            help="the agency's Ed25519 public key (64 hex digits): check the Ed25519 "
            "signature with it alone, without this hub's SECRET_KEY",
        )

    def handle(self, *args, path, public_key=None, **options):
        try:
            result = check_export(path, public_key=public_key)
        except VerificationError as exc:
            raise CommandError(f"FAILED: {exc}") from None
        width = max(len(c.name) for c in result.checks)
        for check in result.checks:
            verdict = "OK  " if check.ok else "FAIL"
            line = f"{verdict}  {check.name:<{width}}  {check.detail}"
            self.stdout.write(self.style.SUCCESS(line) if check.ok else self.style.ERROR(line))
        problems = result.problems
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CommandError(f"FAILED: {problems[0]}{more}")
        case = (result.manifest.get("case") or {}).get("reference", "")
        files = len(result.checks) - 1
        self.stdout.write(f"OK: {files} files and the signature verify (case {case}).")
