"""Classifier throughput: the hub's batched inference path vs a bare onnxruntime loop.

    .venv/bin/python bench/classify.py              # open_nsfw, 64 benign generated images
    .venv/bin/python bench/classify.py --n 512 --batch 32 --threads 2

Both paths run the shipped open_nsfw model on the SAME preprocessed tensors (generated
gradients and shapes, preprocessed once by the hub's generic preprocessing), in one run:
  bare  onnxruntime.InferenceSession.run over slices of ``batch`` tensors
  hub   triage.classifier.runtime: runner_for (cached session, hash-verified) + Batcher
        (the exact objects classify_items uses: add() per tensor, flush per batch, per-unit
        label scores)
Preprocessing (decode, resize, JPEG round-trip) is timed separately and reported, since
it is the same work for both. Figures are images/s; the goal is hub/bare >= 0.9."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

from bench._report import result  # noqa: E402


def benign_images(n: int, rng) -> list:
    from PIL import Image

    images = []
    for i in range(n):
        h, w = int(rng.integers(200, 600)), int(rng.integers(200, 600))
        y, x = np.mgrid[0:h, 0:w]
        rgb = np.stack([x * 255 // w, y * 255 // h, (x + y + i * 13) % 256], axis=-1).astype(
            np.uint8
        )
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        rgb[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(0, 256, 3)
        images.append(Image.fromarray(rgb, "RGB"))
    return images


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    settings.HUB_INFERENCE_BATCH = args.batch
    settings.HUB_INFERENCE_THREADS = args.threads

    from triage.classifier.manifest import load_manifest, resolve_source
    from triage.classifier.preprocess import preprocess_image
    from triage.classifier.runtime import Batcher, Unit, build_session, runner_for

    manifest_path = settings.BASE_DIR / "models" / "open_nsfw" / "manifest.toml"
    manifest = load_manifest(manifest_path)
    onnx_path = resolve_source(manifest, manifest_path.parent)

    rng = np.random.default_rng(0)
    images = benign_images(args.n, rng)
    t0 = time.perf_counter()
    tensors = np.stack([preprocess_image(img, manifest.input) for img in images])
    preprocess_s = time.perf_counter() - t0

    bare = build_session(onnx_path, threads=args.threads)
    in_name, out_name = manifest.input.name, manifest.output.name

    def run_bare():
        out = []
        for s in range(0, len(tensors), args.batch):
            out.append(bare.run([out_name], {in_name: tensors[s : s + args.batch]})[0])
        return np.concatenate(out)

    runner = runner_for(onnx_path, manifest.sha256, manifest)
    priority = manifest.output.priority_index

    def run_hub():
        batcher = Batcher(runner)
        for i, tensor in enumerate(tensors):
            batcher.add(Unit(i, None), tensor)
        return [float(scores[priority]) for _, scores in batcher.scored()]

    # Warm up both (first runs allocate arenas) and check they agree.
    ref = run_bare()[:, priority]
    hub_scores = np.array(run_hub())
    max_diff = float(np.abs(ref - hub_scores).max())

    # Interleaved so that machine noise (other processes, frequency scaling) hits both.
    bare_s = hub_s = float("inf")
    for _ in range(args.repeats):
        bare_s = min(bare_s, timed(run_bare, 1))
        hub_s = min(hub_s, timed(run_hub, 1))
    bare_ips, hub_ips = args.n / bare_s, args.n / hub_s
    print(
        f"open_nsfw  n={args.n} batch={args.batch} threads={args.threads} "
        f"(best of {args.repeats}; cpu count {os.cpu_count()})"
    )
    print(f"  preprocess (hub generic, once) {args.n / preprocess_s:8.1f} images/s")
    print(f"  bare onnxruntime loop          {bare_ips:8.1f} images/s")
    print(f"  hub batched path               {hub_ips:8.1f} images/s")
    print(f"  ratio hub/bare                 {hub_ips / bare_ips:8.3f}  (goal >= 0.9)")
    result(
        "classify",
        "hub batched inference vs bare onnxruntime loop",
        f"{hub_ips / bare_ips:.2f}×",
        f"open_nsfw n={args.n} batch={args.batch}; max score diff {max_diff:.1e}",
    )
    print(f"  max |score difference|         {max_diff:.2e}")
    return 0 if hub_ips / bare_ips >= 0.9 and max_diff < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
