"""classify_items: tiny brightness models make the expected scores computable by hand."""

from __future__ import annotations

import pytest

from hub.models import Agency
from tests import onnx_models
from tests.classifier.conftest import gradient, solid
from triage.classifier import runtime
from triage.classifier.registry import model_set_enabled
from triage.classifier.service import classify_items
from triage.models import ClassifierModel, ClassifierScore, EvidenceItem, KnownState

pytestmark = pytest.mark.django_db


def fresh(item) -> EvidenceItem:
    return EvidenceItem.objects.get(pk=item.pk)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_bright_scores_high_and_dark_low(evidence, tiny_model, demo_agency, layout):
    model = tiny_model(agency=demo_agency, layout=layout)
    white, black, grey = (
        evidence.image(solid(255)),
        evidence.image(solid(0)),
        evidence.image(solid(51)),
    )

    classify_items([white, black, grey])

    assert fresh(white).classifier_score == pytest.approx(1.0, abs=1e-6)
    assert fresh(black).classifier_score == pytest.approx(0.0, abs=1e-6)
    assert fresh(grey).classifier_score == pytest.approx(0.2, abs=1e-6)
    score = ClassifierScore.objects.get(item=grey, model=model)
    assert (score.model_name, score.model_version, score.model_sha256) == (
        model.name,
        model.version,
        model.sha256,
    )
    assert score.label_scores == pytest.approx({"dark": 0.8, "bright": 0.2}, abs=1e-6)
    assert score.frame_timestamp is None


