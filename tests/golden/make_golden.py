#!/usr/bin/env python3
"""Generate pg_clip's golden reference data (deterministic, re-runnable).

    /opt/clipref/bin/python tests/golden/make_golden.py          # from the repo root

Writes
  tests/golden/images.json            per test image: stored size, PIL mode, EXIF
                                      orientation, reference tensor path, and the
                                      L2-normalised embeddings of the committed tiny
                                      ONNX models (open_clip and HF flavours)
  tests/golden/preprocess/<stem>.f32  reference preprocessed tensor, raw little-endian
                                      float32, shape [3,224,224] (CHW, RGB)
  tests/golden/text_embeddings.json   ~60 strings: open_clip.tokenize ids (77) and
                                      normalised tiny-model text embeddings

Reference preprocessing = open_clip's own eval transform for ViT-B-32, i.e.
``open_clip.image_transform(224, is_train=False)`` ==
Resize(224, bicubic, shortest side) -> CenterCrop(224) -> convert('RGB') ->
ToTensor (/255) -> Normalize(OpenAI mean/std), applied to
``ImageOps.exif_transpose(Image.open(path))``.

  * EXIF orientation IS applied before the transform.  Raw open_clip ignores
    EXIF (it just gets whatever PIL.Image.open returns); pg_clip applies it, so
    the golden data does too.
  * Animated GIF: the first frame, as PIL opens it (mode 'P').
  * The resize happens in the image's *native* PIL mode, before convert('RGB').
    Pillow's Image.resize (verified at run time below, see pil_facts()):
      - mode 'P' (palette) and '1' are always resized with NEAREST, whatever
        filter was asked for (torchvision asks for BICUBIC);
      - modes 'RGBA' and 'LA' are converted to premultiplied alpha ('RGBa'/'La'),
        resized, and converted back, so fully transparent pixels come out with
        RGB = 0 (black) after convert('RGB'), which simply drops alpha (no
        compositing on white);
      - if the image already has the target size, Image.resize is skipped
        entirely by torchvision (shortest side == 224): then RGB under
        transparent pixels is kept as stored;
      - 'CMYK' is resized per channel in CMYK, then converted to RGB
        (R = (255-C)*(255-K)/255 ...);
      - 16-bit RGB PNGs are opened by Pillow as 8-bit 'RGB' keeping only the
        high byte of each sample (truncation, not rounding).
  * torchvision Resize(224) on a PIL image: short side -> 224, long side ->
    int(224 * long / short) (truncated); CenterCrop(224): top =
    int(round((h - 224) / 2.0)), left = int(round((w - 224) / 2.0)) with Python's
    round (round-half-to-even).  Both are recorded per image in images.json.

Embeddings: onnxruntime CPU, graph optimisation ORT_ENABLE_ALL, running the
committed models/tiny/*.onnx on exactly the tensor stored in the .f32 file
(batch 1), then L2-normalised in float64 and stored as float.

``--images`` additionally (re)derives tests/images/ and tests/images/malformed/
from the photographs shipped inside scikit-image (skimage/data).  Encoded bytes
depend on the Pillow/libjpeg/libwebp versions, so by default the committed
images are left alone and only the golden data are recomputed from them.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
IMG_DIR = ROOT / "tests" / "images"
BAD_DIR = IMG_DIR / "malformed"
GOLD = ROOT / "tests" / "golden"
PRE_DIR = GOLD / "preprocess"
MODELS = ROOT / "models" / "tiny"

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


# ---------------------------------------------------------------------------
# test image derivation (only with --images)
# ---------------------------------------------------------------------------

def _skdata():
    import skimage.data
    return Path(skimage.data.__file__).parent


def _exif(orientation):
    from PIL import Image
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex


def _png16(path, arr16):
    """Write an RGB 16-bit PNG (Pillow cannot write 16-bit RGB)."""
    h, w, c = arr16.shape
    assert c == 3 and arr16.dtype == np.uint16
    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path.write_bytes(data)


def _png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def make_images():
    from PIL import Image, ImageDraw, ImageFilter
    sk = _skdata()
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    astronaut = Image.open(sk / "astronaut.png").convert("RGB")   # 512x512
    chelsea = Image.open(sk / "chelsea.png").convert("RGB")       # 451x300
    coffee = Image.open(sk / "coffee.png").convert("RGB")         # 600x400
    rocket = Image.open(sk / "rocket.jpg").convert("RGB")         # 640x427
    camera = Image.open(sk / "camera.png").convert("L")           # 512x512
    coins = Image.open(sk / "coins.png").convert("L")             # 384x303
    hubble = Image.open(sk / "hubble_deep_field.jpg").convert("RGB")  # 1000x872
    out = {}

    def save(name, im, **kw):
        p = IMG_DIR / name
        im.save(p, **kw)
        out[name] = p

    # JPEG variants
    save("astronaut-baseline.jpg", astronaut, quality=90)
    save("coffee-progressive.jpg", coffee, quality=88, progressive=True, optimize=True)
    # EXIF orientation: pixels stored the way a camera would (sideways/upside
    # down); applying the tag makes the picture upright.
    save("cat-exif-rot6.jpg", chelsea.transpose(Image.Transpose.ROTATE_90), quality=90, exif=_exif(6))
    save("rocket-exif-rot8.jpg", rocket.transpose(Image.Transpose.ROTATE_270), quality=90, exif=_exif(8))
    save("coffee-exif-rot3.jpg", coffee.transpose(Image.Transpose.ROTATE_180), quality=85, exif=_exif(3))
    # CMYK with a real K channel (under-colour removal), Adobe-inverted as Pillow writes it
    a = np.asarray(rocket).astype(np.float64) / 255.0
    k = 1.0 - a.max(axis=2)
    denom = np.where(k < 1.0, 1.0 - k, 1.0)
    cmy = (1.0 - a - k[..., None]) / denom[..., None]
    cmyk = np.concatenate([cmy, k[..., None]], axis=2)
    save("rocket-cmyk.jpg", Image.fromarray(np.round(cmyk * 255).astype(np.uint8), "CMYK"), quality=90)
    save("camera-gray.jpg", camera, quality=90)
    w, h = rocket.size
    save("rocket-portrait.jpg", rocket.crop(((w - 256) // 2, 0, (w - 256) // 2 + 256, h)), quality=90)
    band = hubble.crop((0, 436 - 62, 1000, 436 + 63))               # 1000x125
    save("hubble-wide-1200x150.jpg", band.resize((1200, 150), Image.Resampling.LANCZOS), quality=90)

    # PNG variants
    save("chelsea-rgb.png", chelsea, optimize=True)
    save("coins-gray.png", coins, optimize=True)
    # RGBA with real transparency: opaque ellipse, soft edge, fully transparent
    # outside; the RGB under transparent pixels is kept (not zeroed).
    mask = Image.new("L", coffee.size, 0)
    ImageDraw.Draw(mask).ellipse((90, 30, 510, 370), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(12))
    rgba = coffee.copy()
    rgba.putalpha(mask)
    save("coffee-rgba.png", rgba, optimize=True)
    # same, already 224 on the short side: torchvision skips the resize, so the
    # stored RGB under transparent pixels survives into the tensor.
    small = coffee.resize((336, 224), Image.Resampling.LANCZOS)
    m2 = mask.resize((336, 224), Image.Resampling.LANCZOS)
    small.putalpha(m2)
    save("coffee-rgba-336x224.png", small, optimize=True)
    # LA: grayscale + alpha gradient
    la = camera.resize((300, 300), Image.Resampling.LANCZOS)
    grad = Image.linear_gradient("L").resize((300, 300)).transpose(Image.Transpose.ROTATE_90)
    la = Image.merge("LA", (la, grad))
    save("camera-la.png", la, optimize=True)
    save("astronaut-palette.png",
         astronaut.resize((384, 384), Image.Resampling.LANCZOS).quantize(256), optimize=True)
    # 16-bit RGB: astronaut 2x box-downsampled in float, so the low byte carries
    # real information (decoders that round instead of truncate will differ by 1).
    a16 = np.asarray(astronaut).astype(np.float64).reshape(256, 2, 256, 2, 3).mean(axis=(1, 3))
    a16 = a16 * 257.0 + np.fromfunction(lambda y, x, c: ((y * 7 + x * 13 + c * 29) % 97) - 48, a16.shape)
    _png16(IMG_DIR / "astronaut-16bit.png", np.clip(np.round(a16), 0, 65535).astype(np.uint16))
    out["astronaut-16bit.png"] = IMG_DIR / "astronaut-16bit.png"
    save("cat-tiny-20x14.png", chelsea.resize((20, 14), Image.Resampling.LANCZOS))

    # other formats
    save("rocket-lossy.webp", rocket, quality=80, method=4)
    frames = [chelsea.resize((300, 200), Image.Resampling.LANCZOS)]
    frames.append(frames[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    frames.append(frames[0].convert("L").convert("RGB"))
    pal = [f.quantize(256, method=Image.Quantize.MEDIANCUT) for f in frames]
    pal[0].save(IMG_DIR / "cat-animated.gif", save_all=True, append_images=pal[1:], duration=200, loop=0)
    out["cat-animated.gif"] = IMG_DIR / "cat-animated.gif"
    save("cat.bmp", chelsea)                       # 24-bit, odd width 451 -> row padding

    make_malformed(sk)
    return out


def make_malformed(sk):
    from PIL import Image
    BAD_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    jpg = (IMG_DIR / "astronaut-baseline.jpg").read_bytes()
    png = (IMG_DIR / "chelsea-rgb.png").read_bytes()
    (BAD_DIR / "empty.jpg").write_bytes(b"")
    (BAD_DIR / "truncated.jpg").write_bytes(jpg[: int(len(jpg) * 0.4)])
    (BAD_DIR / "truncated.png").write_bytes(png[: int(len(png) * 0.4)])
    (BAD_DIR / "not-an-image.txt").write_bytes(
        b"This is a plain text file, not an image.\nIt has a .txt extension and no image magic bytes.\n")
    (BAD_DIR / "random-bytes.bin").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())

    # PNG claiming 60000x60000 RGB: valid header + CRCs, a tiny IDAT holding a
    # few zero scanlines of a deflate stream that would inflate to ~10.8 GB.
    w = h = 60000
    comp = zlib.compressobj(9)
    idat = comp.compress(b"\x00" * (1 + 3 * w) * 8) + comp.flush(zlib.Z_SYNC_FLUSH)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    (BAD_DIR / "bomb-60000x60000.png").write_bytes(data)

    # JPEG claiming 30000x30000: take a real 16x16 baseline JPEG and patch the
    # SOF0 height/width fields.
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(buf, "JPEG", quality=90)
    b = bytearray(buf.getvalue())
    i = 2
    while i < len(b):
        assert b[i] == 0xFF
        marker, seglen = b[i + 1], struct.unpack(">H", b[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            b[i + 5:i + 9] = struct.pack(">HH", 30000, 30000)
            break
        i += 2 + seglen
    (BAD_DIR / "huge-dims-30000x30000.jpg").write_bytes(bytes(b))

    # TIFF (a valid image in a format pg_clip does not support)
    Image.open(sk / "chelsea.png").convert("RGB").resize((90, 60)).save(BAD_DIR / "cat.tiff", compression="raw")

    # GIF with a valid header/palette but corrupt LZW data and no complete frame
    buf = io.BytesIO()
    Image.new("P", (32, 32), 1).save(buf, "GIF")
    g = bytearray(buf.getvalue())
    j = g.index(b"\x2c")                        # image descriptor
    lzw_start = j + 10 + 1                      # descriptor (10) + LZW min code size (1)
    sub = bytes([12]) + bytes([0xFF] * 12)      # one sub-block of garbage codes
    corrupt = g[:lzw_start] + sub + b"\x00\x3b"
    (BAD_DIR / "corrupt-lzw.gif").write_bytes(bytes(corrupt))
    # GIF header + logical screen + trailer: zero frames
    hdr = g[:13 + 3 * (2 ** ((g[10] & 7) + 1))] if g[10] & 0x80 else g[:13]
    (BAD_DIR / "zero-frames.gif").write_bytes(bytes(hdr) + b"\x3b")


# ---------------------------------------------------------------------------
# Pillow facts (verified, not assumed)
# ---------------------------------------------------------------------------

def pil_facts():
    from PIL import Image
    src = inspect.getsource(Image.Image.resize)
    facts = {
        "resize_P_and_1_forced_NEAREST": 'if self.mode in ("1", "P"):' in src
        and "resample = Resampling.NEAREST" in src,
        "resize_RGBA_LA_premultiplied": '"RGBA": "RGBa"' in src,
    }
    # empirical confirmation
    rng = np.random.default_rng(1)
    p = Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)).quantize(64)
    facts["P_bicubic_equals_nearest"] = (
        np.array_equal(np.asarray(p.resize((20, 11), Image.Resampling.BICUBIC)),
                       np.asarray(p.resize((20, 11), Image.Resampling.NEAREST))))
    rgba = rng.integers(0, 255, (37, 53, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rng.random((37, 53)) < 0.5, 0, 255)
    im = Image.fromarray(rgba, "RGBA")
    direct = np.asarray(im.resize((20, 11), Image.Resampling.BICUBIC))
    via = np.asarray(im.convert("RGBa").resize((20, 11), Image.Resampling.BICUBIC).convert("RGBA"))
    facts["RGBA_resize_equals_premultiplied_path"] = bool(np.array_equal(direct, via))
    zero = Image.fromarray(np.dstack([np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4, 1), np.uint8)]), "RGBA")
    facts["fully_transparent_rgb_after_resize"] = np.asarray(
        zero.resize((2, 2), Image.Resampling.BICUBIC).convert("RGB"))[0, 0].tolist()
    return facts


# ---------------------------------------------------------------------------
# golden data
# ---------------------------------------------------------------------------

TEXTS = [
    "",
    " ",
    "a",
    "a photo of a cat",
    "a photo of a dog",
    "A PHOTO OF A CAT",
    "  a   photo\tof\na cat  ",
    "a photo of an astronaut",
    "a cup of coffee on a wooden table",
    "a rocket launching into the sky",
    "the hubble deep field",
    "a black and white photograph of a camera man",
    "an orange tabby cat lying on a rug, looking at the camera",
    "Hello, world!",
    "What's up? I'm fine, you'll see; they'd've done it.",
    "don't won't can't shouldn't",
    "e-mail: someone@example.com, url: https://example.com/a?b=c&d=e",
    "1234567890",
    "3.14159 2.71828 1e-10",
    "100% of $5 = $5; 50% off!!!",
    "#hashtag @mention",
    "!!!???...,,,;;;:::",
    "(parentheses) [brackets] {braces} <angles>",
    "tab\tseparated\tvalues",
    "line one\nline two\r\nline three",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 jalape\u00f1o",
    "cafe\u0301 (combining acute accent)",
    "Stra\u00dfe \u00fcber \u00c4rger",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440",
    "\u03b3\u03b1\u03c4\u03b1 \u03c3\u03c4\u03bf \u03c3\u03c0\u03af\u03c4\u03b9",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "\u732b\u306e\u5199\u771f",
    "\u4e00\u53ea\u732b\u7684\u7167\u7247",
    "\uace0\uc591\uc774 \uc0ac\uc9c4",
    "\u30cd\u30b3\u3068\u30b3\u30fc\u30d2\u30fc",
    "\U0001f431",
    "\U0001f431\U0001f436\U0001f680\u2615",
    "a cat \U0001f63a and a rocket \U0001f680",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f44d\U0001f3fd thumbs up",
    "\U0001f1ef\U0001f1f5 flag",
    "&amp; &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot; &#39;apos&#39;",
    "&amp;amp; double-escaped",
    "<b>html</b> <i>tags</i>",
    "fish &amp; chips",
    "\u2018smart quotes\u2019 \u201cdouble\u201d \u2014 dash \u2026",
    "mojibake: caf\u00c3\u00a9",
    "zero\u200bwidth\u200bspace",
    "non\u00a0breaking\u00a0space",
    "<start_of_text> literal special token",
    "before <end_of_text> after",
    "ALLCAPS CamelCase snake_case kebab-case",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["word"] * 75),
    " ".join(["word"] * 76),
    " ".join(f"token{i}" for i in range(120)),
    ("A very long description of a photograph. " * 30).strip(),
    "\u00bd \u2153 \u00b2 \u2460 \u2160 \uff21\uff22\uff23 \ufb01",
]


def l2(v):
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return (v / np.linalg.norm(v)).astype(np.float32)


def floats(v):
    # shortest decimal that round-trips to the same float32
    return [float(str(x)) for x in np.asarray(v, dtype=np.float32)]


def dumps(obj):
    """indent=1 JSON, but numeric lists on a single line (keeps diffs readable)."""
    import re
    s = json.dumps(obj, indent=1, ensure_ascii=False)
    # JSON strings cannot contain a raw newline, so "[\n<numbers>]" only matches real lists
    return re.sub(r"\[\n\s*(-?[0-9][-0-9.eE,\s]*?)\s*\]",
                  lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", s) + "\n"


def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def geometry(w, h, size=224):
    """torchvision Resize(size) + CenterCrop(size) arithmetic for a PIL image."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    if (nw, nh) == (w, h):
        resized = False
    else:
        resized = True
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    return {"resized_to": [nw, nh], "resize_skipped": not resized, "crop_left": left, "crop_top": top}


