#!/usr/bin/env python3
"""The int8 question of issue 13, measured: what dynamic int8 quantization of the full-size ViT-B/32 image
tower buys in speed, and costs in accuracy, on onnxruntime and on tract (pg_clip's engine), side by side.

    python3 bench/int8.py                    # 1,000 images for accuracy, 7 interleaved speed rounds
    python3 bench/int8.py --images 200 --rounds 3
    python3 bench/int8.py --tower text       # the text tower: 1,000 captions, onnxruntime f32 vs int8

Re-executes itself with /opt/clipref/bin/python3 (bench/run.sh makes that venv: onnxruntime, onnx, tract,
open_clip, Pillow). The model is the fixed-seed full-size graph (models/generated/, made by
models/export_clip.py --mode random if missing); int8 variants are written next to it:
  * dyn-all:    onnxruntime quantize_dynamic, int8 weights, every MatMul/Gemm and the patch Conv
                (DynamicQuantizeLinear + MatMulInteger/ConvInteger: what `quantize_dynamic` gives by default);
  * dyn-matmul: the same, MatMul/Gemm only (tract cannot analyse the ConvInteger variant's output-scale Mul);
  * dyn-pc:     the text tower's variant: MatMul/Gemm with per-channel int8 weights, the final projection
                (the last MatMul, 512x512) left in f32. Per-tensor weights moved the text embeddings by up to
                1.3e-3 in 1 - cos (over the 1e-3 bar); per-channel with the projection in f32 by ~9e-4 at worst
                over 300 captions. The token embedding Gather stays f32 in every variant.
value_info is stripped from the quantized graphs: the quantizer writes shapes there that tract's analyser
rejects.
Inputs: the sample photos under tests/images, each seen through many deterministic random crops, flips
and colour changes (open_clip's preprocessing after them), so the accuracy figures are over distinct real
image tensors. The weights are random, so the accuracy of a real CLIP checkpoint can differ: the figures
say how much int8 moves the outputs of this graph, which is what the engine controls.
Prints the CPU and its ISA flags first; writes bench/results/int8-<timestamp>.txt.
"""

import os
import sys

VENV_PY = "/opt/clipref/bin/python3"
if (os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(VENV_PY)))
        and os.path.exists(VENV_PY) and not os.environ.get("PG_CLIP_BENCH_NO_REEXEC")):
    os.execv(VENV_PY, [VENV_PY] + sys.argv)

import argparse
import glob
import statistics
import subprocess
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "models"))
sys.path.insert(0, os.path.join(REPO, "bench"))
import cancel_latency  # noqa: E402  (machine(): CPU model and ISA flags)
# The benchmark's own output helpers and runtime sessions, so both scripts time the same configurations.
from run import GEN_BASE, GEN_DIR as GEN, Tee, loadavg, ort_session, table, tract_runnable  # noqa: E402

F32 = os.path.join(GEN, f"{GEN_BASE}-image.onnx")
F32_TEXT = os.path.join(GEN, f"{GEN_BASE}-text.onnx")
TEXT_VARIANT = "dyn-pc"


def quantized(variant, tower="image"):
    """The int8 file of the benchmark's tower (or of --model's), made once and cached next to it."""
    return quantize(F32 if tower == "image" else F32_TEXT, variant)


