"""Sniffing, crypto hashes, bounded decoding, PDQ (drift and dihedrals), video keyframes
and thumbnails, on generated images only."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from tests import images
from triage.media import analyse, hash_file, pdq, sniff
from triage.media.errors import MediaDamaged, MediaRefused
from triage.media.hashing import crypto_hashes


def full_resolution_pdq(path) -> tuple[str, int]:
    """python-threatexchange's path: full Pillow decode to RGB, then pdqhash.compute."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    return pdq.pdq_full_resolution(rgb)


# --- sniffing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "media_type", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "image/jpeg", "image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "image/png", "image"),
        (b"GIF89a" + b"\0" * 20, "image/gif", "image"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp", "image"),
        (b"BM" + b"\0" * 40, "image/bmp", "image"),
        (b"II*\x00" + b"\0" * 20, "image/tiff", "image"),
        (b"\0\0\0\x18ftypisom" + b"\0" * 20, "video/mp4", "video"),
        (b"\0\0\0\x14ftypqt  " + b"\0" * 20, "video/quicktime", "video"),
        (b"RIFF\0\0\0\0AVI LIST", "video/x-msvideo", "video"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video/webm", "video"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska", "video/x-matroska", "video"),
        (b"PK\x03\x04" + b"\0" * 20, "application/zip", "archive"),
        (b"\x1f\x8b\x08" + b"\0" * 20, "application/gzip", "archive"),
        (b"%!PS-Adobe-3.0 EPSF", "application/postscript", "other"),
        (b"\x00\x01random", "application/octet-stream", "other"),
        (b"", "application/x-empty", "other"),
    ],
)
def test_sniff_by_magic_bytes(head, media_type, kind):
    result = sniff.sniff_bytes(head)
    assert (result.media_type, result.kind) == (media_type, kind)


def test_sniff_ignores_the_extension(tmp_path):
    png = images.make_png(tmp_path / "really-a-png.jpg", seed=1)
    tar = images.make_tar(tmp_path / "photos.jpg", {"a.txt": b"a"})
    assert sniff.sniff_file(png).media_type == "image/png"
    assert sniff.sniff_file(tar).media_type == "application/x-tar"


# --- crypto hashes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "md5", "sha1", "sha256"),
    [
        (
            b"",
            "d41d8cd98f00b204e9800998ecf8427e",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc",
            "900150983cd24fb0d6963f7d28e17f72",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
    ],
)
def test_known_hash_vectors(tmp_path, data, md5, sha1, sha256):
    path = tmp_path / "f"
    path.write_bytes(data)
    assert crypto_hashes(path) == {"md5": md5, "sha1": sha1, "sha256": sha256, "size": len(data)}


def test_streaming_hash_over_many_chunks(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, 3 * 1024 * 1024 + 17, np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    result = crypto_hashes(path)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["md5"] == hashlib.md5(data).hexdigest()
    assert result["size"] == len(data)


# --- PDQ -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "quality"), [((3000, 2000), 80), ((2400, 1800), 95), ((1000, 750), 85)]
)
def test_fast_pdq_stays_within_10_bits_of_full_resolution(tmp_path, size, quality):
    path = images.make_jpeg(
        tmp_path / "p.jpg", seed=sum(size) + quality, size=size, quality=quality
    )
    ours = analyse(path)
    reference, ref_quality = full_resolution_pdq(path)
    assert ours.pdq_quality >= 50 and ref_quality >= 50
    assert pdq.hamming_hex(ours.pdq, reference) <= 10
    assert len(ours.pdq_dihedral) == 8 and ours.pdq_dihedral[0] == ours.pdq


def test_fast_pdq_on_a_bundled_sample_photo(tmp_path):
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((2048, 2048), Image.Resampling.BICUBIC)
    path = tmp_path / "astronaut.jpg"
    photo.save(path, quality=90)
    ours = analyse(path)
    assert pdq.hamming_hex(ours.pdq, full_resolution_pdq(path)[0]) <= 10


@pytest.mark.parametrize(
    "transform",
    [
        lambda a: np.rot90(a, 1),
        lambda a: np.rot90(a, 2),
        lambda a: a[:, ::-1],
        lambda a: a.transpose(1, 0, 2),
    ],
    ids=["rot90", "rot180", "mirror", "transpose"],
)
def test_dihedral_hashes_find_a_rotated_or_mirrored_copy(tmp_path, transform):
    original = images.pattern(11, (800, 600))
    copy = np.ascontiguousarray(transform(original))
    a = tmp_path / "a.jpg"
    b = tmp_path / "b.jpg"
    Image.fromarray(original).save(a, quality=90)
    Image.fromarray(copy).save(b, quality=90)
    plain_a, _ = full_resolution_pdq(a)
    plain_b, _ = full_resolution_pdq(b)
    assert pdq.hamming_hex(plain_a, plain_b) > 31  # plain PDQ misses it ...
    ours_b = analyse(b).pdq
    best = min(pdq.hamming_hex(ours_b, h) for h in analyse(a).pdq_dihedral)
    assert best <= 31  # ... the dihedral hashes find it


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16"])
def test_every_mode_is_hashed_like_its_rgb_version(tmp_path, mode):
    rgb_path = images.make_png(tmp_path / "rgb.png", seed=21, size=(600, 400))
    path = images.make_png(
        tmp_path / f"{mode.replace(';', '')}.png", seed=21, size=(600, 400), mode=mode
    )
    assert Image.open(path).mode == mode
    result = analyse(path)
    assert len(result.pdq) == 64 and result.pdq_quality >= 50
    assert pdq.hamming_hex(result.pdq, analyse(rgb_path).pdq) <= 31