def versions():
    import PIL
    import ftfy
    import onnx
    import onnxruntime
    import open_clip
    import torch
    import torchvision
    from PIL import features
    v = {"python": sys.version.split()[0], "open_clip": open_clip.__version__, "torch": torch.__version__,
         "torchvision": torchvision.__version__, "Pillow": PIL.__version__,
         "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
         "ftfy": ftfy.__version__,
         "libjpeg": features.version("jpg"), "libjpeg_turbo": features.version("libjpeg_turbo"), "libwebp": features.version("webp"),
         "zlib": features.version("zlib")}
    try:
        import transformers
        v["transformers"] = transformers.__version__
    except ImportError:
        pass
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description="regenerate pg_clip golden data")
    ap.add_argument("--images", action="store_true",
                    help="also re-derive tests/images (and malformed/) from scikit-image data")
    args = ap.parse_args(argv)

    import open_clip
    import torch
    from PIL import Image, ImageOps
    torch.set_num_threads(1)

    if args.images:
        make_images()

    facts = pil_facts()
    print("Pillow resize facts (installed version):")
    for k, v in facts.items():
        print(f"  {k}: {v}")

    preprocess = open_clip.image_transform(224, is_train=False)
    # identical to the eval transform create_model_and_transforms('ViT-B-32') returns
    _, _, pv = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    assert repr(pv) == repr(preprocess), (repr(pv), repr(preprocess))
    print("preprocess:", repr(preprocess).replace("\n", " "))

    s_img = ort_session(MODELS / "clip-tiny-image.onnx")
    s_img_hf = ort_session(MODELS / "clip-tiny-hf-image.onnx")
    s_txt = ort_session(MODELS / "clip-tiny-text.onnx")
    hf_text_path = MODELS / "clip-tiny-hf-text.onnx"
    s_txt_hf = ort_session(hf_text_path) if hf_text_path.exists() else None

    PRE_DIR.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in IMG_DIR.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    entries = []
    for p in files:
        with Image.open(p) as im:
            stored_w, stored_h = im.size
            mode = im.mode
            fmt = im.format
            orient = im.getexif().get(0x0112)
            n_frames = getattr(im, "n_frames", 1)
            up = ImageOps.exif_transpose(im)        # first frame for GIF
            up.load()
        geo = geometry(*up.size)
        x = preprocess(up)
        assert tuple(x.shape) == (3, 224, 224) and x.dtype == torch.float32
        arr = x.numpy().astype("<f4", copy=False)
        pre_path = PRE_DIR / (p.stem + ".f32")
        pre_path.write_bytes(np.ascontiguousarray(arr).tobytes())
        batch = arr[None]
        e_oc = s_img.run(["embedding"], {"image": batch})[0][0]
        e_hf = s_img_hf.run(["image_embeds"], {"pixel_values": batch})[0][0]
        entries.append({
            "file": f"tests/images/{p.name}",
            "format": fmt,
            "width": stored_w,
            "height": stored_h,
            "mode": mode,
            "frames": n_frames,
            "exif_orientation": orient,
            "upright_width": up.size[0],
            "upright_height": up.size[1],
            **geo,
            "preprocess": f"tests/golden/preprocess/{pre_path.name}",
            "preprocess_mean": float(arr.astype(np.float64).mean()),
            "emb_tiny_open_clip": floats(l2(e_oc)),
            "emb_tiny_hf": floats(l2(e_hf)),
        })
        print(f"  {p.name:28s} {fmt:5s} {mode:5s} {stored_w}x{stored_h} orient={orient} -> {geo}")

    model_info = {}
    for n in ("clip-tiny", "clip-tiny-hf"):
        mf = json.loads((MODELS / f"{n}.json").read_text())
        model_info[n] = {k: mf[k]["sha256"] for k in ("image", "text") if k in mf}

    note = {
        "note": ("Reference preprocessing: open_clip.image_transform(224, is_train=False) (== the eval "
                 "transform of create_model_and_transforms('ViT-B-32')) applied to "
                 "ImageOps.exif_transpose(Image.open(file)); GIF = first frame. Tensors are raw "
                 "little-endian float32 [3,224,224]. Embeddings: onnxruntime CPU (ORT_ENABLE_ALL) on the "
                 "committed models/tiny models, L2-normalised. width/height/mode are as stored/opened "
                 "by PIL before EXIF transpose."),
        "pil_resize_facts": facts,
        "versions": versions(),
        "models_sha256": model_info,
        "regenerate": "/opt/clipref/bin/python tests/golden/make_golden.py",
    }
    (GOLD / "images.json").write_text(dumps({**note, "images": entries}), encoding="utf-8")

    tok = open_clip.tokenize(TEXTS)
    assert tok.shape == (len(TEXTS), 77)
    ids = tok.numpy().astype(np.int64)
    t_entries = []
    for i, t in enumerate(TEXTS):
        row = ids[i:i + 1]
        e = {"text": t, "tokens": [int(v) for v in row[0]],
             "n_tokens": int((row[0] != 0).sum()), "truncated": False,
             "emb_tiny_open_clip": floats(l2(s_txt.run(["embedding"], {"text": row})[0][0]))}
        full = [49406] + open_clip.tokenizer._tokenizer.encode(t) + [49407]
        e["truncated"] = len(full) > 77
        if s_txt_hf is not None:
            e["emb_tiny_hf"] = floats(l2(s_txt_hf.run(["text_embeds"], {"input_ids": row})[0][0]))
        t_entries.append(e)
    (GOLD / "text_embeddings.json").write_text(dumps(
        {"note": ("tokens = open_clip.tokenize(text)[0] (SOT 49406, EOT 49407, zero padding, truncation "
                  "keeps EOT at index 76). Embeddings: committed tiny text models, onnxruntime CPU, "
                  "L2-normalised. A literal '<end_of_text>' / '<start_of_text>' in the input is matched "
                  "by open_clip's tokenizer as the special token."),
         "versions": versions(), "models_sha256": model_info,
         "texts": t_entries}), encoding="utf-8")
    print(f"wrote {len(entries)} image entries, {len(t_entries)} text entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
