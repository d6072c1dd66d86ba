#!/usr/bin/env python3
"""Generate pg_clip's parity corpus and its Pillow reference outputs (deterministic).

    python3 tests/parity/gen_corpus.py        # from the repo root; needs Pillow (13.0.0) and numpy

Writes
  tests/parity/corpus/<class>/<name>.<ext>   small images covering the features the five formats have
                                             (written by Pillow, or by the byte writers below where
                                             Pillow cannot write the variant)
  tests/parity/reference/<name>.png          the reference 224x224 RGB crop, lossless (8-bit PNG)
  tests/parity/manifest.json                 one entry per file: class, what Pillow opened it as, and
                                             the reference (or Pillow's error when Pillow refuses it)

The reference is the pipeline pg_clip documents, run by Pillow alone:
ImageOps.exif_transpose(Image.open(f)) -> resize shortest side to 224 (long side int(224*long/short),
BICUBIC, skipped when the size is already right) -> centre crop 224 (Python round) -> convert('RGB').
That is exactly what open_clip's ViT-B-32 eval transform does on a PIL image up to ToTensor (checked:
this function reproduces every tests/golden/preprocess/*.f32 bit for bit), so the uint8 crop is the
whole reference; ToTensor/Normalize are applied on the Rust side by the same code the golden test
checks. The tiny-model embeddings are computed in the Rust test (tract) from both tensors.

Pixel content is fixed (numpy default_rng(12)); encoded bytes depend on Pillow and its libraries
(versions in manifest.json), so regenerate only with the same versions, or recommit corpus and
references together.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, features

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "parity"
CORPUS = OUT / "corpus"
REF = OUT / "reference"

W, H = 40, 27  # landscape and odd, so every orientation and crop rounding is visible

# --------------------------------------------------------------------------- pixel content

RNG = np.random.default_rng(12)


def base_rgb(w=W, h=H):
    """Smooth gradients, an off-centre block and a little noise: asymmetric in both axes."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 3.0 + y / 5.0)
    img = np.stack([r, g, b], axis=2)
    img[h // 5 : h // 2, w // 6 : w // 3] = [250, 20, 40]
    img += RNG.normal(0, 6, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


RGB = base_rgb()
GRAY = np.asarray(Image.fromarray(RGB).convert("L"))
ALPHA = np.clip(np.round(np.mgrid[0:H, 0:W][1] * 255 / (W - 1)), 0, 255).astype(np.uint8)
ALPHA[:, :4] = 0  # fully transparent columns: premultiplication must zero them
PAL_IMG = Image.fromarray(RGB).quantize(16, method=Image.Quantize.MEDIANCUT)


def rgb_img():
    return Image.fromarray(RGB)


# --------------------------------------------------------------------------- reference

def reference(path):
    im = Image.open(path)
    info = {"pil_format": im.format, "pil_mode": im.mode, "size": list(im.size)}
    im = ImageOps.exif_transpose(im)
    w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w)
    nl = int(224 * long_ / short)
    nw, nh = (224, nl) if w <= h else (nl, 224)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    im = im.crop((left, top, left + 224, top + 224)).convert("RGB")
    info["upright_size"] = [w, h]
    return im, info


# --------------------------------------------------------------------------- EXIF / XMP bytes

def tiff_exif(orientation, *, endian="<", typ=3, count=1, extra_tags=(), broken=None):
    """A TIFF header + IFD0 with the orientation tag (and optional others), as JPEG/PNG/WebP carry it."""
    e = endian
    tags = [(0x0112, typ, count, orientation)] + list(extra_tags)
    tags.sort()
    ifd = struct.pack(e + "H", len(tags))
    for tag, t, c, v in tags:
        if t == 3:
            val = struct.pack(e + "HH", v, 0)
        else:
            val = struct.pack(e + "I", v)
        ifd += struct.pack(e + "HHI", tag, t, c) + val
    next_ifd = struct.pack(e + "I", 0 if broken != "next-ifd" else 0x7FFFFFF0)
    head = (b"II" if e == "<" else b"MM") + struct.pack(e + "HI", 42, 8)
    data = head + ifd + next_ifd
    if broken == "truncated":
        data = data[: len(data) - 3]
    if broken == "count":  # entry count larger than the entries present
        data = head + struct.pack(e + "H", len(tags) + 20) + ifd[2:] + next_ifd
    return data


def xmp(orientation, attr=True):
    body = (f'tiff:Orientation="{orientation}"' if attr else "")
    inner = "" if attr else f"<tiff:Orientation>{orientation}</tiff:Orientation>"
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" {body}>{inner}'
        "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
    ).encode()


