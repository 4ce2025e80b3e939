"""Model registration: validation of a manifest + .onnx pair, the shipped-model sync, and
the per-agency switches. Every write records an audit event in the same transaction.

Where files live:
- shipped models: ``settings.HUB_MODELS_DIR/<folder>/manifest.toml`` (the .onnx beside it
  or inside a package), synced into hub-wide rows by ``sync_shipped_models``;
- registered models: ``registered_models_root()/<agency uuid or "hub">/<name>-<version>/``
  holding ``model.onnx`` and ``manifest.toml``. The root sits beside EVIDENCE_ROOT, which
  deployments already put on storage every worker host can read."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from hub.audit import audit_record
from triage.classifier.manifest import (
    Manifest,
    ManifestError,
    Source,
    load_manifest,
    parse_manifest,
    resolve_source,
)
from triage.classifier.preprocess import preprocess_image, probe_image
from triage.classifier.runtime import ModelRunner, build_session, sha256_file
from triage.models import AgencyModelSetting, ClassifierModel

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 2 * 1024**3


class ModelRefused(Exception):
    """A model that cannot be registered, with the reason for the person who tried."""


def registered_models_root() -> Path:
    return Path(settings.HUB_REGISTERED_MODELS_DIR)


def manifest_of(model: ClassifierModel) -> Manifest:
    return Manifest.from_dict(model.manifest)


def model_file(model: ClassifierModel) -> Path:
    """The .onnx file of a row. A package resource is resolved afresh (the virtualenv may
    have moved since the sync); anything else is the stored absolute path."""
    manifest = manifest_of(model)
    if manifest.source.package:
        try:
            return resolve_source(manifest, Path(model.manifest_path or ".").parent)
        except ManifestError:
            return Path(model.onnx_path)
    return Path(model.onnx_path)


# --- validation ------------------------------------------------------------------------


def _dims_match(actual, expected: int) -> bool:
    """A declared dimension matches when it is the expected size or symbolic/dynamic."""
    return not isinstance(actual, int) or actual in (expected, -1, 0)


def validate_model_file(path: Path, manifest: Manifest) -> None:
    """onnx.checker, input/output names and shapes against the manifest, and a test run on
    generated images with finite outputs of the expected shape. Raises ``ModelRefused``."""
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise ModelRefused(f"onnx.checker rejected the file: {str(exc).splitlines()[0]}") from None

    try:
        session = build_session(path, threads=1)
    except Exception as exc:
        raise ModelRefused(f"onnxruntime could not load the model: {exc}") from None

    spec, out = manifest.input, manifest.output
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if spec.name not in inputs:
        raise ModelRefused(
            f"the model has no input {spec.name!r} (it has {', '.join(sorted(inputs))})"
        )
    if len(inputs) != 1:
        raise ModelRefused("the model must take exactly one input (an image batch)")
    if out.name not in outputs:
        raise ModelRefused(
            f"the model has no output {out.name!r} (it has {', '.join(sorted(outputs))})"
        )
    if inputs[spec.name].type != "tensor(float)":
        raise ModelRefused(f"input {spec.name!r} must be float32, not {inputs[spec.name].type}")
    shape = list(inputs[spec.name].shape)
    expected = (
        [None, 3, spec.height, spec.width]
        if spec.layout == "NCHW"
        else [None, spec.height, spec.width, 3]
    )
    if len(shape) != 4 or not all(
        e is None or _dims_match(a, e) for a, e in zip(shape, expected, strict=False)
    ):
        raise ModelRefused(
            f"input {spec.name!r} has shape {shape}; the manifest ({spec.layout}, "
            f"{spec.height}x{spec.width}) needs {['N' if e is None else e for e in expected]}"
        )
    out_shape = list(outputs[out.name].shape)
    if len(out_shape) != 2 or not _dims_match(out_shape[1], len(out.labels)):
        raise ModelRefused(
            f"output {out.name!r} has shape {out_shape}; the manifest's {len(out.labels)} "
            f"labels need [N, {len(out.labels)}]"
        )

    runner = ModelRunner(manifest, session)
    batch = 1 if runner.max_batch == 1 else 2
    tensors = np.stack([preprocess_image(probe_image(spec, seed), spec) for seed in range(batch)])
    try:
        scores = runner.run(tensors)
    except Exception as exc:
        raise ModelRefused(f"the test run on a generated image failed: {exc}") from None
    if scores.shape != (batch, len(out.labels)):
        raise ModelRefused(
            f"the test run returned shape {list(scores.shape)}, expected "
            f"[{batch}, {len(out.labels)}]"
        )
    if not np.all(np.isfinite(scores)):
        raise ModelRefused("the test run returned NaN or infinite scores")
    priority = scores[:, out.priority_index]
    if np.any(priority < 0) or np.any(priority > 1):
        raise ModelRefused(
            f"the score of {out.priority_label!r} must be a probability in [0, 1] (got "
            f"{priority.round(4).tolist()}); set output.softmax = true if the model outputs "
            "logits"
        )


# --- shipped models --------------------------------------------------------------------


@dataclass
class SyncResult:
    created: list[ClassifierModel]
    unchanged: list[ClassifierModel]
    errors: list[str]


def sync_shipped_models(*, validate: bool = True) -> SyncResult:
    """Register each ``HUB_MODELS_DIR/*/manifest.toml`` as a hub-wide model (idempotent).
    A manifest whose file is missing, differs from its SHA-256, or fails validation is not
    registered; its reason is returned in ``errors``."""
    result = SyncResult([], [], [])
    root = Path(settings.HUB_MODELS_DIR)
    for manifest_path in sorted(root.glob("*/manifest.toml")):
        try:
            manifest = load_manifest(manifest_path)
            onnx_path = resolve_source(manifest, manifest_path.parent)
            existing = ClassifierModel.objects.filter(
                agency=None, name=manifest.name, version=manifest.version
            ).first()
            if existing is not None:
                if existing.sha256 != manifest.sha256:
                    raise ModelRefused(
                        f"{manifest.name} v{manifest.version} is already registered with "
                        f"SHA-256 {existing.sha256}; a different file needs a new version"
                    )
                result.unchanged.append(existing)
                continue
            if not onnx_path.is_file():
                raise ModelRefused(f"the model file {onnx_path} does not exist")
            actual = sha256_file(onnx_path)
            if actual != manifest.sha256:
                raise ModelRefused(
                    f"{onnx_path} has SHA-256 {actual}, the manifest says {manifest.sha256}"
                )
            if validate:
                validate_model_file(onnx_path, manifest)
            with transaction.atomic():
                model, created = ClassifierModel.objects.get_or_create(
                    agency=None,
                    name=manifest.name,
                    version=manifest.version,
                    defaults={
                        "sha256": manifest.sha256,
                        "manifest": manifest.as_dict(),
                        "manifest_path": str(manifest_path),
                        "onnx_path": str(onnx_path),
                    },
                )
                if created:
                    audit_record(
                        "classifier.model_synced",
                        agency=None,
                        obj=model,
                        data=_audit_data(model),
                    )
            (result.created if created else result.unchanged).append(model)
        except (ManifestError, ModelRefused) as exc:
            log.error("shipped model %s not registered: %s", manifest_path, exc)
            result.errors.append(f"{manifest_path}: {exc}")
    return result


