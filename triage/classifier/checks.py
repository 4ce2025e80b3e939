"""System checks of the classifier area: every enabled model's file must exist and have
the SHA-256 it was registered with, or the process refuses to start (rule 5 of STYLE).

Hashes are cached by the file's identity and times (see ``runtime.cached_sha256``), so
the many processes of a deployment do not each re-read every model on start-up."""

from __future__ import annotations

from django.core.checks import Error, register
from django.db import DatabaseError


@register("classifier")
def check_model_files(app_configs=None, **kwargs):
    from triage.classifier.registry import model_file
    from triage.classifier.runtime import cached_sha256
    from triage.models import ClassifierModel

    errors = []
    try:
        models = list(ClassifierModel.objects.filter(is_enabled=True))
    except DatabaseError:
        return []  # no tables yet (before migrate): nothing is registered
    for model in models:
        path = model_file(model)
        if not path.is_file():
            errors.append(
                Error(
                    f"Classifier model {model.name} v{model.version}: file {path} is missing.",
                    hint="Restore the file, or disable the model on the Models page.",
                    obj=f"ClassifierModel {model.uuid}",
                    id="triage.E301",
                )
            )
            continue
        actual = cached_sha256(path)
        if actual != model.sha256:
            errors.append(
                Error(
                    f"Classifier model {model.name} v{model.version}: file {path} has SHA-256 "
                    f"{actual}, registered {model.sha256}.",
                    hint="The file was replaced or corrupted; restore the vetted file.",
                    obj=f"ClassifierModel {model.uuid}",
                    id="triage.E302",
                )
            )
    return errors