def test_rerun_is_idempotent_and_rescore_updates_in_place(evidence, tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    item = evidence.image(solid(102))
    classify_items([item])
    first = ClassifierScore.objects.get(item=item, model=model)
    classify_items([fresh(item)])
    classify_items([fresh(item)], rescore=True)
    assert ClassifierScore.objects.filter(item=item).count() == 1
    again = ClassifierScore.objects.get(item=item, model=model)
    assert again.pk == first.pk
    assert again.score == pytest.approx(0.4, abs=1e-6)


def test_max_over_models_uses_priority_label(evidence, tiny_model, demo_agency):
    tiny_model(agency=demo_agency)  # priority "bright": scores m
    dark = tiny_model(agency=demo_agency, priority_label="dark")  # scores 1 - m
    item = evidence.image(solid(51))
    classify_items([item])
    assert ClassifierScore.objects.get(item=item, model=dark).score == pytest.approx(0.8, abs=1e-6)
    assert fresh(item).classifier_score == pytest.approx(0.8, abs=1e-6)


def test_softmax_flag_turns_logits_into_probabilities(evidence, tiny_model, demo_agency):
    tiny_model(agency=demo_agency, model=onnx_models.brightness(variant="logits"), softmax=True)
    item = evidence.image(solid(255))  # logits [-20, 20]
    classify_items([item])
    assert fresh(item).classifier_score == pytest.approx(1.0, abs=1e-6)
    assert fresh(item).classifier_score <= 1.0


def test_disabled_for_agency_is_not_run_and_other_agency_model_never(
    evidence, other_evidence, tiny_model, demo_agency, other_agency, alice
):
    ours = tiny_model(agency=demo_agency)
    theirs = tiny_model(agency=other_agency)
    item = evidence.image(solid(255))
    classify_items([item])
    assert set(ClassifierScore.objects.filter(item=item).values_list("model", flat=True)) == {
        ours.pk
    }

    model_set_enabled(model=ours, agency=demo_agency, enabled=False, actor=alice)
    item2 = evidence.image(solid(200))
    classify_items([item2])
    assert not ClassifierScore.objects.filter(item=item2).exists()
    assert fresh(item2).classifier_score is None

    # Disabling in Demo Police does not affect Other Force's own model.
    other_item = other_evidence.image(solid(255))
    classify_items([other_item])
    assert ClassifierScore.objects.filter(item=other_item, model=theirs).exists()


def test_hub_model_disabled_hub_wide_stops_everywhere(evidence, tiny_model, demo_agency, hugo):
    hub_model = tiny_model(agency=None)
    model_set_enabled(model=hub_model, agency=None, enabled=False, actor=hugo)
    item = evidence.image(solid(255))
    classify_items([item])
    assert not ClassifierScore.objects.filter(item=item).exists()


def test_exact_known_match_is_skipped_per_policy(evidence, tiny_model, demo_agency):
    tiny_model(agency=demo_agency)
    known = evidence.image(solid(255), known_state=KnownState.EXACT)
    near = evidence.image(solid(254), known_state=KnownState.NEAR)
    classify_items([known, near])
    assert fresh(known).classifier_score is None
    assert fresh(near).classifier_score is not None

    demo_agency.settings = {"skip_classifier_on_exact_match": False}
    demo_agency.save()
    known = EvidenceItem.objects.select_related("agency").get(pk=known.pk)
    classify_items([known])
    assert fresh(known).classifier_score == pytest.approx(1.0, abs=1e-6)


def test_video_keeps_max_frame_with_timestamp(evidence, tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    frames = [solid(20, (64, 48)), solid(230, (64, 48)), solid(60, (64, 48))]
    video = evidence.video(frames, fps=2.0)
    classify_items([video])
    score = ClassifierScore.objects.get(item=video, model=model)
    assert score.frame_timestamp == pytest.approx(0.5)
    assert score.score == pytest.approx(230 / 255, abs=0.02)  # MJPEG is lossy
    assert fresh(video).classifier_score == pytest.approx(score.score)


def test_batches_of_hub_inference_batch(evidence, tiny_model, demo_agency, settings, monkeypatch):
    settings.HUB_INFERENCE_BATCH = 2
    tiny_model(agency=demo_agency)
    items = [evidence.image(solid(v)) for v in (10, 60, 110, 160, 210)]
    sizes = []
    real_run = runtime.ModelRunner.run

    def spy(self, tensors):
        sizes.append(len(tensors))
        return real_run(self, tensors)

    monkeypatch.setattr(runtime.ModelRunner, "run", spy)
    classify_items(items)
    assert sizes == [2, 2, 1]
    for item, v in zip(items, (10, 60, 110, 160, 210), strict=True):
        assert fresh(item).classifier_score == pytest.approx(v / 255, abs=1e-5)


def test_one_session_per_process_per_model(evidence, tiny_model, demo_agency, monkeypatch):
    tiny_model(agency=demo_agency)
    built = []
    real_build = runtime.build_session
    monkeypatch.setattr(
        runtime, "build_session", lambda *a, **k: built.append(a) or real_build(*a, **k)
    )
    classify_items([evidence.image(solid(1))])
    classify_items([evidence.image(solid(2))])
    classify_items([evidence.image(gradient())])
    assert len(built) == 1


def test_session_refuses_a_replaced_file(evidence, tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    runtime.clear_sessions()
    with open(model.onnx_path, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(runtime.ModelFileError, match="SHA-256"):
        classify_items([evidence.image(solid(3))])


def test_undecodable_item_is_left_unscored(evidence, tiny_model, demo_agency):
    tiny_model(agency=demo_agency)
    broken = evidence.image(None, data=b"\x89PNG\r\n\x1a\n not really")
    good = evidence.image(solid(255))
    classify_items([broken, good])
    assert fresh(broken).classifier_score is None
    assert fresh(good).classifier_score == pytest.approx(1.0, abs=1e-6)


def test_oversized_image_is_not_decoded(evidence, tiny_model, demo_agency, settings):
    tiny_model(agency=demo_agency)
    settings.HUB_MAX_IMAGE_PIXELS = 100
    item = evidence.image(solid(255, (20, 20)))
    classify_items([item])
    assert fresh(item).classifier_score is None


def test_no_models_syncs_the_shipped_ones(evidence, settings, tmp_path):
    settings.HUB_MODELS_DIR = tmp_path / "shipped"
    onnx_models.write_model_dir(tmp_path / "shipped" / "bright", name="shipped-bright")
    assert not ClassifierModel.objects.exists()
    item = evidence.image(solid(255))
    classify_items([item])
    assert ClassifierModel.objects.get().agency is None
    assert fresh(item).classifier_score == pytest.approx(1.0, abs=1e-6)


def test_items_of_two_agencies_in_one_call(evidence, other_evidence, tiny_model, demo_agency):
    tiny_model(agency=demo_agency)
    mine, theirs = evidence.image(solid(255)), other_evidence.image(solid(255))
    classify_items([mine, theirs])
    assert fresh(mine).classifier_score is not None
    assert fresh(theirs).classifier_score is None  # Other Force has no model
    assert Agency.objects.count() == 2


def test_task_is_named_and_routed_to_inference(evidence, tiny_model, demo_agency):
    from hub.celery import app
    from triage.classifier.tasks import classify_chunk

    assert classify_chunk.name == "triage.classify.chunk"
    assert "triage.classify.chunk" in app.tasks
    route = app.amqp.router.route({}, "triage.classify.chunk", args=([1],), kwargs={})
    assert route["queue"].name == "inference"
    assert app.amqp.router.route({}, "triage.classify.sync_models")["queue"].name == "inference"

    tiny_model(agency=demo_agency)
    item = evidence.image(solid(255))
    classify_chunk.delay([item.pk])  # eager in tests; JSON-serialisable ids only
    assert fresh(item).classifier_score == pytest.approx(1.0, abs=1e-6)
