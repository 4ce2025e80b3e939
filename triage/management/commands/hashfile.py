"""Print the hashes of files exactly as the pipeline computes them (triage.media.hash_file)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from triage.media import hash_file


class Command(BaseCommand):
    help = "Crypto hashes, media type, PDQ (and video keyframe PDQs) of files."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, *args, **options):
        failures = 0
        for path in options["paths"]:
            try:
                result = hash_file(path)
            except OSError as exc:
                failures += 1
                self.stderr.write(f"{path}: {exc.strerror or exc}")
                continue
            if options["json"]:
                self.stdout.write(json.dumps(result, sort_keys=False))
                continue
            self.stdout.write(f"{result['path']}")
            for key in ("media_type", "size", "md5", "sha1", "sha256", "pdq", "pdq_quality"):
                self.stdout.write(f"  {key:12} {result.get(key)}")
            for frame in result.get("keyframes", []):
                self.stdout.write(
                    f"  keyframe {frame['timestamp']:8.2f}s {frame['pdq']} q={frame['quality']}"
                )
            if result.get("error"):
                self.stdout.write(f"  error        {result['error']}")
        if failures:
            raise CommandError(f"{failures} file(s) could not be read")
