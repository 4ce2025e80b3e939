"""Register a classifier model from a manifest and an .onnx file (hub-wide, or for one
agency with --agency SLUG). The same validation as the browser upload; audited."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hub.models import Agency
from triage.classifier.manifest import ManifestError
from triage.classifier.registry import ModelRefused, model_register


class Command(BaseCommand):
    help = "Validate and register an ONNX classifier model (manifest format: models/README.md)."

    def add_arguments(self, parser):
        parser.add_argument("--manifest", required=True, type=Path, help="manifest.toml")
        parser.add_argument("--onnx", required=True, type=Path, help="the .onnx file")
        parser.add_argument("--agency", help="agency slug (omit for a hub-wide model)")

    def handle(self, *args, manifest: Path, onnx: Path, agency: str | None, **options):
        owner = None
        if agency:
            owner = Agency.objects.filter(slug=agency).first()
            if owner is None:
                raise CommandError(f"no agency with slug {agency!r}")
        if not manifest.is_file():
            raise CommandError(f"manifest {manifest} does not exist")
        if not onnx.is_file():
            raise CommandError(f"model file {onnx} does not exist")
        try:
            model = model_register(
                manifest_text=manifest.read_bytes(), onnx_file=onnx, agency=owner
            )
        except ManifestError as exc:
            raise CommandError(f"manifest refused: {'; '.join(exc.problems)}") from None
        except ModelRefused as exc:
            raise CommandError(f"model refused: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {model.name} v{model.version} for "
                f"{owner.name if owner else 'the whole hub'} (SHA-256 {model.sha256}, "
                f"uuid {model.uuid})"
            )
        )