def quantize(src, variant):
    """src's int8 variant, written as <src stem>-int8-<variant>.onnx (also how models/tiny's int8 files
    were made: python3 -c "import int8; int8.quantize('../models/tiny/clip-tiny-image.onnx', 'dyn-all')")."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    out = f"{os.path.splitext(src)[0]}-int8-{variant}.onnx"
    if os.path.exists(out) and os.path.getmtime(out) > os.path.getmtime(src):
        return out
    ops = ["MatMul", "Gemm"] + (["Conv"] if variant == "dyn-all" else [])
    options = {}
    if variant == "dyn-pc":
        last = [n.name for n in onnx.load(src, load_external_data=False).graph.node if n.op_type == "MatMul"][-1]
        options = {"per_channel": True, "nodes_to_exclude": [last]}
    quantize_dynamic(src, out + ".tmp", weight_type=QuantType.QInt8, op_types_to_quantize=ops, **options,
                     extra_options={"MatMulConstBOnly": True})
    m = onnx.load(out + ".tmp")
    del m.graph.value_info[:]
    onnx.save(m, out)
    os.remove(out + ".tmp")
    return out


def tensors(n, seed=0):
    """n distinct preprocessed tensors: random crops/flips/colour of the sample photos, then CLIP's transform."""
    import open_clip
    from PIL import Image, ImageEnhance, ImageOps
    from export_clip import OPENAI_MEAN, OPENAI_STD
    tf = open_clip.image_transform(224, is_train=False, mean=OPENAI_MEAN, std=OPENAI_STD)
    files = sorted(f for f in glob.glob(os.path.join(REPO, "tests", "images", "*.jpg"))
                   + glob.glob(os.path.join(REPO, "tests", "images", "*.png")) if "tiny" not in os.path.basename(f))
    base = [Image.open(f).convert("RGB") for f in files]
    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, 224, 224), np.float32)
    for i in range(n):
        im = base[i % len(base)]
        w, h = im.size
        s = rng.uniform(0.35, 1.0)
        cw, ch = max(16, int(w * s)), max(16, int(h * s * rng.uniform(0.75, 1.33)))
        cw, ch = min(cw, w), min(ch, h)
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        im2 = im.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            im2 = ImageOps.mirror(im2)
        im2 = ImageEnhance.Color(im2).enhance(rng.uniform(0.5, 1.5))
        im2 = ImageEnhance.Brightness(im2).enhance(rng.uniform(0.7, 1.3))
        out[i] = tf(im2).numpy()
    return out


def captions(n, seed=0):
    """n distinct captions (subject, action, place, style from fixed word lists), as open_clip token ids."""
    import open_clip
    subjects = ["a cat", "a dog", "an astronaut", "a rocket", "a cup of coffee", "a red car", "two children",
                "an old man", "a sailboat", "a mountain goat", "a bowl of ramen", "a city skyline", "a lighthouse",
                "a horse", "a robot", "a woman in a yellow coat", "a bicycle", "a waterfall", "a steam train",
                "a flock of birds"]
    actions = ["standing", "sleeping", "running", "waiting", "shining", "floating", "falling", "resting",
               "glowing", "moving slowly", "seen from above", "in the rain", "at dawn", "at night"]
    places = ["on a beach", "in a forest", "on the moon", "in a kitchen", "on a busy street", "under the sea",
              "in the desert", "on a wooden table", "in the snow", "near a river", "in a museum", "on a rooftop"]
    styles = ["", ", a photo", ", an oil painting", ", a sketch", ", 35mm film", ", black and white",
              ", close-up", ", wide angle", ", a watercolour"]
    rng = np.random.default_rng(seed)
    seen, out = set(), []
    while len(out) < n:
        t = " ".join([rng.choice(subjects), rng.choice(actions), rng.choice(places)]) + rng.choice(styles)
        if t not in seen:
            seen.add(t)
            out.append(t)
    return open_clip.tokenize(out).numpy().astype(np.int64)


