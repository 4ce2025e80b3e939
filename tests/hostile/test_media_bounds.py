"""The bounds behind the corpus, one by one: images are shrunk before any colour conversion
(palette, 1-bit and 16-bit ones too, which used to error), video frames are shrunk before
conversion and capped in size, animations are sampled within a pixel budget, markup and
polyglots are recognised, and the big refusals allocate nothing."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
from PIL import Image

from tests import images
from tests.hostile import corpus
from tests.hostile.checks import peak_rss_mb, reset_peak, rss_mb
from triage import archives
from triage.media import MediaRefused, analyse, decode, pdq, sniff, video


@functools.cache
def _rgb(size) -> Image.Image:
    return Image.fromarray(images.pattern(5, size))


def _in_mode(rgb: Image.Image, mode: str) -> Image.Image:
    if mode == "I;16":
        gray = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
        return Image.frombytes("I;16", rgb.size, gray.astype("<u2").tobytes())
    if mode == "1":
        return rgb.convert("1")
    im = rgb.quantize(64, method=Image.Quantize.FASTOCTREE)
    if mode == "P-transparent":
        im.info["transparency"] = 3
    return im.convert("PA") if mode == "PA" else im


@pytest.mark.parametrize("mode", ["P", "P-transparent", "PA", "1", "I;16"])
def test_strip_reduction_equals_converting_the_whole_image_first(mode, monkeypatch):
    monkeypatch.setattr(decode, "STRIP_ROWS", 20)  # many strips, some not a multiple
    im = _in_mode(_rgb((437, 181)), mode)
    work = {"P": "RGB", "P-transparent": "RGBA", "PA": "RGBA", "1": "L", "I;16": "I"}[mode]
    whole = im.convert(work)
    for factor in (2, 3, 7):
        assert decode.reduce_by(im, factor).tobytes() == whole.reduce(factor).tobytes()


@pytest.mark.parametrize("mode", ["P", "1", "I;16"])
def test_large_palette_bilevel_and_16_bit_images_are_hashed(tmp_path, mode):
    # Image.reduce refuses these modes: before the strip reduction, any such image with a
    # short side >= 1024 ended "errored" with a ValueError.
    rgb = _rgb((1100, 1030))
    path = tmp_path / "m.png"
    _in_mode(rgb, mode).save(path)
    result = analyse(path)
    assert (result.width, result.height) == rgb.size and len(result.pdq) == 64
    assert result.preview.size == (550, 515)  # hashed from the reduced image
    if mode != "1":
        rgb.save(tmp_path / "rgb.png")
        assert pdq.hamming_hex(result.pdq, analyse(tmp_path / "rgb.png").pdq) <= 31


def test_video_keyframes_are_shrunk_exactly_as_before_without_a_full_size_copy():
    bgr = np.ascontiguousarray(images.pattern(3, (1301, 1097))[..., ::-1])
    expected = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).reduce(2)
    assert video.bounded_rgb_from_bgr(bgr).tobytes() == expected.tobytes()


def test_video_frames_over_the_video_limit_are_refused(tmp_path, monkeypatch):
    path = images.make_video(tmp_path / "v.avi", seconds=1, fps=10, codec="MJPG")
    monkeypatch.setattr(video, "MAX_VIDEO_PIXELS", 160 * 120 - 1)
    with pytest.raises(MediaRefused, match="for a video frame"):
        analyse(path)


def test_an_animation_is_sampled_within_its_pixel_budget(tmp_path, monkeypatch):
    gif = images.make_gif(tmp_path / "a.gif", seed=2, frames=8, ms=500)  # a cut every frame
    assert len(analyse(gif).frames) == 8
    monkeypatch.setattr(video, "MAX_ANIMATION_PIXELS", 160 * 120 * 3)
    assert [f.timestamp for f in analyse(gif).frames] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    ("head", "label"),
    [
        (b"\xef\xbb\xbf  <?xml version='1.0'?>\n<svg xmlns='x'>", "SVG"),
        (b"<svg width='1'>", "SVG"),
        (b"\n<!DOCTYPE html><html>", "HTML"),
        (b"<!-- c --><html><body>", "HTML"),
        (b"<script>x=1</script>", "HTML"),
        (b"<?xml version='1.0'?><note/>", "XML"),
    ],
)
def test_markup_is_named_and_never_decoded(head, label):
    result = sniff.sniff_bytes(head)
    assert result.kind == "other" and label in result.label


def test_concealed_content_is_found_without_false_alarms(tmp_path):
    clean = [
        images.make_jpeg(tmp_path / "a.jpg", seed=1),
        images.make_png(tmp_path / "a.png", seed=1),
        images.make_gif(tmp_path / "a.gif", seed=1),
        images.make_video(tmp_path / "a.mp4", seconds=1),
        images.make_webp(tmp_path / "a.webp", seed=1),
    ]
    padded = tmp_path / "padded.png"
    padded.write_bytes(clean[1].read_bytes() + bytes(64))
    for path in [*clean, padded]:
        assert sniff.concealed(path, sniff.sniff_file(path)) == "", path
    png_text = tmp_path / "text.png"
    png_text.write_bytes(clean[1].read_bytes() + b"<script>var inert=1</script>")
    found = {
        "png": sniff.concealed(png_text, sniff.sniff_file(png_text)),
        "jpeg": sniff.concealed(*_sniffed(corpus.jpeg_zip_polyglot(tmp_path / "p.jpg"))),
        "gif": sniff.concealed(*_sniffed(corpus.gif_js_polyglot(tmp_path / "p.gif"))),
    }
    assert "end of the PNG image" in found["png"]
    assert "zip archive of 1 file" in found["jpeg"]
    assert "end of the GIF image" in found["gif"]


def _sniffed(path):
    return path, sniff.sniff_file(path)


def test_overlapping_and_shifted_zip_entries(tmp_path):
    limits = archives.Limits(10**9, 1000, 200)
    overlap = corpus.zip_overlapping(tmp_path / "o.zip", entries=3)
    with pytest.raises(archives.ArchiveRefused, match="overlapping entries"):
        list(archives.iter_members(overlap, "application/zip", limits))
    # A zip after other data (a self-extractor, a polyglot) is not an overlap.
    plain = images.make_zip(tmp_path / "plain.zip", {"a.txt": b"a", "b.txt": b"b"})
    shifted = tmp_path / "shifted.zip"
    shifted.write_bytes(b"MZ" + bytes(1000) + plain.read_bytes())
    members = archives.iter_members(shifted, "application/zip", limits)
    assert [m.name for m, _ in members] == ["a.txt", "b.txt"]


def test_compressed_zeros_are_not_taken_for_an_empty_tar(tmp_path):
    import gzip

    hidden = tmp_path / "hidden.gz"
    hidden.write_bytes(gzip.compress(bytes(4096) + b"what follows the zeros"))
    assert archives.detect(hidden, "application/gzip") == archives.SINGLE
    tgz = images.make_tar(tmp_path / "t.tar.gz", {"a.txt": b"a"}, "gz")
    assert archives.detect(tgz, "application/gzip") == archives.TAR


def test_printable_names():
    assert archives.printable("a\x1b[0m\n\r\x7f\x85\u202e\u2028\ufeff b") == (
        "a\\x1b[0m\\x0a\\x0d\\x7f\\x85\\u202e\\u2028\\ufeff b"
    )
    assert archives.printable(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"
    assert archives.printable("emoji \U0001f600 and ZWJ \u200d kept") == (
        "emoji \U0001f600 and ZWJ \u200d kept"
    )
    shown = archives.shown("x" * 4000)
    assert len(shown) < 160 and "(4,000 characters)" in shown


@pytest.mark.parametrize(
    ("build", "allowed_mb"),
    [
        (corpus.flat_png, 20),  # decoded, 20k×20k would cost 1.6 GB in Pillow
        (corpus.gif_bomb_header, 20),  # 65k×65k: 17 GB
        (corpus.gif_bomb_frame, 20),
        (corpus.avi_giant_frames, 120),  # FFmpeg decodes the first 49 MP grey frame to probe
    ],
)
def test_big_refusals_allocate_little(tmp_path, build, allowed_mb):
    path = build(tmp_path / build.__name__)
    if not reset_peak():
        pytest.skip("this kernel does not let a process reset its peak RSS")
    before = rss_mb()
    with pytest.raises(MediaRefused):
        analyse(path)
    assert peak_rss_mb() - before < allowed_mb
