"""Tiny ONNX models built with ``onnx.helper`` so classifier tests control the outputs.

``brightness`` outputs [1 - m, m] where m is the mean of the (preprocessed) input: with
``scale = 1/255`` in the manifest, a white image scores 1 and a black one 0. Variants:
NCHW/NHWC layouts, a fixed batch of 1, an extra output column (wrong shape), NaN output,
and unbounded logits (valid only with ``softmax = true``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def _build(nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    used = {name for node in nodes for name in node.input}
    initializers = [t for t in initializers if t.name in used]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def brightness(
    *,
    layout: str = "NHWC",
    size: int = 32,
    input_name: str = "pixels",
    output_name: str = "probs",
    batch: int | str = "N",
    variant: str = "ok",
) -> onnx.ModelProto:
    """variant: ok | three_outputs | nan | logits."""
    shape = [batch, size, size, 3] if layout == "NHWC" else [batch, 3, size, size]
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)
    n_out = 3 if variant == "three_outputs" else 2
    y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, n_out])
    inits = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(float("nan"), dtype=np.float32), "nan"),
        numpy_helper.from_array(np.array(20.0, dtype=np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["m0"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m0", "axis1"], ["m"]),
    ]
    if variant == "nan":
        nodes.append(helper.make_node("Mul", ["m", "nan"], ["pos"]))
    elif variant == "logits":
        nodes.append(helper.make_node("Mul", ["m", "gain"], ["pos"]))
    else:
        nodes.append(helper.make_node("Identity", ["m"], ["pos"]))
    if variant == "logits":
        nodes.append(helper.make_node("Neg", ["pos"], ["neg"]))
    else:
        nodes.append(helper.make_node("Sub", ["one", "pos"], ["neg"]))
    cols = ["neg", "pos"] + (["pos"] if variant == "three_outputs" else [])
    nodes.append(helper.make_node("Concat", cols, [output_name], axis=1))
    return _build(nodes, [x], [y], inits)


def save(model: onnx.ModelProto, path: Path) -> tuple[Path, str]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_toml(
    *,
    sha256: str,
    name: str = "brightness",
    version: str = "1",
    layout: str = "NHWC",
    size: int = 32,
    input_name: str = "pixels",
    output_name: str = "probs",
    labels: tuple[str, ...] = ("dark", "bright"),
    priority_label: str = "bright",
    softmax: bool = False,
    path: str = "model.onnx",
    extra_input: str = "",
) -> str:
    label_list = ", ".join(f'"{label}"' for label in labels)
    return f"""
format = 1
name = "{name}"
version = "{version}"

[source]
path = "{path}"
sha256 = "{sha256}"

[input]
name = "{input_name}"
layout = "{layout}"
size = {size}
resize_mode = "stretch"
resize_size = {size}
crop = "none"
resample = "bilinear"
channel_order = "RGB"
scale = {1 / 255!r}
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
jpeg_reencode = false
{extra_input}

[output]
name = "{output_name}"
labels = [{label_list}]
priority_label = "{priority_label}"
softmax = {"true" if softmax else "false"}
"""


def write_model_dir(folder: Path, model: onnx.ModelProto | None = None, **manifest_kw):
    """A shipped-style folder: model.onnx and manifest.toml beside it."""
    folder = Path(folder)
    model_kw = {
        k: manifest_kw[k]
        for k in ("layout", "size", "input_name", "output_name")
        if k in manifest_kw
    }
    onnx_path, sha = save(model or brightness(**model_kw), folder / "model.onnx")
    manifest_kw.setdefault("sha256", sha)
    (folder / "manifest.toml").write_text(manifest_toml(**manifest_kw))
    return folder / "manifest.toml", onnx_path, sha