def _audit_data(model: ClassifierModel) -> dict:
    return {"name": model.name, "version": model.version, "sha256": model.sha256}


# --- registration by an operator or agency admin ---------------------------------------


def _read(data: bytes | Path) -> bytes:
    return data if isinstance(data, bytes) else Path(data).read_bytes()


def model_register(
    *, manifest_text: bytes | str, onnx_file: Path, agency, actor=None, request=None
) -> ClassifierModel:
    """Validate and store an uploaded model for ``agency`` (None: hub-wide).

    ``onnx_file`` is a path to the uploaded file (Django's temporary upload or a CLI
    argument); it is copied, never moved. The manifest's ``[source]`` names the vetted
    SHA-256; the upload must have exactly that hash."""
    manifest = parse_manifest(manifest_text, source="manifest")
    if manifest.source.package:
        raise ModelRefused(
            "an uploaded model's manifest must use [source].path (packages are for shipped models)"
        )
    onnx_file = Path(onnx_file)
    if onnx_file.stat().st_size > MAX_UPLOAD_BYTES:
        raise ModelRefused("the .onnx file is larger than 2 GiB")
    actual = sha256_file(onnx_file)
    if actual != manifest.sha256:
        raise ModelRefused(
            f"the uploaded file has SHA-256 {actual}, the manifest says {manifest.sha256}"
        )
    owner = ClassifierModel.objects.filter(agency=agency)
    if owner.filter(name=manifest.name, version=manifest.version).exists():
        raise ModelRefused(
            f"{manifest.name} v{manifest.version} is already registered; bump the version"
        )
    # The same file with the same preprocessing and outputs is a duplicate (a different
    # manifest, e.g. another priority label, is a different model and is allowed).
    wanted = json.loads(json.dumps(manifest.as_dict()))  # as stored: lists, not tuples
    for other in (
        models_available_to(agency).filter(sha256=actual) if agency else owner.filter(sha256=actual)
    ):
        if (other.manifest.get("input"), other.manifest.get("output")) == (
            wanted["input"],
            wanted["output"],
        ):
            raise ModelRefused(
                f"this model file with this manifest is already registered as {other.name} "
                f"v{other.version}"
            )

    owner_dir = registered_models_root() / (str(agency.uuid) if agency else "hub")
    final_dir = owner_dir / f"{manifest.name}-{manifest.version}"
    owner_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=owner_dir))
    try:
        shutil.copyfile(onnx_file, staging / "model.onnx")
        text = manifest_text if isinstance(manifest_text, bytes) else manifest_text.encode()
        (staging / "manifest.toml").write_bytes(text)
        if sha256_file(staging / "model.onnx") != actual:
            raise ModelRefused("the file changed while it was being stored; try again")
        validate_model_file(staging / "model.onnx", manifest)
        if final_dir.exists():
            # A leftover of an earlier attempt without a row (the row check passed above).
            shutil.rmtree(final_dir)
        staging.rename(final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    stored = Manifest(
        name=manifest.name,
        version=manifest.version,
        description=manifest.description,
        source=Source(path="model.onnx", sha256=actual),
        input=manifest.input,
        output=manifest.output,
    )
    try:
        with transaction.atomic():
            model = ClassifierModel.objects.create(
                agency=agency,
                name=manifest.name,
                version=manifest.version,
                sha256=actual,
                manifest=stored.as_dict(),
                manifest_path=str(final_dir / "manifest.toml"),
                onnx_path=str(final_dir / "model.onnx"),
            )
            audit_record(
                "classifier.model_registered",
                agency=agency,
                actor=actor,
                obj=model,
                data={**_audit_data(model), "owner": "hub" if agency is None else agency.slug},
                request=request,
            )
    except IntegrityError:
        shutil.rmtree(final_dir, ignore_errors=True)
        raise ModelRefused(
            f"{manifest.name} v{manifest.version} was registered at the same moment"
        ) from None
    except BaseException:
        shutil.rmtree(final_dir, ignore_errors=True)
        raise
    return model


# --- selectors -------------------------------------------------------------------------


def models_available_to(agency):
    """Hub-wide models and the agency's own (never another agency's)."""
    return ClassifierModel.objects.filter(Q(agency=None) | Q(agency=agency)).order_by(
        "name", "version"
    )


def _setting_for(model: ClassifierModel, agency) -> AgencyModelSetting | None:
    return AgencyModelSetting.objects.filter(model=model, agency=agency).first()


def enabled_for_agency(model: ClassifierModel, agency, setting=None) -> bool:
    """A model runs for an agency when it is globally enabled and the agency has not
    switched it off (models are on by default)."""
    if not model.is_enabled:
        return False
    setting = setting if setting is not None else _setting_for(model, agency)
    return setting is None or setting.is_enabled


def models_enabled_for(agency) -> list[ClassifierModel]:
    settings_by_model = {s.model_id: s for s in AgencyModelSetting.objects.filter(agency=agency)}
    return [
        m
        for m in models_available_to(agency).filter(is_enabled=True)
        if m.pk not in settings_by_model or settings_by_model[m.pk].is_enabled
    ]


def threshold_for(model: ClassifierModel, agency) -> float:
    setting = _setting_for(model, agency)
    if setting is not None and setting.threshold is not None:
        return setting.threshold
    return model.threshold


# --- per-agency and hub-wide switches --------------------------------------------------


def model_set_enabled(*, model: ClassifierModel, agency, enabled: bool, actor, request=None):
    """Switch a model on or off for one agency, or globally (``agency`` None: operator)."""
    with transaction.atomic():
        if agency is None:
            old = model.is_enabled
            ClassifierModel.objects.filter(pk=model.pk).update(is_enabled=enabled)
            model.is_enabled = enabled
        else:
            setting, _ = AgencyModelSetting.objects.select_for_update().get_or_create(
                agency=agency, model=model
            )
            old = setting.is_enabled
            setting.is_enabled = enabled
            setting.save(update_fields=["is_enabled"])
        audit_record(
            "classifier.model_enabled" if enabled else "classifier.model_disabled",
            agency=agency,
            actor=actor,
            obj=model,
            data={**_audit_data(model), "old": old, "new": enabled},
            request=request,
        )


def model_set_threshold(*, model: ClassifierModel, agency, threshold: float, actor, request=None):
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("the threshold must be between 0 and 1")
    with transaction.atomic():
        setting, _ = AgencyModelSetting.objects.select_for_update().get_or_create(
            agency=agency, model=model
        )
        old = setting.threshold if setting.threshold is not None else model.threshold
        setting.threshold = threshold
        setting.save(update_fields=["threshold"])
        audit_record(
            "classifier.threshold_changed",
            agency=agency,
            actor=actor,
            obj=model,
            data={**_audit_data(model), "old": old, "new": threshold},
            request=request,
        )
