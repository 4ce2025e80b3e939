"""Re-hash stored originals against their recorded SHA-256 (all agencies, or one).
Exits non-zero when any original changed or is missing, so cron and monitoring notice."""

from django.core.management.base import BaseCommand, CommandError

from hub.models import Agency
from triage.exports.fixity import fixity_sweep


class Command(BaseCommand):
    help = "Fixity check: re-hash stored originals and flag any that changed or are missing."

    def add_arguments(self, parser):
        parser.add_argument("--agency", metavar="SLUG", help="only this agency's originals")

    def handle(self, *args, agency=None, **options):
        target = None
        if agency:
            target = Agency.objects.filter(slug=agency).first()
            if target is None:
                raise CommandError(f"No agency with the slug {agency!r}.")
        report = fixity_sweep(agency=target)
        for failure in report.failures:
            detail = f" (now {failure.actual_sha256})" if failure.actual_sha256 else ""
            self.stderr.write(f"{failure.problem}: blob {failure.blob_id} {failure.sha256}{detail}")
        if report.failures:
            raise CommandError(
                f"{len(report.failures)} of {report.checked} stored originals failed fixity."
            )
        self.stdout.write(f"OK: {report.checked} stored originals checked.")
