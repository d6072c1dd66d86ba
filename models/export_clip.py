#!/usr/bin/env python3
"""Export CLIP ViT-B/32 image and text towers to ONNX for pg_clip.

Modes (``--mode``)
------------------
pretrained
    Real weights; needs internet on first run.  ``--flavor open_clip`` uses
    ``open_clip.create_model_and_transforms('ViT-B-32', pretrained=<--tag>)``
    (default tag ``openai``; QuickGELU is forced when the tag was trained with
    it, as it is for ``openai``).  ``--flavor hf`` loads
    ``transformers.CLIP{Vision,Text}ModelWithProjection.from_pretrained(<--hf-id>)``
    (default ``openai/clip-vit-base-patch32``).  One command::

        pip install torch open_clip_torch onnx onnxruntime   # + transformers for --flavor hf
        python3 models/export_clip.py --mode pretrained --out models/openai
        python3 models/export_clip.py --mode pretrained --flavor hf --out models/openai

    (without --out, files go to the git-ignored models/generated/).  Writes
    clip-vit-b-32-openai{-image,-text}.onnx + .json (~350 MB + ~250 MB), or
    clip-vit-b-32-openai-hf{...} for the hf flavor.  ``--tag`` also accepts a
    local open_clip checkpoint file, ``--hf-id`` a local HF directory.

random
    The exact ViT-B-32 architecture (vision width 768 x 12 layers x 12 heads,
    patch 32, text width 512 x 12 layers x 8 heads, embed_dim 512, QuickGELU as
    in the OpenAI checkpoint) with random weights from ``torch.manual_seed(--seed)``
    (default 0).  No download.  Same compute cost as the real model, so it is
    what the benchmarks use.  Files are ~350 MB + ~250 MB, so they are generated
    on demand into the git-ignored ``models/generated/``::

        python3 models/export_clip.py --mode random          # -> models/generated/

tiny
    Same graph *interface* as ViT-B-32 (224x224 input, patch 32, 512-d output,
    context length 77, vocab 49408, QuickGELU, argmax/EOT text pooling) but a
    tiny transformer (vision width 64, 2 layers, 2 heads; text width 32,
    2 layers, 2 heads), random weights from the fixed seed.  Small enough to be
    committed (``models/tiny/``) and used by the regression tests and golden data.

Flavors (``--flavor``)
----------------------
open_clip (default)
    image tower: input ``image`` float32 [N,3,224,224] -> output ``embedding``
    float32 [N,512] (``model.encode_image``, NOT L2-normalised);
    text tower: input ``text`` int64 [N,77] -> output ``embedding`` float32
    [N,512] (``model.encode_text``, NOT normalised).
hf
    Hugging Face ``CLIPVisionModelWithProjection`` /
    ``CLIPTextModelWithProjection``: image input ``pixel_values`` float32
    [N,3,224,224] -> outputs ``image_embeds`` [N,512], ``last_hidden_state``
    [N,50,width]; text input ``input_ids`` int64 [N,77] (no attention_mask: the
    causal mask plus EOT pooling make padding irrelevant, exactly as in
    open_clip) -> outputs ``text_embeds`` [N,512], ``last_hidden_state``
    [N,77,width].  Embeddings are not normalised.

In all cases the batch axis N is dynamic, the legacy TorchScript exporter is
used (``torch.onnx.export(..., dynamo=False)``, opset 17 by default), weights
are stored inside the single .onnx file (no external data), and each exported
file is checked with onnxruntime (batch 1 and 3) against PyTorch.

Output: ``OUT/<name>-image.onnx``, ``OUT/<name>-text.onnx`` and the manifest
``OUT/<name>.json``.  Default names: ``clip-tiny`` / ``clip-vit-b-32-random-seed<seed>``
/ ``clip-vit-b-32-<tag>``, with ``-hf`` appended for the hf flavor.

Input conventions (both flavors): images are preprocessed exactly like
open_clip's eval transform (bicubic resize of the shortest side to 224,
center crop 224, RGB, /255, normalise with the OpenAI mean/std); text is
tokenised by ``open_clip.tokenize`` (SOT 49406, EOT 49407, zero padding to 77,
truncation keeps EOT as the last token).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings

import numpy as np
import torch
from torch import nn

ARCH = "ViT-B-32"
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

# Shared interface of every model we produce.
EMBED_DIM = 512
IMAGE_SIZE = 224
PATCH_SIZE = 32
CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408

FULL = dict(vision_width=768, vision_layers=12, vision_heads=12,
            text_width=512, text_layers=12, text_heads=8)
TINY = dict(vision_width=64, vision_layers=2, vision_heads=2,
            text_width=32, text_layers=2, text_heads=2)

HF_DEFAULT_ID = "openai/clip-vit-base-patch32"


# --------------------------------------------------------------------------
# model construction
# --------------------------------------------------------------------------

def build_open_clip(mode: str, seed: int, tag: str):
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    if mode == "pretrained":
        pcfg = open_clip.get_pretrained_cfg(ARCH, tag) or {}
        model, _, _ = open_clip.create_model_and_transforms(
            ARCH, pretrained=tag, force_quick_gelu=bool(pcfg.get("quick_gelu", False)))
        v = model.visual
        dims = dict(vision_width=v.conv1.out_channels,
                    vision_layers=len(v.transformer.resblocks),
                    vision_heads=v.transformer.resblocks[0].attn.num_heads,
                    text_width=model.transformer.width,
                    text_layers=len(model.transformer.resblocks),
                    text_heads=model.transformer.resblocks[0].attn.num_heads)
        act = "quick_gelu" if pcfg.get("quick_gelu", False) else "gelu"
        return model.eval(), dims, act

    dims = dict(FULL if mode == "random" else TINY)
    torch.manual_seed(seed)
    vision_cfg = CLIPVisionCfg(
        layers=dims["vision_layers"], width=dims["vision_width"],
        head_width=dims["vision_width"] // dims["vision_heads"],
        patch_size=PATCH_SIZE, image_size=IMAGE_SIZE)
    text_cfg = CLIPTextCfg(
        context_length=CONTEXT_LENGTH, vocab_size=VOCAB_SIZE,
        width=dims["text_width"], heads=dims["text_heads"], layers=dims["text_layers"])
    model = CLIP(embed_dim=EMBED_DIM, vision_cfg=vision_cfg, text_cfg=text_cfg, quick_gelu=True)
    return model.eval(), dims, "quick_gelu"


def hf_configs(dims):
    from transformers import CLIPTextConfig, CLIPVisionConfig
    vcfg = CLIPVisionConfig(
        hidden_size=dims["vision_width"], intermediate_size=4 * dims["vision_width"],
        num_hidden_layers=dims["vision_layers"], num_attention_heads=dims["vision_heads"],
        num_channels=3, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
        projection_dim=EMBED_DIM, hidden_act="quick_gelu", layer_norm_eps=1e-5)
    # eos_token_id=2 reproduces the config of openai/clip-vit-base-patch32 on the
    # Hub: pooling takes the argmax token id (= EOT 49407), exactly like open_clip.
    tcfg = CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=dims["text_width"],
        intermediate_size=4 * dims["text_width"], num_hidden_layers=dims["text_layers"],
        num_attention_heads=dims["text_heads"], max_position_embeddings=CONTEXT_LENGTH,
        projection_dim=EMBED_DIM, hidden_act="quick_gelu", layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=49406, eos_token_id=2)
    for c in (vcfg, tcfg):
        c._attn_implementation = "eager"
    return vcfg, tcfg


def build_hf(mode: str, seed: int, hf_id: str):
    from transformers import CLIPTextModelWithProjection, CLIPVisionModelWithProjection
    if mode == "pretrained":
        vis = CLIPVisionModelWithProjection.from_pretrained(hf_id, attn_implementation="eager")
        txt = CLIPTextModelWithProjection.from_pretrained(hf_id, attn_implementation="eager")
        vc, tc = vis.config, txt.config
        dims = dict(vision_width=vc.hidden_size, vision_layers=vc.num_hidden_layers,
                    vision_heads=vc.num_attention_heads, text_width=tc.hidden_size,
                    text_layers=tc.num_hidden_layers, text_heads=tc.num_attention_heads)
        return vis.eval(), txt.eval(), dims, vc.hidden_act
    dims = dict(FULL if mode == "random" else TINY)
    vcfg, tcfg = hf_configs(dims)
    torch.manual_seed(seed)
    vis = CLIPVisionModelWithProjection(vcfg)
    torch.manual_seed(seed + 1)
    txt = CLIPTextModelWithProjection(tcfg)
    return vis.eval(), txt.eval(), dims, "quick_gelu"


class OpenClipImage(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return self.model.encode_image(image)


class OpenClipText(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, text):
        return self.model.encode_text(text)


class HfImage(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values, return_dict=True)
        return out.image_embeds, out.last_hidden_state


class HfText(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        out = self.model(input_ids=input_ids, return_dict=True)
        return out.text_embeds, out.last_hidden_state


# --------------------------------------------------------------------------
# export + verification
# --------------------------------------------------------------------------

def slug(tag):
    """File-name-safe form of a tag, HF id or checkpoint path."""
    import re
    if os.path.exists(tag):
        tag = os.path.splitext(os.path.basename(os.path.normpath(tag)))[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tag).strip("-.") or "pretrained"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def example_inputs(batch, seed=1234):
    g = torch.Generator().manual_seed(seed + batch)
    image = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    text = torch.zeros(batch, CONTEXT_LENGTH, dtype=torch.int64)
    for i in range(batch):
        n = 3 + 5 * i
        text[i, 0] = 49406
        text[i, 1:n] = torch.randint(1, 49405, (n - 1,), generator=g)
        text[i, n] = 49407
    return image, text


def export_one(module, dummy, in_name, out_names, path, opset, out_shapes=None):
    dyn = {in_name: {0: "N"}}
    for o in out_names:
        dyn[o] = {0: "N"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (dummy,), path, input_names=[in_name], output_names=out_names,
            dynamic_axes=dyn, opset_version=opset, do_constant_folding=True,
            dynamo=False)
    import onnx
    m = onnx.load(path)  # loads external data too, if any were written
    if out_shapes:
        # the tracer leaves e.g. last_hidden_state as [N, sym, sym]; pin the static dims
        changed = False
        for o in m.graph.output:
            shape = out_shapes.get(o.name)
            if shape is None:
                continue
            for d, v in zip(o.type.tensor_type.shape.dim, shape):
                if isinstance(v, int) and d.dim_value != v:
                    d.Clear()
                    d.dim_value = v
                    changed = True
        if changed:
            onnx.save(m, path)
    onnx.checker.check_model(m)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer):
        raise SystemExit(f"{path}: weights were written as external data")
    ext = [f for f in os.listdir(os.path.dirname(path) or ".")
           if f.endswith(".data") and f.startswith(os.path.basename(path))]
    if ext:
        raise SystemExit(f"{path}: unexpected external data file(s) {ext}")


def io_desc(path):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    conv = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32"}

    def d(x):
        return {"name": x.name, "dtype": conv.get(x.type, x.type),
                "shape": [s if isinstance(s, int) else "N" for s in x.shape]}
    return [d(i) for i in sess.get_inputs()], [d(o) for o in sess.get_outputs()]


def verify(module, path, kind, atol):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    worst = 0.0
    for batch in (1, 3):
        image, text = example_inputs(batch)
        x = image if kind == "image" else text
        with torch.no_grad():
            ref = module(x)
        if isinstance(ref, torch.Tensor):
            ref = (ref,)
        got = sess.run(None, {in_name: x.numpy()})
        for r, g in zip(ref, got):
            r = r.numpy()
            if r.shape != g.shape:
                raise SystemExit(f"{path}: shape {g.shape} != torch {r.shape} (batch {batch})")
            worst = max(worst, float(np.abs(r - g).max()))
        if got[0].shape != (batch, EMBED_DIM):
            raise SystemExit(f"{path}: embedding shape {got[0].shape}")
    if worst > atol:
        raise SystemExit(f"{path}: onnxruntime differs from torch by {worst}")
    print(f"  verified {os.path.basename(path)}: batch 1 and 3, max |ort - torch| = {worst:.3g}")
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for details.")
    ap.add_argument("--mode", choices=["pretrained", "random", "tiny"], required=True)
    ap.add_argument("--flavor", choices=["open_clip", "hf"], default="open_clip")
    ap.add_argument("--tag", default="openai", help="open_clip pretrained tag (mode pretrained)")
    ap.add_argument("--hf-id", default=HF_DEFAULT_ID, help="HF model id (mode pretrained, flavor hf)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed (modes random, tiny)")
    ap.add_argument("--out", help="output directory (default: models/tiny for tiny, "
                                  "models/generated (git-ignored) otherwise)")
    ap.add_argument("--name", help="base file name (default depends on mode/flavor)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--no-text", action="store_true", help="skip the text tower")
    args = ap.parse_args(argv)

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    # nn.MultiheadAttention's inference fast path (aten::_native_multi_head_attention)
    # has no ONNX symbolic; force the plain decomposed path.
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)
    here = os.path.dirname(os.path.abspath(__file__))
    if args.out is None:
        args.out = os.path.join(here, "tiny" if args.mode == "tiny" else "generated")
    os.makedirs(args.out, exist_ok=True)

    if args.mode == "pretrained":
        if args.flavor == "open_clip":
            pretrained = args.tag
        else:
            pretrained = "openai" if args.hf_id == HF_DEFAULT_ID else args.hf_id
        base = "clip-vit-b-32-" + slug(pretrained)
    elif args.mode == "random":
        pretrained = f"random-seed{args.seed}"
        base = f"clip-vit-b-32-random-seed{args.seed}"
    else:
        pretrained = f"tiny-random-seed{args.seed}"
        base = "clip-tiny" if args.seed == 0 else f"clip-tiny-seed{args.seed}"
    name = args.name or (base + ("-hf" if args.flavor == "hf" else ""))

    if args.flavor == "open_clip":
        model, dims, act = build_open_clip(args.mode, args.seed, args.tag)
        out_shapes = {}
        towers = {"image": (OpenClipImage(model), "image", ["embedding"]),
                  "text": (OpenClipText(model), "text", ["embedding"])}
    else:
        vis, txt, dims, act = build_hf(args.mode, args.seed, args.hf_id)
        towers = {"image": (HfImage(vis), "pixel_values", ["image_embeds", "last_hidden_state"]),
                  "text": (HfText(txt), "input_ids", ["text_embeds", "last_hidden_state"])}
        n_tok = (IMAGE_SIZE // PATCH_SIZE) ** 2 + 1
        out_shapes = {"image": {"last_hidden_state": ["N", n_tok, dims["vision_width"]]},
                      "text": {"last_hidden_state": ["N", CONTEXT_LENGTH, dims["text_width"]]}}
    if args.no_text:
        del towers["text"]

    import onnx
    import onnxruntime
    import open_clip
    manifest = {
        "name": name,
        "architecture": ARCH,
        "pretrained": pretrained,
        "flavor": args.flavor,
        **({"hf_id": args.hf_id} if args.flavor == "hf" and args.mode == "pretrained" else {}),
        "embed_dim": EMBED_DIM,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
        "context_length": CONTEXT_LENGTH,
        "vocab_size": VOCAB_SIZE,
        **dims,
        "activation": act,
        "normalized_output": False,
        "opset": args.opset,
        "preprocess": {"resize": "shortest side to 224, bicubic (PIL)", "crop": "center 224x224",
                       "mean": OPENAI_MEAN, "std": OPENAI_STD, "layout": "NCHW RGB /255"},
        "tokenizer": {"kind": "open_clip.tokenize (OpenAI CLIP BPE)", "sot": 49406, "eot": 49407,
                      "pad": 0, "text_pooling": "argmax token id (EOT)"},
        "exported_with": {"torch": torch.__version__, "open_clip": open_clip.__version__,
                          "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }
    if args.flavor == "hf":
        import transformers
        manifest["exported_with"]["transformers"] = transformers.__version__

    atol = 1e-3 if args.mode == "tiny" else 5e-3
    for kind, (module, in_name, out_names) in towers.items():
        module.eval()
        path = os.path.join(args.out, f"{name}-{kind}.onnx")
        image, text = example_inputs(2)
        print(f"exporting {kind} tower -> {path}")
        export_one(module, image if kind == "image" else text, in_name, out_names, path, args.opset,
                   out_shapes.get(kind))
        err = verify(module, path, kind, atol)
        inputs, outputs = io_desc(path)
        manifest[kind] = {"file": os.path.basename(path), "sha256": sha256_file(path),
                          "bytes": os.path.getsize(path), "input": inputs[0] if len(inputs) == 1 else inputs,
                          "output": outputs[0] if len(outputs) == 1 else outputs,
                          "max_abs_diff_vs_torch": float(f"{err:.3g}")}

    mpath = os.path.join(args.out, f"{name}.json")
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