def fake_icc():
    """A syntactically valid (tiny) ICC profile header: Pillow keeps it in info, never applies it."""
    body = bytearray(128)
    struct.pack_into(">I", body, 0, 132)
    body[4:8] = b"none"
    struct.pack_into(">I", body, 8, 0x02100000)
    body[12:16], body[16:20], body[20:24] = b"mntr", b"RGB ", b"XYZ "
    body[36:40] = b"acsp"
    return bytes(body) + struct.pack(">I", 0)


# --------------------------------------------------------------------------- JPEG

def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def jpeg_insert(data, segments):
    """Insert raw marker segments right after SOI (and after JFIF APP0 if present)."""
    pos = 2
    if data[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:pos] + b"".join(segments) + data[pos:]


def seg(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


# --------------------------------------------------------------------------- PNG

def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_rows(samples, depth):
    """samples: (h, w, c) ints -> filtered (type 0) scanlines, packed at `depth` bits."""
    h, w, c = samples.shape
    out = b""
    for y in range(h):
        row = samples[y].reshape(-1)
        if depth == 16:
            raw = row.astype(">u2").tobytes()
        elif depth == 8:
            raw = row.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            vals = list(row) + [0] * ((-len(row)) % per)
            raw = bytes(
                sum(int(vals[i + k]) << (8 - depth * (k + 1)) for k in range(per))
                for i in range(0, len(vals), per)
            )
        out += b"\x00" + raw
    return out


def png_bytes(samples, color_type, depth, *, interlace=False, plte=None, trns=None, chunks_before=(), chunks_after=()):
    h, w = samples.shape[:2]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.size:
                raw += png_rows(sub, depth)
    else:
        raw = png_rows(samples, depth)
    d = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    d += b"".join(chunks_before)
    if plte is not None:
        d += png_chunk(b"PLTE", plte)
    if trns is not None:
        d += png_chunk(b"tRNS", trns)
    d += png_chunk(b"IDAT", zlib.compress(raw, 9)) + b"".join(chunks_after) + png_chunk(b"IEND", b"")
    return d


def scale(a, depth):
    """8-bit samples to `depth` bits (top bits; 16-bit gets a varying low byte)."""
    a = a.astype(np.int64)
    if depth == 16:
        return a * 257 + (np.arange(a.size).reshape(a.shape) * 37 % 255) - 127 * (a > 0) * (a < 255)
    return a >> (8 - depth)


# --------------------------------------------------------------------------- GIF

def gif_from_pillow(im, **kw):
    b = io.BytesIO()
    im.save(b, "GIF", **kw)
    return b.getvalue()


def gif_split(data):
    """(header+LSD without table, global table bytes, rest)"""
    packed = data[10]
    assert packed & 0x80, "Pillow wrote a global table"
    n = 3 * (2 << (packed & 7))
    return data[:13], data[13 : 13 + n], data[13 + n :], packed


def gif_move_table(data, where):
    """Rewrite a Pillow GIF with a global table into one with a local table ("local") or none ("none")."""
    head, table, rest, packed = gif_split(data)
    head = bytearray(head)
    head[10] = packed & 0x70  # no global table
    i = rest.index(b"\x2c")
    while True:  # find the image descriptor (skip extensions)
        if rest[i] == 0x2C:
            break
        i += 1
    desc = bytearray(rest[i : i + 10])
    if where == "local":
        desc[9] = (desc[9] & 0x40) | 0x80 | (packed & 7)
        return bytes(head) + rest[:i] + bytes(desc) + table + rest[i + 10 :]
    desc[9] &= 0x40
    return bytes(head) + rest[:i] + bytes(desc) + rest[i + 10 :]


# --------------------------------------------------------------------------- BMP

def bmp_palette(pal_rgb, n, entry=4):
    out = b""
    for i in range(n):
        r, g, b = pal_rgb[3 * i : 3 * i + 3] if 3 * i + 3 <= len(pal_rgb) else (0, 0, 0)
        out += bytes([b, g, r]) + (b"\x00" if entry == 4 else b"")
    return out


def bmp_rows(idx, bits, topdown=False, r565=False):
    h, w = idx.shape[:2]
    rows = []
    for y in range(h):
        r = idx[y]
        if bits == 24:
            raw = r[:, ::-1].astype(np.uint8).tobytes()
        elif bits == 32 and r.shape[1] == 4:
            raw = r[:, [2, 1, 0, 3]].astype(np.uint8).tobytes()
        elif bits == 32:
            raw = np.concatenate([r[:, ::-1], np.full((w, 1), 0, np.uint8)], axis=1).tobytes()
        elif bits == 16 and r565:
            v = ((r[:, 0].astype(np.uint16) >> 3) << 11) | ((r[:, 1].astype(np.uint16) >> 2) << 5) | (r[:, 2].astype(np.uint16) >> 3)
            raw = v.astype("<u2").tobytes()
        elif bits == 16:
            v = ((r[:, 0].astype(np.uint16) >> 3) << 10) | ((r[:, 1].astype(np.uint16) >> 3) << 5) | (r[:, 2].astype(np.uint16) >> 3)
            raw = v.astype("<u2").tobytes()
        elif bits == 8:
            raw = r.astype(np.uint8).tobytes()
        else:
            per = 8 // bits
            vals = list(r) + [0] * ((-len(r)) % per)
            raw = bytes(sum(int(vals[i + k]) << (8 - bits * (k + 1)) for k in range(per)) for i in range(0, len(vals), per))
        raw += b"\x00" * ((-len(raw)) % 4)
        rows.append(raw)
    if not topdown:
        rows = rows[::-1]
    return b"".join(rows)


def rle8(idx, topdown=False, delta_at=None, short=False):
    """Encoded runs (count, value) with one absolute run per row and an optional delta (skipped pixels)."""
    h, w = idx.shape
    rows = range(h) if topdown else range(h - 1, -1, -1)
    out = b""
    for n, y in enumerate(rows):
        r = [int(v) for v in idx[y]]
        x = 0
        if delta_at is not None and n == delta_at:
            out += bytes([0, 2, 5, 0])  # skip 5 pixels to the right
            x = 5
        # an absolute run of 3 pixels first (word aligned: pad), then encoded runs
        if x + 3 <= w:
            out += bytes([0, 3]) + bytes(r[x : x + 3]) + b"\x00"
            x += 3
        while x < w:
            v, k = r[x], 1
            while x + k < w and r[x + k] == v and k < 255:
                k += 1
            out += bytes([k, v])
            x += k
        out += b"\x00\x00"
    out += b"\x00\x01"
    if short:
        out = out[: len(out) // 2]
    return out


def rle4(idx, topdown=False):
    h, w = idx.shape
    rows = range(h) if topdown else range(h - 1, -1, -1)
    out = b""
    for y in rows:
        r = [int(v) for v in idx[y]]
        x = 0
        while x < w:
            a = r[x]
            b = r[x + 1] if x + 1 < w else 0
            k = 2
            while x + k + 1 < w and r[x + k] == a and r[x + k + 1] == b and k < 254:
                k += 2
            k = min(k, w - x)
            out += bytes([k, (a << 4) | b])
            x += k
        out += b"\x00\x00"
    return out + b"\x00\x01"


def bmp_bytes(pixels, bits, *, header=40, pal=None, ncolors=None, compression=0, data=None, topdown=False,
              planes=1, gap=0, masks=None, entry=None):
    """A BMP from parts: header 12 (OS/2 v1), 40, 64 (OS/2 v2), 108 (v4), 124 (v5)."""
    h, w = pixels.shape[:2]
    if data is None:
        data = bmp_rows(pixels, bits, topdown, r565=masks is not None and masks[:3] == (0xF800, 0x7E0, 0x1F))
    entry = entry or (3 if header == 12 else 4)
    palette = b""
    if bits <= 8:
        n = ncolors or (1 << bits)
        palette = bmp_palette(pal, n, entry)
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, planes, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", header, w, -h if topdown else h, planes, bits, compression, len(data),
                           2835, 2835, ncolors or 0, 0)
        if header >= 52 and masks:
            info += struct.pack("<IIII", *masks)
        info += b"\x00" * (header - len(info))
    extra = b""
    if header == 40 and masks:
        extra = struct.pack("<III", *masks[:3])
    offset = 14 + len(info) + len(extra) + len(palette) + gap
    body = info + extra + palette + b"\x00" * gap + data
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, offset) + body


