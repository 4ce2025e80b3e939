"""Register the shipped models (settings.HUB_MODELS_DIR/*/manifest.toml) as hub-wide
models. Idempotent; exits non-zero when a shipped model could not be registered."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from triage.classifier.registry import sync_shipped_models


class Command(BaseCommand):
    help = "Register the shipped classifier models (models/*/manifest.toml)."

    def handle(self, *args, **options):
        result = sync_shipped_models()
        for model in result.created:
            self.stdout.write(f"registered {model.name} v{model.version} ({model.sha256})")
        for model in result.unchanged:
            self.stdout.write(f"already registered {model.name} v{model.version}")
        if result.errors:
            raise CommandError("\n".join(result.errors))
