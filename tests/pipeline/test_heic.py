"""HEIC/HEIF stills (written with pillow-heif from generated patterns): sniffed by their
``ftyp`` brand, decoded through the same bounded path as other images, hashed with PDQ and
given thumbnails; damaged ones fail with a reason; MP4s stay videos."""

from __future__ import annotations

import pytest

from tests import images
from triage.media import analyse, hash_file, pdq, sniff
from triage.media.errors import MediaDamaged, MediaRefused
from triage.models import Derivative, EvidenceBatch, ItemStatus


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\0\0\0\x08free"


@pytest.mark.parametrize(
    ("head", "media_type", "kind"),
    [
        (ftyp(b"heic", b"mif1", b"heic"), "image/heic", "image"),
        (ftyp(b"heix", b"mif1", b"heix"), "image/heic", "image"),
        (ftyp(b"hevc", b"msf1", b"hevc"), "image/heic", "image"),
        (ftyp(b"hevx", b"msf1"), "image/heic", "image"),
        (ftyp(b"heim", b"mif1"), "image/heic", "image"),
        (ftyp(b"heis", b"mif1"), "image/heic", "image"),
        (ftyp(b"mif1", b"mif1", b"heic"), "image/heic", "image"),
        (ftyp(b"mif1", b"mif1", b"miaf"), "image/heif", "image"),
        (ftyp(b"msf1", b"msf1"), "image/heif", "image"),
        # AVIF is not decoded (no AV1 decoder in pillow-heif's libheif): not an image here.
        (ftyp(b"avif", b"mif1", b"avif"), "image/avif", "other"),
        (ftyp(b"mif1", b"mif1", b"avif"), "image/avif", "other"),
        # Video brands stay video, even when a compatible brand looks like HEIF.
        (ftyp(b"isom", b"isom", b"iso2", b"mp41"), "video/mp4", "video"),
        (ftyp(b"mp42", b"mp42", b"isom"), "video/mp4", "video"),
        (ftyp(b"mp42", b"mp42", b"mif1"), "video/mp4", "video"),
        (ftyp(b"qt  ", b"qt  "), "video/quicktime", "video"),
    ],
)
def test_sniff_heif_brands(head, media_type, kind):
    result = sniff.sniff_bytes(head)
    assert (result.media_type, result.kind) == (media_type, kind)
    if kind == "image":
        assert result.pillow_format == "HEIF"


def test_allow_list_names_heic_and_heif():
    assert sniff.IMAGE_FORMATS["image/heic"] == "HEIF"
    assert sniff.IMAGE_FORMATS["image/heif"] == "HEIF"


def test_a_generated_heic_is_sniffed_and_hashed_like_its_png(tmp_path):
    heic = images.make_heic(tmp_path / "photo.jpg", seed=3)  # the name is never trusted
    png = images.make_png(tmp_path / "photo.png", seed=3)
    assert heic.read_bytes()[4:12] == b"ftypheic"
    assert sniff.sniff_file(heic).media_type == "image/heic"

    got, ref = hash_file(heic), hash_file(png)
    assert "error" not in got
    assert got["media_type"] == "image/heic" and got["media_kind"] == "image"
    assert (got["width"], got["height"]) == (640, 480)
    assert got["pdq_quality"] >= pdq.QUALITY_MIN
    assert pdq.hamming_hex(got["pdq"], ref["pdq"]) <= 10
    assert len(got["pdq_dihedral"]) == 8


def test_a_large_heic_is_hashed_near_its_full_resolution_png(tmp_path):
    heic = images.make_heic(tmp_path / "big.heic", seed=8, size=(1600, 1200))
    png = images.make_png(tmp_path / "big.png", seed=8, size=(1600, 1200))
    got, ref = hash_file(heic), hash_file(png)
    assert pdq.hamming_hex(got["pdq"], ref["pdq"]) <= 10


def test_heic_over_the_pixel_limit_is_refused_from_the_header(tmp_path):
    heic = images.make_heic(tmp_path / "a.heic", seed=1, size=(320, 240))
    with pytest.raises(MediaRefused, match="decompression bomb"):
        analyse(heic, max_pixels=320 * 240 - 1)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_heic_is_damaged(tmp_path, fraction):
    data = images.make_heic(tmp_path / "a.heic", seed=2).read_bytes()
    cut = tmp_path / "cut.heic"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MediaDamaged, match="damaged|truncated|could not be read"):
        analyse(cut)
    out = hash_file(cut)
    assert out["media_type"] == "image/heic" and out["pdq"] is None and out["error"]


def test_mp4_is_still_a_video(tmp_path):
    mp4 = images.make_video(tmp_path / "clip.mp4", seconds=1, fps=5)
    sniffed = sniff.sniff_file(mp4)
    assert (sniffed.media_type, sniffed.kind) == ("video/mp4", "video")


# --- through the pipeline ------------------------------------------------------------


def test_heic_goes_through_the_pipeline_with_thumbnails(add, process, files):
    item = add(images.make_heic(files / "IMG_0001.HEIC", seed=4))
    process()
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE, item.failure_reason
    assert item.media_type == "image/heic"
    assert item.pdq and item.pdq_quality >= pdq.QUALITY_MIN
    kinds = set(Derivative.objects.filter(item=item).values_list("kind", flat=True))
    assert {"thumb", "blurred"} <= kinds


def test_truncated_heic_fails_with_a_readable_reason(add, process, files):
    data = images.make_heic(files / "whole.heic", seed=6).read_bytes()
    cut = files / "cut.heic"
    cut.write_bytes(data[: len(data) // 2])
    item = add(cut)
    batch = process()
    item.refresh_from_db()
    assert batch.status == EvidenceBatch.Status.COMPLETE
    assert item.status == ItemStatus.FAILED
    assert item.media_type == "image/heic"  # sniffed, kept with the failure
    reason = item.failure_reason.lower()
    assert "damaged" in reason or "truncated" in reason, item.failure_reason
    assert not item.error_traceback
