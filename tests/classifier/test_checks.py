"""The start-up check: an enabled model whose file is missing or altered is an Error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from triage.classifier import runtime
from triage.classifier.checks import check_model_files
from triage.models import ClassifierModel

pytestmark = pytest.mark.django_db


def ids(errors):
    return [e.id for e in errors]


def test_healthy_models_pass(tiny_model, demo_agency):
    tiny_model(agency=demo_agency)
    assert check_model_files() == []


def test_missing_file_fails_startup(tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    os.remove(model.onnx_path)
    errors = check_model_files()
    assert ids(errors) == ["triage.E301"]
    assert "is missing" in errors[0].msg and model.name in errors[0].msg
    with pytest.raises(SystemCheckError, match="triage.E301"):
        call_command("check")


def test_changed_file_fails_startup(tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    Path(model.onnx_path).write_bytes(Path(model.onnx_path).read_bytes() + b"\0")
    errors = check_model_files()
    assert ids(errors) == ["triage.E302"]
    assert model.sha256 in errors[0].msg


def test_same_size_rewrite_with_restored_mtime_is_still_caught(tiny_model, demo_agency):
    """The hash cache key includes ctime, which cannot be set back."""
    model = tiny_model(agency=demo_agency)
    assert check_model_files() == []
    path = Path(model.onnx_path)
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ids(check_model_files()) == ["triage.E302"]


def test_globally_disabled_model_is_not_checked(tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    os.remove(model.onnx_path)
    ClassifierModel.objects.filter(pk=model.pk).update(is_enabled=False)
    assert check_model_files() == []


def test_hash_is_cached_across_checks(tiny_model, demo_agency, monkeypatch):
    tiny_model(agency=demo_agency)
    runtime.clear_sessions()  # also forgets the in-process memo; the Django cache remains
    calls = []
    real = runtime.sha256_file
    monkeypatch.setattr(runtime, "sha256_file", lambda p: calls.append(p) or real(p))
    check_model_files()
    check_model_files()
    runtime.clear_sessions()  # a new process: only the shared cache is left
    check_model_files()
    assert len(calls) == 1
