"""Routes of the classifier area (model list, register, toggle, calibration)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.routes import Route


def build(world) -> None:
    from tests import onnx_models
    from triage.classifier.registry import model_register

    folder = Path(tempfile.mkdtemp(prefix="route-model-"))
    manifest, onnx_path, _ = onnx_models.write_model_dir(folder, name="other-force-model")
    world.classifier_model = model_register(
        manifest_text=manifest.read_bytes(),
        onnx_file=onnx_path,
        agency=world.agency,
        actor=world.admin,
    )


def _model(world):
    return {"model": world.classifier_model.uuid}


ROUTES = {
    "triage:model_list": Route(
        role="admin",
        methods=("GET",),
        notes="A hub operator without an agency sees and manages hub-wide models only.",
    ),
    "triage:model_register": Route(
        role="admin", notes="A hub operator without an agency registers hub-wide models."
    ),
    "triage:model_toggle": Route(kwargs=_model, role="admin", methods=("POST",)),
    "triage:model_calibration": Route(
        kwargs=_model,
        role="admin",
        notes="Per agency: a hub operator without an agency is redirected to home.",
    ),
}

# The hub operator (no agency) manages hub-wide models on these pages (calibration is
# per agency: he is redirected home there); an Other Force
# model in the URL still answers him 404.
OPERATOR_ALLOWED = {
    "triage:model_list",
    "triage:model_register",
    "triage:model_toggle",
}