def test_cmyk_jpeg_and_other_formats(tmp_path):
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(images.pattern(4, (500, 400))).convert("CMYK").save(cmyk, quality=90)
    for path in (
        cmyk,
        images.make_webp(tmp_path / "w.webp", seed=4),
        images.make_bmp(tmp_path / "b.bmp", seed=4),
        images.make_tiff(tmp_path / "t.tiff", seed=4),
    ):
        result = analyse(path)
        assert len(result.pdq) == 64, path


def test_exif_rotation_is_for_thumbnails_only(tmp_path):
    plain = images.make_jpeg(tmp_path / "plain.jpg", seed=8, size=(640, 480))
    rotated = images.make_jpeg(tmp_path / "tagged.jpg", seed=8, size=(640, 480), orientation=6)
    a, b = analyse(plain), analyse(rotated)
    assert a.pdq == b.pdq  # same stored pixels, same PDQ
    assert b.orientation == 6
    from triage.media import thumbs

    thumb = Image.open(io.BytesIO(thumbs.thumbnails(b.preview, b.orientation)["thumb"][0]))
    assert thumb.height > thumb.width  # shown upright (portrait)


# --- refusals and damage -------------------------------------------------------------


def test_bomb_header_is_refused_before_decoding(tmp_path):
    path = images.hostile_png_bomb_header(tmp_path / "bomb.png")
    with pytest.raises(MediaRefused, match="50,000×50,000"):
        analyse(path)


def test_truncated_jpeg_is_damaged(tmp_path):
    with pytest.raises(MediaDamaged, match="truncated|damaged"):
        analyse(images.hostile_truncated_jpeg(tmp_path / "t.jpg"))


def test_eps_is_never_opened_as_an_image(tmp_path):
    with pytest.raises(MediaDamaged, match="PostScript"):
        analyse(images.hostile_eps_as_png(tmp_path / "x.png"))


# --- video ---------------------------------------------------------------------------


def test_video_keyframes_about_one_per_second(tmp_path):
    path = images.make_video(tmp_path / "v.mp4", seconds=4, fps=10, size=(160, 120))
    result = analyse(path)
    stamps = [f.timestamp for f in result.frames]
    assert stamps[0] == 0.0
    assert 3 <= len(stamps) <= 5
    assert all(b - a >= 0.9 for a, b in zip(stamps, stamps[1:], strict=False))
    assert all(len(f.pdq) == 64 for f in result.frames)
    assert result.duration == pytest.approx(4.0, abs=0.2)
    assert result.pdq == next(f.pdq for f in result.frames if f.quality >= 50)


def test_video_scene_cut_adds_a_keyframe(tmp_path):
    path = images.make_video(tmp_path / "cut.avi", seconds=5, fps=10, codec="MJPG", scenes=2)
    stamps = [f.timestamp for f in analyse(path).frames]
    assert any(2.4 <= t <= 2.8 for t in stamps), stamps  # the cut at 2.5 s


def test_video_keyframes_are_capped(tmp_path, monkeypatch):
    from triage.media import video

    monkeypatch.setattr(video, "MAX_KEYFRAMES", 2)
    monkeypatch.setattr(video.video_keyframes, "__defaults__", (2,))
    path = images.make_video(tmp_path / "v.mp4", seconds=5, fps=10)
    assert len(analyse(path).frames) == 2


def test_keyframe_pdq_matches_the_source_frame(tmp_path):
    path = images.make_video(tmp_path / "v.mp4", seconds=2, fps=10, size=(320, 240), seed=3)
    first = images.pattern(3, (640, 240))[:, :320]
    expected, _ = pdq.pdq_full_resolution(first)
    assert pdq.hamming_hex(analyse(path).frames[0].pdq, expected) <= 31


def test_animated_gif_is_sampled_like_a_video(tmp_path):
    still = analyse(images.make_gif(tmp_path / "a.gif", seed=2, frames=6, ms=500, cuts=False))
    assert [f.timestamp for f in still.frames] == [0.0, 1.0, 2.0]  # one per second
    cuts = analyse(images.make_gif(tmp_path / "b.gif", seed=2, frames=6, ms=500))
    assert [f.timestamp for f in cuts.frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # every cut
    result = still
    assert len(result.pdq_dihedral) == 8  # the first frame also hashed as an image


# --- hashfile (same code as the pipeline) --------------------------------------------


def test_hashfile_command_prints_json_lines(tmp_path, capsys):
    jpg = images.make_jpeg(tmp_path / "a.jpg", seed=1)
    vid = images.make_video(tmp_path / "v.mp4", seconds=2, fps=10)
    junk = images.hostile_random_bytes(tmp_path / "r.jpg")
    call_command("hashfile", str(jpg), str(vid), str(junk), "--json")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == [str(jpg), str(vid), str(junk)]
    assert rows[0] == {**hash_file(jpg), "path": str(jpg)}
    assert rows[0]["sha256"] == hashlib.sha256(jpg.read_bytes()).hexdigest()
    assert rows[0]["media_type"] == "image/jpeg" and len(rows[0]["pdq"]) == 64
    assert rows[1]["keyframes"] and {"timestamp", "pdq", "quality"} <= set(rows[1]["keyframes"][0])
    assert rows[2]["pdq"] is None and rows[2]["media_type"] == "application/octet-stream"
