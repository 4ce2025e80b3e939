"""Classifier service (owned by the classifier area).

CONTRACT used by the pipeline's Classify stage (which runs on the "inference" queue):
    classify_items(items: list[EvidenceItem]) -> None
Scores image items (and video keyframes, keeping the max) with every model enabled for
the item's agency, in batches; stores one ClassifierScore per (item, model) idempotently
and sets item.classifier_score (max over models, saved).

Each original is decoded once and preprocessed for every model; tensors of all items of
the call are batched per model (HUB_INFERENCE_BATCH). An item that cannot be decoded here
is left unscored (logged): the Decode stage before this one owns decode failures.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from PIL import Image

from hub.policy import policy_for
from triage.classifier.preprocess import preprocess_image
from triage.classifier.registry import (
    manifest_of,
    model_file,
    models_enabled_for,
    sync_shipped_models,
)
from triage.classifier.runtime import Batcher, Unit, runner_for
from triage.models import ClassifierModel, ClassifierScore, EvidenceItem, KnownState, MediaKind

log = logging.getLogger(__name__)

MAX_VIDEO_FRAMES = 600


class DecodeError(Exception):
    pass


def _open_image(path: Path) -> Image.Image:
    """The Media stage's bounded decode: the header's size is checked against
    HUB_MAX_IMAGE_PIXELS before any pixel is decoded, and the image is decoded shrunk
    (short side about 512, JPEG by DCT scaling) before any colour conversion, so a
    100-megapixel image never becomes a full-size RGB copy. The model's own resize to
    its input size follows."""
    from triage.media import MediaError, decode, pdq, sniff

    try:
        with open(path, "rb") as fp:
            fmt = sniff.sniff_file(path).pillow_format
            if not fmt:
                raise DecodeError("not a decodable image")
            im = decode.open_image(fp, fmt, settings.HUB_MAX_IMAGE_PIXELS)
            return pdq.prepare(im)
    except MediaError as exc:
        raise DecodeError(str(exc)) from None
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise DecodeError(str(exc)) from None


def _video_frames(item: EvidenceItem, path: Path) -> Iterator[tuple[float, Image.Image]]:
    """The item's sampled keyframes (VideoFrame timestamps), read from the original."""
    import cv2

    from triage.media import video

    timestamps = list(item.frames.order_by("index").values_list("timestamp", flat=True))
    if not timestamps:
        timestamps = [0.0]
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DecodeError("OpenCV cannot open the video")
    try:
        for ts in timestamps[:MAX_VIDEO_FRAMES]:
            capture.set(cv2.CAP_PROP_POS_MSEC, float(ts) * 1000.0)
            ok, frame = capture.read()
            if not ok or frame is None:
                continue
            h, w = frame.shape[:2]
            if h * w > min(settings.HUB_MAX_IMAGE_PIXELS, video.MAX_VIDEO_PIXELS):
                raise DecodeError(f"frame {w}x{h} exceeds the video frame pixel limit")
            yield float(ts), video.bounded_rgb_from_bgr(frame)
    finally:
        capture.release()


def _frames_of(item: EvidenceItem) -> Iterator[tuple[float | None, Image.Image]]:
    path = Path(settings.EVIDENCE_ROOT) / item.blob.storage_path
    if item.media_kind == MediaKind.VIDEO:
        yield from _video_frames(item, path)
    else:
        yield None, _open_image(path)


def _should_score(item: EvidenceItem, skip_exact: dict) -> bool:
    if item.blob_id is None or item.media_kind not in (MediaKind.IMAGE, MediaKind.VIDEO):
        return False
    return not (item.known_state == KnownState.EXACT and skip_exact[item.agency_id])


def classify_items(items: list[EvidenceItem], *, rescore: bool = False) -> None:
    """Score ``items`` with every model enabled for their agency (see the module doc).

    Idempotent: a (item, model) pair already scored with the same model file is not
    recomputed unless ``rescore``; its row is updated, never duplicated."""
    if not items:
        return
    if not ClassifierModel.objects.exists():
        sync_shipped_models()

    by_agency: dict[int, list[EvidenceItem]] = defaultdict(list)
    agencies = {}
    for item in items:
        by_agency[item.agency_id].append(item)
        agencies[item.agency_id] = item.agency
    skip_exact = {
        aid: policy_for(agency).skip_classifier_on_exact_match for aid, agency in agencies.items()
    }
    for agency_id, agency_items in by_agency.items():
        _classify_agency(agencies[agency_id], agency_items, skip_exact, rescore)


def _classify_agency(agency, items: list[EvidenceItem], skip_exact: dict, rescore: bool) -> None:
    models = models_enabled_for(agency)
    candidates = [item for item in items if _should_score(item, skip_exact)]
    if not models or not candidates:
        return

    done: set[tuple[int, int]] = set()
    if not rescore:
        done = {
            (item_id, model_id)
            for item_id, model_id, sha in ClassifierScore.objects.filter(
                item__in=candidates, model__in=models
            ).values_list("item_id", "model_id", "model_sha256")
            if sha == next(m.sha256 for m in models if m.pk == model_id)
        }

    batchers: dict[int, Batcher] = {}
    specs = {}
    for model in models:
        manifest = manifest_of(model)
        specs[model.pk] = manifest.input
        batchers[model.pk] = Batcher(runner_for(model_file(model), model.sha256, manifest))

    for item in candidates:
        todo = [m for m in models if (item.pk, m.pk) not in done]
        if not todo:
            continue
        try:
            for timestamp, image in _frames_of(item):
                for model in todo:
                    tensor = preprocess_image(image, specs[model.pk])
                    batchers[model.pk].add(Unit(item.pk, timestamp), tensor)
        except DecodeError as exc:
            log.warning("item %s not classified: %s", item.uuid, exc)

    # Max over the frames of each item, per model, with the frame's timestamp.
    best: dict[tuple[int, int], tuple[float, float | None, np.ndarray]] = {}
    for model in models:
        priority_index = manifest_of(model).output.priority_index
        for unit, scores in batchers[model.pk].scored():
            key = (unit.item_id, model.pk)
            value = float(scores[priority_index])
            if not np.isfinite(value):
                log.warning("model %s returned a non-finite score; ignored", model)
                continue
            if key not in best or value > best[key][0]:
                best[key] = (value, unit.timestamp, scores)

    with transaction.atomic():
        for (item_id, model_id), (value, timestamp, scores) in best.items():
            model = next(m for m in models if m.pk == model_id)
            labels = manifest_of(model).output.labels
            ClassifierScore.objects.update_or_create(
                item_id=item_id,
                model=model,
                defaults={
                    "model_name": model.name,
                    "model_version": model.version,
                    "model_sha256": model.sha256,
                    "score": value,
                    "label_scores": {
                        label: float(s) for label, s in zip(labels, scores, strict=True)
                    },
                    "frame_timestamp": timestamp,
                },
            )
        maxima = dict(
            ClassifierScore.objects.filter(item__in=candidates, model__in=models)
            .values("item_id")
            .annotate(m=Max("score"))
            .values_list("item_id", "m")
        )
        for item in candidates:
            if item.pk in maxima and item.classifier_score != maxima[item.pk]:
                item.classifier_score = maxima[item.pk]
                EvidenceItem.objects.filter(pk=item.pk).update(
                    classifier_score=item.classifier_score
                )
