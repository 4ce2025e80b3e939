"""System checks; each area registers its own by being imported here."""

from triage.classifier import checks as classifier_checks  # noqa: F401