# --------------------------------------------------------------------------- the matrix

def build():
    files = []  # (class, name, bytes)

    def add(cls, name, data):
        files.append((cls, name, data))

    def save(cls, name, im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        add(cls, name, b.getvalue())

    im = rgb_img()
    # ---- JPEG. Feature files are 4:4:4, so that what they test (a container feature) is not hidden
    # by chroma upsampling rounding, which the 4:2:0 / 4:2:2 files measure on their own.
    q = dict(quality=90, subsampling=0)
    save("jpeg-420", "baseline-420.jpg", im, "JPEG", quality=90)
    save("jpeg-420", "baseline-422.jpg", im, "JPEG", quality=90, subsampling=1)
    save("jpeg-420", "progressive-420.jpg", im, "JPEG", quality=85, progressive=True)
    save("jpeg-420", "odd-3x50-420.jpg", Image.fromarray(base_rgb(3, 50)), "JPEG", quality=90)
    save("jpeg", "baseline-444.jpg", im, "JPEG", **q)
    save("jpeg", "progressive.jpg", im, "JPEG", progressive=True, **q)
    save("jpeg", "optimized.jpg", im, "JPEG", optimize=True, **q)
    save("jpeg", "gray.jpg", im.convert("L"), "JPEG", quality=90)
    save("jpeg", "cmyk.jpg", im.convert("CMYK"), "JPEG", quality=90)
    save("jpeg", "icc.jpg", im, "JPEG", icc_profile=fake_icc(), **q)
    save("jpeg", "odd-1x1.jpg", Image.fromarray(RGB[:1, :1]), "JPEG", **q)
    save("jpeg", "odd-3x50.jpg", Image.fromarray(base_rgb(3, 50)), "JPEG", **q)
    save("jpeg", "restart.jpg", im, "JPEG", restart_marker_blocks=1, **q)
    for o in range(1, 9):
        save("jpeg-exif", f"orient-{o}.jpg", im, "JPEG", exif=b"Exif\0\0" + tiff_exif(o), **q)
    base = jpeg_bytes(im, **q)
    exif6 = b"Exif\0\0" + tiff_exif(6)
    add("jpeg-exif", "orient-6-bigendian.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(6, endian=">"))]))
    add("jpeg-exif", "orient-6-long.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(6, typ=4))]))
    add("jpeg-exif", "orient-6-bad-next-ifd.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(6, broken="next-ifd"))]))
    add("jpeg-exif", "orient-6-truncated.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(6, broken="truncated"))]))
    add("jpeg-exif", "orient-6-bad-count.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(6, broken="count"))]))
    # A tag before the orientation whose data lies outside the block: Pillow stops reading there.
    add("jpeg-exif", "orient-6-extra-tags.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(
        6, extra_tags=[(0x010F, 2, 40, 0x7FFF0000), (0x8769, 4, 1, 0x7FFF0000)]))]))
    add("jpeg-exif", "orient-6-count-2.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(6, count=2))]))
    add("jpeg-exif", "orient-6-then-3-same-ifd.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(
        6, extra_tags=[(0x0112, 3, 1, 3)]))]))
    # Not TIFF after the prefix: Pillow's exif_transpose raises on it (SyntaxError), so Pillow refuses.
    add("jpeg-exif", "exif-not-tiff.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0garbage!")]))
    # RATIONAL 6/1 (out of line) and FLOAT 8.0: Pillow's values compare equal to 6 and 8.
    rat = b"II*\0\x08\0\0\0" + struct.pack("<HHHII", 1, 0x0112, 5, 1, 26) + b"\0" * 4 + struct.pack("<II", 6, 1)
    add("jpeg-exif", "orient-6-rational.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + rat)]))
    flt = b"II*\0\x08\0\0\0" + struct.pack("<HHHIf", 1, 0x0112, 11, 1, 8.0) + b"\0" * 4
    add("jpeg-exif", "orient-8-float.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + flt)]))
    add("jpeg-exif", "orient-9-invalid.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(9))]))
    add("jpeg-exif", "orient-two-app1.jpg", jpeg_insert(base, [seg(0xE1, exif6), seg(0xE1, b"Exif\0\0" + tiff_exif(3))]))
    add("jpeg-exif", "orient-6-no-exif-header.jpg", jpeg_insert(base, [seg(0xE1, tiff_exif(6))]))
    add("jpeg-exif", "orient-xmp-6.jpg", jpeg_insert(base, [seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp(6))]))
    add("jpeg-exif", "orient-xmp-elem-8.jpg", jpeg_insert(base, [seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp(8, attr=False))]))
    add("jpeg-exif", "orient-exif-1-xmp-6.jpg", jpeg_insert(base, [seg(0xE1, b"Exif\0\0" + tiff_exif(1)),
                                                             seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp(6))]))
    psd = b"Photoshop 3.0\x008BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", 4) + b"\x1c\x02\x00\x00"
    add("jpeg-exif", "app13-photoshop-orient-6.jpg", jpeg_insert(base, [seg(0xED, psd), seg(0xE1, exif6)]))
    add("jpeg-exif", "app13-photoshop.jpg", jpeg_insert(base, [seg(0xED, psd)]))
    add("jpeg", "app14-short.jpg", jpeg_insert(base, [seg(0xEE, b"Adobe\x00\x64")]))
    add("jpeg", "app14-short-cmyk.jpg", jpeg_insert(jpeg_bytes(im.convert("CMYK"), quality=90), [seg(0xEE, b"Adobe\x00\x64\x00")]))
    add("jpeg", "app14-5-bytes.jpg", jpeg_insert(base, [seg(0xEE, b"Adobe")]))
    # Orientation on the other JPEG modes (the transpose runs before the CMYK/gray resize).
    save("jpeg-exif", "cmyk-orient-6.jpg", im.convert("CMYK"), "JPEG", quality=90, exif=b"Exif\0\0" + tiff_exif(6))
    save("jpeg-exif", "gray-orient-8.jpg", im.convert("L"), "JPEG", quality=90, exif=b"Exif\0\0" + tiff_exif(8))
    add("jpeg", "com-segment.jpg", jpeg_insert(base, [seg(0xFE, b"a comment")]))

    # ---- PNG: every colour type and bit depth, with and without tRNS, plain and interlaced
    g = GRAY[..., None]
    for depth in (1, 2, 4, 8, 16):
        s = scale(g, depth)
        add("png-gray", f"gray-{depth}.png", png_bytes(s, 0, depth))
        add("png-gray", f"gray-{depth}-interlaced.png", png_bytes(s, 0, depth, interlace=True))
        tv = int(s.reshape(-1)[W * 3 + 5])
        add("png-gray-trns", f"gray-{depth}-trns.png", png_bytes(s, 0, depth, trns=struct.pack(">H", tv)))
    # Mostly below 256 out of 65535: what Pillow's 'I;16' path keeps (the rest clips to white).
    dark = (GRAY.astype(np.int64) + (np.arange(GRAY.size).reshape(GRAY.shape) % 7))[..., None]
    add("png-gray", "gray-16-dark.png", png_bytes(dark, 0, 16))
    add("png-gray", "gray-16-dark-224.png", png_bytes(np.repeat(np.repeat(dark, 9, 0), 9, 1)[:224, :300], 0, 16))
    big = np.repeat(np.repeat(dark, 13, 0), 13, 1)[:333, :517]
    add("png-gray", "gray-16-dark-downscale.png", png_bytes(big + (np.arange(big.size).reshape(big.shape) % 5), 0, 16))
    for depth in (8, 16):
        s = scale(RGB, depth)
        add("png-rgb", f"rgb-{depth}.png", png_bytes(s, 2, depth))
        add("png-rgb", f"rgb-{depth}-interlaced.png", png_bytes(s, 2, depth, interlace=True))
        tv = s[3, 5]
        add("png-rgb-trns", f"rgb-{depth}-trns.png", png_bytes(s, 2, depth, trns=struct.pack(">HHH", *map(int, tv))))
        ga = np.stack([scale(GRAY, depth), scale(ALPHA, depth)], axis=2)
        add("png-alpha", f"la-{depth}.png", png_bytes(ga, 4, depth))
        rgba = np.concatenate([s, scale(ALPHA, depth)[..., None]], axis=2)
        add("png-alpha", f"rgba-{depth}.png", png_bytes(rgba, 6, depth))
        add("png-alpha", f"rgba-{depth}-interlaced.png", png_bytes(rgba, 6, depth, interlace=True))
    pal = PAL_IMG.getpalette()[: 3 * 16]
    pidx = np.asarray(PAL_IMG)
    for depth in (1, 2, 4, 8):
        n = 1 << min(depth, 4)
        idx = (pidx % n)[..., None]
        plte = bytes(pal[: 3 * n])
        add("png-palette", f"palette-{depth}.png", png_bytes(idx, 3, depth, plte=plte))
        add("png-palette", f"palette-{depth}-interlaced.png", png_bytes(idx, 3, depth, interlace=True, plte=plte))
        add("png-palette-trns", f"palette-{depth}-trns.png", png_bytes(idx, 3, depth, plte=plte, trns=bytes([0, 128])))
    add("png-palette", "palette-short-plte.png", png_bytes((pidx % 4)[..., None], 3, 8, plte=bytes(pal[:12])))
    add("png", "icc.png", png_bytes(RGB, 2, 8, chunks_before=[png_chunk(b"iCCP", b"fake\0\0" + zlib.compress(fake_icc()))]))
    add("png", "odd-1x1.png", png_bytes(RGB[:1, :1], 2, 8))
    add("png", "odd-1x40.png", png_bytes(RGB[:1, :], 2, 8))
    add("png", "odd-50x3.png", png_bytes(base_rgb(3, 50), 2, 8))
    # ---- PNG orientation: eXIf, ImageMagick raw profile (tEXt/zTXt), XMP (iTXt)
    for o in range(1, 9):
        add("png-exif", f"orient-{o}.png", png_bytes(RGB, 2, 8, chunks_before=[png_chunk(b"eXIf", tiff_exif(o))]))
    raw6 = tiff_exif(6)
    prof = f"\nexif\n{len(raw6 + b'Exif' + bytes(2)):8}\n{(b'Exif' + bytes(2) + raw6).hex()}\n".encode()
    add("png-exif", "raw-profile-text-6.png", png_bytes(RGB, 2, 8, chunks_before=[png_chunk(b"tEXt", b"Raw profile type exif\0" + prof)]))
    add("png-exif", "raw-profile-ztxt-8.png", png_bytes(RGB, 2, 8, chunks_before=[png_chunk(b"zTXt", b"Raw profile type exif\0\0" + zlib.compress(
        f"\nexif\n{len(tiff_exif(8)) + 6:8}\n{(b'Exif' + bytes(2) + tiff_exif(8)).hex()}\n".encode()))]))
    add("png-exif", "xmp-itxt-6.png", png_bytes(RGB, 2, 8, chunks_before=[png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp(6))]))
    add("png-exif", "xmp-itxt-elem-3.png", png_bytes(RGB, 2, 8, chunks_before=[png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp(3, attr=False))]))
    la = np.stack([GRAY, ALPHA], axis=2)
    add("png-exif", "la-orient-5.png", png_bytes(la, 4, 8, chunks_before=[png_chunk(b"eXIf", tiff_exif(5))]))
    add("png-exif", "palette-orient-7.png", png_bytes(pidx[..., None], 3, 8, plte=bytes(pal), chunks_before=[png_chunk(b"eXIf", tiff_exif(7))]))
    add("png-exif", "gray16-orient-6.png", png_bytes(dark, 0, 16, chunks_before=[png_chunk(b"eXIf", tiff_exif(6))]))
    add("png", "gama-srgb-chrm.png", png_bytes(RGB, 2, 8, chunks_before=[
        png_chunk(b"gAMA", struct.pack(">I", 100000)), png_chunk(b"sRGB", b"\0"),
        png_chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))]))
    add("png-exif", "exif-after-idat-6.png", png_bytes(RGB, 2, 8, chunks_after=[png_chunk(b"eXIf", tiff_exif(6))]))

    # ---- WebP
    save("webp", "lossless.webp", im, "WEBP", lossless=True)
    save("webp", "lossy.webp", im, "WEBP", quality=80)
    rgba_im = Image.fromarray(np.concatenate([RGB, ALPHA[..., None]], axis=2), "RGBA")
    save("webp", "lossless-alpha.webp", rgba_im, "WEBP", lossless=True)
    save("webp", "lossy-alpha.webp", rgba_im, "WEBP", quality=80)
    save("webp", "icc.webp", im, "WEBP", lossless=True, icc_profile=fake_icc())
    save("webp", "odd-1x1.webp", Image.fromarray(RGB[:1, :1]), "WEBP", lossless=True)
    for o in range(1, 9):
        save("webp-exif", f"orient-{o}.webp", im, "WEBP", lossless=True, exif=b"Exif\0\0" + tiff_exif(o))
    save("webp-exif", "lossy-alpha-orient-8.webp", rgba_im, "WEBP", quality=80, exif=b"Exif\0\0" + tiff_exif(8))
    save("webp-exif", "orient-6-lossy.webp", im, "WEBP", quality=80, exif=b"Exif\0\0" + tiff_exif(6))
    save("webp-exif", "orient-6-no-exif-header.webp", im, "WEBP", lossless=True, exif=tiff_exif(6))
    save("webp-exif", "xmp-6.webp", im, "WEBP", lossless=True, xmp=xmp(6))
    save("webp-exif", "exif-1-xmp-6.webp", im, "WEBP", lossless=True, exif=b"Exif\0\0" + tiff_exif(1), xmp=xmp(6))
    flipped = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    save("webp", "animated.webp", im, "WEBP", lossless=True, save_all=True, append_images=[flipped], duration=100)
    save("png", "animated-apng.png", im, "PNG", save_all=True, append_images=[flipped], duration=100)
    save("png", "animated-apng-default-hidden.png", im, "PNG", save_all=True, append_images=[flipped], duration=100,
         default_image=True)

    # ---- GIF
    pim = PAL_IMG
    save("gif", "global.gif", pim, "GIF")
    glob = gif_from_pillow(pim)
    add("gif", "local.gif", gif_move_table(glob, "local"))
    add("gif", "no-table.gif", gif_move_table(glob, "none"))
    # A first frame smaller than the screen and offset into it: the rest of the canvas is index 0.
    off = bytearray(gif_from_pillow(pim.crop((0, 0, 30, 20))))
    struct.pack_into("<HH", off, 6, W, H)
    d = off.index(b"\x2c", 13 + 3 * (2 << (off[10] & 7)))
    struct.pack_into("<HH", off, d + 1, 6, 4)
    add("gif", "frame-offset.gif", bytes(off))
    save("gif", "interlaced.gif", pim, "GIF", interlace=True)
    save("gif", "transparent.gif", pim, "GIF", transparency=2)
    save("gif", "gray-ramp.gif", im.convert("L"), "GIF")
    save("gif", "animated.gif", pim, "GIF", save_all=True, append_images=[pim.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], duration=100)
    save("gif", "odd-1x1.gif", Image.fromarray(RGB[:1, :1]).quantize(2), "GIF")

    # ---- BMP
    save("bmp", "rgb24.bmp", im, "BMP")
    save("bmp", "gray8.bmp", im.convert("L"), "BMP")
    save("bmp", "bilevel.bmp", im.convert("1"), "BMP")
    save("bmp", "palette8.bmp", pim, "BMP")
    add("bmp", "rgb24-topdown.bmp", bmp_bytes(RGB, 24, topdown=True))
    add("bmp", "rgb32.bmp", bmp_bytes(RGB, 32))
    add("bmp", "rgb16-555.bmp", bmp_bytes(RGB, 16))
    add("bmp", "rgb32-bitfields.bmp", bmp_bytes(RGB, 32, compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0)))
    add("bmp", "v4-rgb24.bmp", bmp_bytes(RGB, 24, header=108))
    add("bmp", "v5-rgb24.bmp", bmp_bytes(RGB, 24, header=124))
    add("bmp", "palette4.bmp", bmp_bytes(pidx, 4, pal=pal))
    add("bmp", "palette1.bmp", bmp_bytes(pidx % 2, 1, pal=pal))
    add("bmp", "palette8-ncolors16.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16))
    add("bmp", "palette8-pixel-gap.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, gap=10))
    add("bmp", "rgb24-pixel-gap.bmp", bmp_bytes(RGB, 24, gap=6))
    add("bmp", "rgb16-565.bmp", bmp_bytes(RGB, 16, compression=3, masks=(0xF800, 0x7E0, 0x1F, 0)))
    add("bmp", "rgb32-bitfields-alpha-v5.bmp", bmp_bytes(np.concatenate([RGB, ALPHA[..., None]], axis=2), 32,
                                                       header=124, compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)))
    add("bmp", "rgb24-no-final-padding.bmp", bmp_bytes(RGB[:, :39], 24)[:-3])
    add("bmp", "rgb24-truncated.bmp", bmp_bytes(RGB, 24)[:-200])
    add("bmp", "palette8-zero-offset.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16)[:10] + b"\0\0\0\0" + bmp_bytes(pidx, 8, pal=pal, ncolors=16)[14:])
    add("bmp", "palette8-two-colours-bw.bmp", bmp_bytes(pidx % 2, 8, pal=[0, 0, 0, 255, 255, 255], ncolors=2))
    add("bmp", "planes-0.bmp", bmp_bytes(RGB, 24, planes=0))
    add("bmp", "planes-3.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, planes=3))
    add("bmp-os2", "os2v1-rgb24.bmp", bmp_bytes(RGB, 24, header=12))
    add("bmp-os2", "os2v1-palette8.bmp", bmp_bytes(pidx, 8, header=12, pal=pal))
    add("bmp-os2", "os2v2-rgb24.bmp", bmp_bytes(RGB, 24, header=64))
    add("bmp-os2", "os2v2-palette8.bmp", bmp_bytes(pidx, 8, header=64, pal=pal, ncolors=16))
    add("bmp-rle", "rle8.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, compression=1, data=rle8(pidx)))
    add("bmp-rle", "rle8-topdown.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, compression=1, data=rle8(pidx, topdown=True), topdown=True))
    add("bmp-rle", "rle8-delta.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, compression=1, data=rle8(pidx, delta_at=4)))
    add("bmp-rle", "rle8-short.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, compression=1, data=rle8(pidx, short=True)))
    # Rows of 20 pixels in a 40-wide bitmap: every end-of-line pads its row with index 0.
    add("bmp-rle", "rle8-eol-early.bmp", bmp_bytes(pidx, 8, pal=pal, ncolors=16, compression=1, data=rle8(pidx[:, :20])))
    add("bmp-rle", "rle4.bmp", bmp_bytes(pidx, 4, pal=pal, compression=2, data=rle4(pidx)))
    add("bmp-rle", "rle4-topdown.bmp", bmp_bytes(pidx, 4, pal=pal, compression=2, data=rle4(pidx, topdown=True), topdown=True))
    return files


def main():
    for d in (CORPUS, REF):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    entries = []
    for cls, name, data in build():
        rel = Path("corpus") / cls / name
        (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
        (OUT / rel).write_bytes(data)
        e = {"class": cls, "file": str(rel)}
        try:
            out, info = reference(OUT / rel)
            e.update(info)
            ref = Path("reference") / (cls + "--" + Path(name).stem + ".png")
            # Only the pixels: info (a gray tRNS value left on an RGB image) would make the PNG writer fail.
            Image.fromarray(np.asarray(out)).save(OUT / ref, "PNG", compress_level=9)
            e["reference"] = str(ref)
        except (OSError, ValueError, SyntaxError) as exc:  # Pillow refuses the file: the expectation is a refusal
            e["pillow_error"] = f"{type(exc).__name__}: {exc}".replace(str(OUT) + "/", "")
        entries.append(e)
    manifest = {
        "note": "generated by tests/parity/gen_corpus.py; the reference is Pillow's exif_transpose + "
                "resize(BICUBIC) + centre crop + convert('RGB'), stored as the 224x224 8-bit crop",
        "versions": {
            "python": sys.version.split()[0],
            "Pillow": Image.__version__ if hasattr(Image, "__version__") else __import__("PIL").__version__,
            "numpy": np.__version__,
            "libjpeg_turbo": features.version("libjpeg_turbo"),
            "libwebp": features.version("webp"),
            "zlib": features.version("zlib"),
        },
        "files": entries,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    refused = [e for e in entries if "pillow_error" in e]
    print(f"{len(entries)} files, {len(refused)} refused by Pillow")
    for e in refused:
        print("  refused:", e["file"], e["pillow_error"])


if __name__ == "__main__":
    main()
