"""The model manifest: one TOML file per ONNX model (format documented in models/README.md).

``parse_manifest`` turns the TOML text into a validated, frozen ``Manifest``; every problem
is collected and reported at once in a ``ManifestError`` so that whoever wrote the file can
fix it in one go. Nothing here touches the database or runs a model."""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

FORMAT_VERSION = 1

SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
LAYOUTS = ("NCHW", "NHWC")
CHANNEL_ORDERS = ("RGB", "BGR")
RESIZE_MODES = ("stretch", "shorter_side")
CROPS = ("center", "none")
RESAMPLE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


class ManifestError(ValueError):
    """A manifest that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str], source: str = ""):
        self.problems = problems
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(problems))


@dataclass(frozen=True)
class InputSpec:
    """How an RGB image becomes the model's input tensor (one generic implementation in
    ``triage.classifier.preprocess`` reads this)."""

    name: str
    layout: str  # NCHW or NHWC
    height: int
    width: int
    resize_mode: str  # stretch: to resize_size x resize_size; shorter_side: keep aspect
    resize_size: int
    crop: str  # center crop to height x width, or none
    resample: str
    channel_order: str  # RGB or BGR, the order the model expects
    scale: float  # pixel values 0..255 are multiplied by this first
    mean: tuple[float, float, float]  # in the model's channel order, after scale
    std: tuple[float, float, float]
    jpeg_reencode: bool
    jpeg_quality: int


@dataclass(frozen=True)
class OutputSpec:
    name: str
    labels: tuple[str, ...]
    priority_label: str
    softmax: bool

    @property
    def priority_index(self) -> int:
        return self.labels.index(self.priority_label)


@dataclass(frozen=True)
class Source:
    path: str = ""  # relative to the manifest's folder
    package: str = ""
    resource: str = ""
    sha256: str = ""

    def describe(self) -> str:
        return f"{self.package}/{self.resource}" if self.package else self.path


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str
    source: Source
    input: InputSpec
    output: OutputSpec

    @property
    def sha256(self) -> str:
        return self.source.sha256

    def as_dict(self) -> dict:
        """JSON-safe form stored on ``ClassifierModel.manifest``; ``from_dict`` reverses."""
        data = asdict(self)
        data["format"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        inp = dict(data["input"])
        inp["mean"] = tuple(inp["mean"])
        inp["std"] = tuple(inp["std"])
        out = dict(data["output"])
        out["labels"] = tuple(out["labels"])
        return cls(
            name=data["name"],
            version=data["version"],
            description=data.get("description", ""),
            source=Source(**data["source"]),
            input=InputSpec(**inp),
            output=OutputSpec(**out),
        )


class _Reader:
    """Reads typed values from a TOML table, collecting problems instead of raising."""

    def __init__(self, problems: list[str]):
        self.problems = problems

    def table(self, data: dict, key: str) -> dict:
        value = data.get(key)
        if not isinstance(value, dict):
            self.problems.append(f"[{key}] table is missing")
            return {}
        return value

    def get(self, table: dict, where: str, key: str, kind, default=None, required=True):
        if key not in table:
            if required:
                self.problems.append(f"{where}.{key} is required")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problems.append(f"{where}.{key} must be {_kind_name(kind)}, not {value!r}")
            return default
        return value

    def choice(self, table: dict, where: str, key: str, choices, default=None):
        value = self.get(table, where, key, str, default, required=not default)
        if not value:
            return default
        normalised = value if value in choices else value.upper()
        if normalised not in choices and value.lower() in choices:
            normalised = value.lower()
        if normalised not in choices:
            self.problems.append(
                f"{where}.{key} must be one of {', '.join(choices)}, not {value!r}"
            )
            return default
        return normalised

    def triple(self, table: dict, where: str, key: str, default):
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (float(value),) * 3
        if (
            isinstance(value, list)
            and len(value) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            return tuple(float(v) for v in value)
        self.problems.append(f"{where}.{key} must be a number or a list of three numbers")
        return default


def _kind_name(kind) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        kind, kind.__name__
    )


def parse_manifest(text: str | bytes, *, source: str = "") -> Manifest:
    """Parse and validate manifest TOML; raise ``ManifestError`` naming every problem."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(["the manifest is not UTF-8 text"], source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError([f"not valid TOML ({exc})"], source) from None

    problems: list[str] = []
    r = _Reader(problems)

    fmt = data.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        problems.append(f"format = {fmt!r} is not supported (this hub reads {FORMAT_VERSION})")
    name = r.get(data, "manifest", "name", str, "")
    version = r.get(data, "manifest", "version", str, "")
    for key, value in (("name", name), ("version", version)):
        if value and not SAFE_NAME.match(value):
            problems.append(
                f"{key} {value!r} may use only lower-case letters, digits, '.', '_' and '-' "
                "(it names a folder)"
            )
    description = r.get(data, "manifest", "description", str, "", required=False)

    src = r.table(data, "source")
    path = r.get(src, "source", "path", str, "", required=False)
    package = r.get(src, "source", "package", str, "", required=False)
    resource = r.get(src, "source", "resource", str, "", required=False)
    sha256 = (r.get(src, "source", "sha256", str, "") or "").lower()
    if src:
        if bool(path) == bool(package):
            problems.append("[source] needs either path, or package and resource (not both)")
        if package and not resource:
            problems.append("[source].resource is required with package")
        if path and (Path(path).is_absolute() or ".." in Path(path).parts):
            problems.append("[source].path must be relative to the manifest's folder")
        if sha256 and not SHA256.match(sha256):
            problems.append("[source].sha256 must be 64 hexadecimal characters")

    inp = r.table(data, "input")
    input_spec = None
    if inp:
        w = "input"
        size = inp.get("size")
        if isinstance(size, int) and not isinstance(size, bool):
            height = width = size
        elif (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in size)
        ):
            height, width = size
        else:
            problems.append("input.size must be an integer or [height, width]")
            height = width = 0
        if (height, width) != (0, 0) and not (8 <= height <= 4096 and 8 <= width <= 4096):
            problems.append("input.size must be between 8 and 4096 pixels")
        resize_mode = r.choice(inp, w, "resize_mode", RESIZE_MODES, "stretch")
        resize_size = r.get(inp, w, "resize_size", int, max(height, width), required=False)
        crop = r.choice(inp, w, "crop", CROPS, "center")
        if crop == "none" and not (resize_mode == "stretch" and resize_size == height == width):
            problems.append(
                "input.crop = 'none' needs resize_mode = 'stretch' and resize_size equal to a "
                "square input.size (otherwise the image would not fit the input)"
            )
        if crop == "center" and resize_size < max(height, width):
            problems.append("input.resize_size must be at least input.size to crop from it")
        scale = r.get(inp, w, "scale", float, 1.0, required=False)
        std = r.triple(inp, w, "std", (1.0, 1.0, 1.0))
        if any(s == 0 for s in std):
            problems.append("input.std must not contain 0")
        jpeg_quality = r.get(inp, w, "jpeg_quality", int, 75, required=False)
        if not 1 <= jpeg_quality <= 95:
            problems.append("input.jpeg_quality must be between 1 and 95")
        input_spec = InputSpec(
            name=r.get(inp, w, "name", str, ""),
            layout=r.choice(inp, w, "layout", LAYOUTS, ""),
            height=height,
            width=width,
            resize_mode=resize_mode,
            resize_size=resize_size,
            crop=crop,
            resample=r.choice(inp, w, "resample", RESAMPLE_FILTERS, "bilinear"),
            channel_order=r.choice(inp, w, "channel_order", CHANNEL_ORDERS, ""),
            scale=scale,
            mean=r.triple(inp, w, "mean", (0.0, 0.0, 0.0)),
            std=std,
            jpeg_reencode=r.get(inp, w, "jpeg_reencode", bool, False, required=False),
            jpeg_quality=jpeg_quality,
        )

    out = r.table(data, "output")
    output_spec = None
    if out:
        labels = out.get("labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(v, str) and v for v in labels)
        ):
            problems.append("output.labels must be a non-empty list of strings")
            labels = []
        elif len(set(labels)) != len(labels):
            problems.append("output.labels must not repeat a label")
        priority_label = r.get(out, "output", "priority_label", str, "")
        if labels and priority_label and priority_label not in labels:
            problems.append(f"output.priority_label {priority_label!r} is not one of the labels")
        output_spec = OutputSpec(
            name=r.get(out, "output", "name", str, ""),
            labels=tuple(labels),
            priority_label=priority_label,
            softmax=r.get(out, "output", "softmax", bool, False, required=False),
        )

    if problems:
        raise ManifestError(problems, source)
    return Manifest(
        name=name,
        version=version,
        description=description,
        source=Source(path=path, package=package, resource=resource, sha256=sha256),
        input=input_spec,
        output=output_spec,
    )


def load_manifest(path: Path) -> Manifest:
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ManifestError([f"cannot read the manifest ({exc.strerror})"], str(path)) from None
    return parse_manifest(text, source=str(path))


def resolve_source(manifest: Manifest, folder: Path) -> Path:
    """The .onnx file a manifest points at (a path beside it, or a package resource)."""
    src = manifest.source
    if src.package:
        try:
            resource = importlib.resources.files(src.package).joinpath(src.resource)
        except ModuleNotFoundError:
            raise ManifestError(
                [f"package {src.package!r} is not installed"], manifest.name
            ) from None
        return Path(str(resource))
    return Path(folder) / src.path