def text_main(args, path):
    """The text tower: onnxruntime f32 vs dynamic int8 (dyn-pc), speed at batch 1 and accuracy."""
    q = quantized(TEXT_VARIANT, "text")
    print(f"model sizes: f32 {os.path.getsize(F32_TEXT) / 2**20:.0f} MiB, int8 {TEXT_VARIANT} "
          f"{os.path.getsize(q) / 2**20:.0f} MiB")
    t = captions(max(args.images, 8))
    sessions = [(f"onnxruntime {kind}, {th} thread{'s' if th > 1 else ''}", th, ort_session(f, th))
                for th in (2, 1) for kind, f in (("f32", F32_TEXT), (f"int8 {TEXT_VARIANT}", q))]
    name = sessions[0][2].get_inputs()[0].name
    times = {i: [] for i in range(len(sessions))}
    for _, _, sess in sessions:
        sess.run(None, {name: t[:1]})
    for r in range(args.rounds):
        order = list(range(len(sessions)))
        for i in order[r % len(order):] + order[:r % len(order)]:
            start = time.perf_counter()
            for k in range(4):
                sessions[i][2].run(None, {name: t[k:k + 1]})
            times[i].append((time.perf_counter() - start) * 1000 / 4)
            time.sleep(0.2)
    print(f"\n## Text speed (ms per text, batch 1, median of {args.rounds} interleaved rounds of 4 texts)\n")
    med = [statistics.median(times[i]) for i in range(len(sessions))]
    f32_at = {th: med[i] for i, (n, th, _) in enumerate(sessions) if " f32" in n}
    table(["runtime", "ms/text", "range", "vs f32 same threads"],
          [[n, f"{med[i]:.1f}", f"{min(times[i]):.1f}-{max(times[i]):.1f}", f"{f32_at[th] / med[i]:.2f}x"]
           for i, (n, th, _) in enumerate(sessions)])
    n = args.images
    t0 = time.time()

    def embed(sess):
        return np.concatenate([sess.run(None, {name: t[i:i + 16]})[0] for i in range(0, n, 16)])[:n]
    e32, e8 = embed(sessions[0][2]), embed(sessions[1][2])
    d = 1 - np.sum(unit(e32) * unit(e8), axis=1)
    print(f"\n## Text accuracy vs onnxruntime f32 (1 - cos; kNN@10 overlap over the same {n} captions), "
          f"{time.time() - t0:.0f} s\n")
    table(["int8 variant", "texts", "median", "p99", "worst", "kNN@10 overlap"],
          [[f"onnxruntime int8 {TEXT_VARIANT} (text)", n, f"{np.median(d):.2e}", f"{np.percentile(d, 99):.2e}",
            f"{d.max():.2e}", f"{knn_overlap(e32, e8):.3f}"]])
    print(f"\nload after: {loadavg()}\nsaved {path}")


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def knn_overlap(a, b, k=10):
    """Mean share of each item's k nearest neighbours (cosine, itself excluded) that two embeddings agree on."""
    a, b = unit(a), unit(b)
    sa, sb = a @ a.T, b @ b.T
    np.fill_diagonal(sa, -np.inf)
    np.fill_diagonal(sb, -np.inf)
    na = np.argpartition(-sa, k, axis=1)[:, :k]
    nb = np.argpartition(-sb, k, axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1000, help="images for the accuracy table (>= 500 for the issue)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved speed rounds (median reported)")
    ap.add_argument("--tract-images", type=int, default=32, help="images for tract int8's accuracy (slow)")
    ap.add_argument("--tower", choices=("image", "text"), default="image",
                    help="text: the text tower (--images is then the number of captions)")
    ap.add_argument("--model", help="the f32 tower to quantize and measure (default: the fixed-seed full-size "
                    "one in models/generated); the int8 file is written next to it as <name>-int8-<variant>.onnx")
    args = ap.parse_args()
    global F32, F32_TEXT
    if args.model:
        if args.tower == "text":
            F32_TEXT = os.path.abspath(args.model)
        else:
            F32 = os.path.abspath(args.model)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    path = os.path.join(REPO, "bench", "results",
                        f"int8{'-text' if args.tower == 'text' else ''}-{time.strftime('%Y%m%d-%H%M%S')}.txt")
    sys.stdout = Tee(sys.__stdout__, open(path, "w"))
    import onnxruntime
    import tract
    print(f"# int8 probe {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {' '.join(sys.argv)}")
    print(f"cpu and ISA: {cancel_latency.machine()}")
    print(f"versions: onnxruntime {onnxruntime.__version__}, tract (python) {tract.version()}")
    print(f"load before: {loadavg()}")
    if not args.model and not (os.path.exists(F32) and os.path.exists(F32_TEXT)):
        subprocess.run([sys.executable, os.path.join(REPO, "models", "export_clip.py"), "--mode", "random",
                        "--out", GEN], check=True)
    if args.tower == "text":
        return text_main(args, path)
    q_all, q_mm = quantized("dyn-all"), quantized("dyn-matmul")
    print(f"model sizes: f32 {os.path.getsize(F32) / 2**20:.0f} MiB, int8 dyn-all {os.path.getsize(q_all) / 2**20:.0f} MiB, "
          f"dyn-matmul {os.path.getsize(q_mm) / 2**20:.0f} MiB")

    x = tensors(max(args.images, 32))

    # ---- speed: every runtime once per round, round-robin, median over rounds (ms per image)
    ort_f32, ort_all, ort_mm = ort_session(F32, 2), ort_session(q_all, 2), ort_session(q_mm, 2)
    ort_f32_1, ort_all_1 = ort_session(F32, 1), ort_session(q_all, 1)
    tr_f32 = tract_runnable(F32, "1,3,224,224,f32")
    tr_mm = tract_runnable(q_mm, "1,3,224,224,f32")
    name = ort_f32.get_inputs()[0].name
    ort = lambda s, b: (lambda: s.run(None, {name: x[:b]}))  # noqa: E731
    trc = lambda r: (lambda: r.run([x[:1]]))  # noqa: E731
    cases = [
        ("onnxruntime f32, 2 threads", 1, ort(ort_f32, 1)), ("onnxruntime f32, 2 threads", 8, ort(ort_f32, 8)),
        ("onnxruntime int8 dyn-all, 2 threads", 1, ort(ort_all, 1)), ("onnxruntime int8 dyn-all, 2 threads", 8, ort(ort_all, 8)),
        ("onnxruntime int8 dyn-matmul, 2 threads", 1, ort(ort_mm, 1)),
        ("onnxruntime f32, 1 thread", 1, ort(ort_f32_1, 1)), ("onnxruntime int8 dyn-all, 1 thread", 1, ort(ort_all_1, 1)),
        ("tract f32 (python 0.23.9, its default threads)", 1, trc(tr_f32)),
        ("tract int8 dyn-matmul (python 0.23.9)", 1, trc(tr_mm)),
    ]
    times = {i: [] for i in range(len(cases))}
    for _, _, f in cases:
        f()  # warm-up
    for r in range(args.rounds):
        order = list(range(len(cases)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            _, b, f = cases[i]
            t = time.perf_counter()
            f()
            times[i].append((time.perf_counter() - t) * 1000 / b)
            time.sleep(0.2)
    print(f"\n## Speed (ms per image, median of {args.rounds} interleaved rounds [min-max]; lower is better)\n")
    f32_at = {b: statistics.median(times[i]) for i, (n, b, _) in enumerate(cases) if n == "onnxruntime f32, 2 threads"}
    table(["runtime", "batch", "ms/img", "range", "vs onnxruntime f32 2T"],
          [[n, b, f"{statistics.median(times[i]):.1f}", f"{min(times[i]):.1f}-{max(times[i]):.1f}",
            f"{f32_at.get(b, f32_at[1]) / statistics.median(times[i]):.2f}x"] for i, (n, b, _) in enumerate(cases)])

    # ---- accuracy: int8 vs f32 on the same inputs
    def embed(sess, n, batch=16):
        return np.concatenate([sess.run(None, {name: x[i:i + batch]})[0] for i in range(0, n, batch)])
    n = args.images
    t0 = time.time()
    e32 = embed(ort_f32, n)
    rows = []
    for label, sess in [("onnxruntime int8 dyn-all", ort_all), ("onnxruntime int8 dyn-matmul", ort_mm)]:
        e8 = embed(sess, n)
        d = 1 - np.sum(unit(e32) * unit(e8), axis=1)
        rows.append([label, n, f"{np.median(d):.2e}", f"{np.percentile(d, 99):.2e}", f"{d.max():.2e}",
                     f"{knn_overlap(e32, e8):.3f}"])
    m = args.tract_images
    et = np.concatenate([tr_mm.run([x[i:i + 1]])[0].to_numpy() for i in range(m)])
    d = 1 - np.sum(unit(e32[:m]) * unit(et), axis=1)
    rows.append(["tract int8 dyn-matmul", m, f"{np.median(d):.2e}", f"{np.percentile(d, 99):.2e}", f"{d.max():.2e}", "-"])
    print(f"\n## Accuracy vs onnxruntime f32 (1 - cos; kNN@10 overlap over the same {n} images), {time.time() - t0:.0f} s\n")
    table(["int8 variant", "images", "median", "p99", "worst", "kNN@10 overlap"], rows)
    print(f"\nload after: {loadavg()}\nsaved {path}")


if __name__ == "__main__":
    main()
