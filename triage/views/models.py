"""Classifier model pages: list (enable/disable), register (upload), calibration.

Who does what: an agency admin sees hub-wide models and the agency's own, switches them
on or off for the agency, registers the agency's own models and calibrates thresholds. A
hub operator without an agency manages hub-wide models (registers them, switches them off
for everybody). Another agency's model is a 404; a lesser role is a 403."""

from __future__ import annotations

import tempfile
from functools import wraps
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hub.access import agency_required, two_factor_satisfied
from hub.models import Role
from triage.classifier import calibration
from triage.classifier.manifest import ManifestError
from triage.classifier.registry import (
    ModelRefused,
    enabled_for_agency,
    model_register,
    model_set_enabled,
    model_set_threshold,
    models_available_to,
    threshold_for,
)
from triage.models import AgencyModelSetting, ClassifierModel

MAX_MANIFEST_BYTES = 64 * 1024


def model_access(view):
    """Agency admins act for their agency; a hub operator without an agency acts on
    hub-wide models. Sets ``request.model_owner`` (Agency or None)."""
    agency_view = agency_required(Role.ADMIN)(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if (
            user.is_authenticated
            and user.is_hub_operator
            and getattr(request, "membership", None) is None
            and two_factor_satisfied(user)
        ):
            request.model_owner = None
            return view(request, *args, **kwargs)
        request.model_owner = getattr(request, "agency", None)
        return agency_view(request, *args, **kwargs)

    wrapper.required_role = Role.ADMIN
    return wrapper


def visible_models(request):
    if request.model_owner is None:
        return ClassifierModel.objects.filter(agency=None).order_by("name", "version")
    return models_available_to(request.model_owner)


def get_model_or_404(request, model_uuid) -> ClassifierModel:
    try:
        return visible_models(request).get(uuid=model_uuid)
    except (ClassifierModel.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None


@model_access
@require_http_methods(["GET"])
def model_list(request):
    agency = request.model_owner
    models = list(visible_models(request))
    settings_by_model = (
        {s.model_id: s for s in AgencyModelSetting.objects.filter(agency=agency)} if agency else {}
    )
    rows = []
    for model in models:
        setting = settings_by_model.get(model.pk)
        rows.append(
            {
                "model": model,
                "enabled": (
                    enabled_for_agency(model, agency, setting) if agency else model.is_enabled
                ),
                "globally_enabled": model.is_enabled,
                "threshold": (
                    setting.threshold
                    if setting is not None and setting.threshold is not None
                    else model.threshold
                ),
                "owner": "Hub-wide" if model.agency_id is None else "Your agency",
                "can_toggle": agency is not None or model.agency_id is None,
            }
        )
    return render(request, "triage/models/list.html", {"rows": rows, "owner": agency})


@model_access
@require_POST
def model_toggle(request, model):
    obj = get_model_or_404(request, model)
    enabled = request.POST.get("enabled") == "1"
    model_set_enabled(
        model=obj, agency=request.model_owner, enabled=enabled, actor=request.user, request=request
    )
    scope = "for your agency" if request.model_owner else "hub-wide"
    messages.success(
        request, f"{obj.name} v{obj.version} {'enabled' if enabled else 'disabled'} {scope}."
    )
    return redirect("triage:model_list")


class RegisterForm(forms.Form):
    manifest = forms.FileField(help_text="manifest.toml (format: models/README.md)")
    onnx = forms.FileField(label="ONNX model", help_text="The .onnx file the manifest names.")

    def clean_manifest(self):
        f = self.cleaned_data["manifest"]
        if f.size > MAX_MANIFEST_BYTES:
            raise forms.ValidationError("A manifest is a small text file (at most 64 KiB).")
        return f


@model_access
@require_http_methods(["GET", "POST"])
def model_register_view(request):
    form = RegisterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["onnx"]
        try:
            with _upload_path(upload) as onnx_path:
                model = model_register(
                    manifest_text=form.cleaned_data["manifest"].read(),
                    onnx_file=onnx_path,
                    agency=request.model_owner,
                    actor=request.user,
                    request=request,
                )
        except ManifestError as exc:
            form.add_error("manifest", "; ".join(exc.problems))
        except ModelRefused as exc:
            form.add_error(None, f"Model refused: {exc}")
        else:
            messages.success(
                request, f"Registered {model.name} v{model.version} (SHA-256 {model.sha256})."
            )
            return redirect("triage:model_list")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "triage/models/register.html",
        {"form": form, "owner": request.model_owner},
        status=status,
    )


class _upload_path:
    """The uploaded file as a path on disk (Django keeps small uploads in memory)."""

    def __init__(self, upload):
        self.upload = upload
        self.tmp = None

    def __enter__(self) -> Path:
        if hasattr(self.upload, "temporary_file_path"):
            return Path(self.upload.temporary_file_path())
        self.tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115
            dir=settings.UPLOAD_TEMP_ROOT, suffix=".onnx"
        )
        for chunk in self.upload.chunks():
            self.tmp.write(chunk)
        self.tmp.flush()
        return Path(self.tmp.name)

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.close()


class ThresholdForm(forms.Form):
    threshold = forms.FloatField(min_value=0.0, max_value=1.0)


@agency_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def model_calibration(request, model):
    request.model_owner = request.agency
    obj = get_model_or_404(request, model)
    agency = request.agency
    current = threshold_for(obj, agency)
    form = ThresholdForm(request.POST or None, initial={"threshold": current})
    if request.method == "POST" and form.is_valid():
        new = form.cleaned_data["threshold"]
        model_set_threshold(
            model=obj, agency=agency, threshold=new, actor=request.user, request=request
        )
        messages.success(request, f"Threshold of {obj.name} set to {new:g} (was {current:g}).")
        return redirect("triage:model_calibration", model=obj.uuid)
    scores, positives = calibration.labelled_scores(obj, agency)
    queued = calibration.queued_scores(obj, agency)
    rows = calibration.calibration_table(scores, positives, queued_scores=queued, current=current)
    context = {
        "model": obj,
        "form": form,
        "current": current,
        "rows": rows,
        "labelled": len(scores),
        "labelled_positive": sum(positives),
        "queued": len(queued),
        "queued_flagged": sum(1 for s in queued if s >= current),
        "non_pertinent": calibration.non_pertinent_code(agency.policy.categories),
    }
    return render(
        request,
        "triage/models/calibration.html",
        context,
        status=400 if request.method == "POST" else 200,
    )
