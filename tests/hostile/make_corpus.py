#!/usr/bin/env python3
"""Deterministic generator of the hostile-image corpus in tests/images/hostile/ (committed output).

    python3 tests/hostile/make_corpus.py            # (re)writes tests/images/hostile/ + MANIFEST.json
    python3 tests/hostile/make_corpus.py --check    # also opens every file with Pillow, if it is installed,
                                                    # and fails if a file marked "valid" does not decode

Standard library only: every file is built byte by byte (struct, zlib) with small hand-written encoders, so
each lie sits exactly where it is described: PNG chunks, a DC-only baseline/progressive JPEG encoder, a
literal-only GIF LZW encoder, BMP (BITMAPINFOHEADER/V5/OS2, RLE), WebP lossless (VP8L with "simple" prefix
codes), WebP lossy (VP8 key frame of skipped macroblocks, RFC 6386 bool encoder), RIFF/VP8X/ANIM/ANMF/ALPH.
The one outside input is ../images/rocket-lossy.webp (a real libwebp lossy bitstream, committed), which is
truncated at its structure boundaries. Nothing random: where noise is wanted, random.Random(0).

Every file is listed in MANIFEST.json with its format, its class, a one-line description of the lie and
"valid": true for the handful of genuinely valid images (those must embed). "expect" names the SQLSTATE a
file must give when README promises one (the pixel-limit bombs: 54000, checked from the header); every other
file may give an embedding or any clean error of the allowed set (see tests/integration/test_hostile.py).
Sizes: every file < 200 KB, the directory < 2 MB (asserted below).
"""

import argparse
import io
import json
import os
import random
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "images", "hostile")
ROCKET_WEBP = os.path.join(REPO, "tests", "images", "rocket-lossy.webp")

BIG = 0xFFFFFFF0          # "a length claiming ~4 GiB"
MAX_FILE = 200 * 1024
MAX_TOTAL = 2 * 1024 * 1024


def u8(v):
    return struct.pack("B", v & 0xFF)


def le16(v):
    return struct.pack("<H", v & 0xFFFF)


def le32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def be16(v):
    return struct.pack(">H", v & 0xFFFF)


def be32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def le24(v):
    return struct.pack("<I", v & 0xFFFFFF)[:3]


class LsbBits:
    """LSB-first bit writer (GIF LZW, VP8L)."""

    def __init__(self):
        self.acc = 0
        self.n = 0
        self.out = bytearray()

    def write(self, value, nbits):
        self.acc |= (value & ((1 << nbits) - 1)) << self.n
        self.n += nbits
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def getvalue(self):
        out = bytearray(self.out)
        if self.n:
            out.append(self.acc & 0xFF)
        return bytes(out)


class MsbBits:
    """MSB-first bit writer with JPEG byte stuffing (0xFF -> 0xFF 0x00), padded with 1-bits."""

    def __init__(self):
        self.acc = 0
        self.n = 0
        self.out = bytearray()

    def write(self, value, nbits):
        for i in range(nbits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc = 0
                self.n = 0

    def pad(self):
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)

    def getvalue(self):
        self.pad()
        return bytes(self.out)


# ---------------------------------------------------------------------------------------------------------
# TIFF / EXIF structures (shared by JPEG APP1, PNG eXIf and WebP EXIF)
# ---------------------------------------------------------------------------------------------------------

def tiff(entries, order="<", ifd_offset=8, next_ifd=0, count_override=None, magic=42, tail=b""):
    """A TIFF header + one IFD. entries: (tag, type, count, 4-byte value field as int). The value field is
    used as is: an inline value or an offset, whatever the entry claims."""
    p = "<" if order == "<" else ">"
    bo = b"II" if order == "<" else b"MM"
    if order not in "<>":
        bo = order.encode()
    head = bo + struct.pack(p + "HI", magic, ifd_offset)
    pad = b"\0" * max(0, ifd_offset - 8) if ifd_offset < 0x10000 else b""
    n = len(entries) if count_override is None else count_override
    ifd = struct.pack(p + "H", n)
    for tag, typ, count, value in entries:
        if typ == 3 and count == 1:   # SHORT, inline, left-justified
            ifd += struct.pack(p + "HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack(p + "HHII", tag, typ, count, value & 0xFFFFFFFF)
    ifd += struct.pack(p + "I", next_ifd & 0xFFFFFFFF)
    return head + pad + ifd + tail


ORIENT = 0x0112


def exif_orientation(value, order="<"):
    return tiff([(ORIENT, 3, 1, value)], order=order)


def exif_lies():
    """(suffix, tiff bytes, description) for the EXIF lies, embedded in JPEG, PNG and WebP alike."""
    lies = []
    lies.append(("ifd0-offset-fffffff0", tiff([(ORIENT, 3, 1, 6)], ifd_offset=BIG),
                 "EXIF IFD0 offset 0xFFFFFFF0 (far outside the 26-byte block)"))
    t = tiff([(ORIENT, 3, 1, 6)])
    lies.append(("ifd0-offset-past-end", t[:4] + le32(len(t) + 100) + t[8:],
                 "EXIF IFD0 offset points 100 bytes past the end of the block"))
    lies.append(("ifd-count-65535", tiff([(ORIENT, 3, 1, 6)], count_override=65535),
                 "EXIF IFD0 claims 65535 entries, one is present (the rest is EOF)"))
    lies.append(("orientation-count-ffffffff", tiff([(ORIENT, 3, 0xFFFFFFFF, 8)]),
                 "Orientation entry SHORT with count 0xFFFFFFFF (value field read as an offset, 8 GiB of data)"))
    lies.append(("orientation-long-huge-offset", tiff([(ORIENT, 4, 0x40000000, BIG)]),
                 "Orientation entry LONG count 0x40000000 at offset 0xFFFFFFF0"))
    lies.append(("ascii-count-ffffffff", tiff([(0x010F, 2, 0xFFFFFFFF, 8), (ORIENT, 3, 1, 6)]),
                 "Make (ASCII) entry with count 0xFFFFFFFF before a valid Orientation=6"))
    lies.append(("ifd-loop", tiff([(ORIENT, 3, 1, 6)], next_ifd=8),
                 "EXIF IFD0 next-IFD offset points back at IFD0 (infinite IFD chain)"))
    lies.append(("exififd-loop", tiff([(ORIENT, 3, 1, 3), (0x8769, 4, 1, 8)]),
                 "ExifIFD pointer (0x8769) points back at IFD0 (sub-IFD cycle)"))
    lies.append(("gpsifd-outside", tiff([(ORIENT, 3, 1, 3), (0x8825, 4, 1, BIG)]),
                 "GPS IFD pointer 0xFFFFFFF0 (outside)"))
    # 400 IFDs, each with one ExifIFD pointer to the next: deep nesting of sub-IFDs.
    chain = bytearray(b"II*\0" + le32(8))
    for i in range(400):
        nxt = 8 + (i + 1) * 18
        chain += le16(1) + struct.pack("<HHII", 0x8769, 4, 1, nxt) + le32(0)
    chain += le16(1) + struct.pack("<HHHHH", ORIENT, 3, 1, 6, 0) + le32(0)
    lies.append(("exififd-nested-400", bytes(chain), "400 ExifIFD sub-IFDs nested one in the next (deep recursion)"))
    # next-IFD chain of 2000 IFDs (breadth instead of depth)
    chain = bytearray(b"II*\0" + le32(8))
    for i in range(2000):
        nxt = 8 + (i + 1) * 6 if i < 1999 else 0
        chain += le16(0) + le32(nxt)
    lies.append(("ifd-chain-2000", bytes(chain), "2000 empty IFDs linked by next-IFD offsets"))
    lies.append(("orientation-9", exif_orientation(9), "Orientation = 9 (out of the 1..8 range)"))
    lies.append(("orientation-0", exif_orientation(0), "Orientation = 0 (out of the 1..8 range)"))
    lies.append(("orientation-65535-be", exif_orientation(65535, order=">"), "big-endian, Orientation = 65535"))
    lies.append(("bad-byte-order", tiff([(ORIENT, 3, 1, 6)], order="XX"), "byte-order mark 'XX' (neither II nor MM)"))
    lies.append(("bigtiff-magic", tiff([(ORIENT, 3, 1, 6)], magic=43), "TIFF magic 43 (BigTIFF) inside EXIF"))
    lies.append(("unknown-type-huge-count", tiff([(0x9999, 0x7777, 0xFFFFFFFF, BIG), (ORIENT, 3, 1, 6)]),
                 "entry of unknown type 0x7777 with count 0xFFFFFFFF, then Orientation=6"))
    lies.append(("orientation-x1000", tiff([(ORIENT, 3, 1, 1 + i % 8) for i in range(1000)]),
                 "1000 Orientation entries with different values"))
    lies.append(("header-only", b"II*\0", "4-byte TIFF header without IFD offset"))
    lies.append(("empty", b"", "zero-length EXIF payload"))
    return lies


# ---------------------------------------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------------------------------------

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_chunk(typ, data, length=None, crc=None):
    n = len(data) if length is None else length
    c = zlib.crc32(typ + data) if crc is None else crc
    return be32(n) + typ + data + be32(c)


def ihdr(w, h, depth=8, ctype=2, comp=0, filt=0, interlace=0):
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", w & 0xFFFFFFFF, h & 0xFFFFFFFF, depth, ctype, comp, filt, interlace))


def png_rows(w, h, bpp, fn):
    """Raw filtered scanlines (filter 0) for 8-bit samples; fn(x, y) -> tuple of bpp ints."""
    out = bytearray()
    for y in range(h):
        out.append(0)
        for x in range(w):
            out += bytes(fn(x, y))
    return bytes(out)


def png(w, h, ctype, raw, depth=8, pre=(), post=(), interlace=0, idat_split=1, ihdr_chunk=None):
    z = zlib.compress(raw, 9)
    n = max(1, (len(z) + idat_split - 1) // idat_split)
    idats = b"".join(png_chunk(b"IDAT", z[i:i + n]) for i in range(0, len(z), n))
    return (PNG_SIG + (ihdr_chunk or ihdr(w, h, depth, ctype, interlace=interlace)) + b"".join(pre) + idats
            + b"".join(post) + png_chunk(b"IEND", b""))


def rgb_pattern(x, y):
    return ((x * 16) & 255, (y * 16) & 255, ((x + y) * 8) & 255)


def png_big_zero(w, h, ctype, bpp, depth=8):
    """A valid w x h PNG whose pixels are all zero: h * (1 + w * bpp) zero bytes (filter byte 0 and zero
    samples), compressed 1 MiB at a time (never held in memory)."""
    co = zlib.compressobj(9)
    left = h * (1 + w * bpp)
    block = b"\0" * (1 << 20)
    z = bytearray()
    while left:
        n = min(left, len(block))
        z += co.compress(block[:n])
        left -= n
    z += co.flush()
    chunks = b"".join(png_chunk(b"IDAT", bytes(z[i:i + 65536])) for i in range(0, len(z), 65536))
    return PNG_SIG + ihdr(w, h, depth, ctype) + chunks + png_chunk(b"IEND", b"")


def adam7_raw(w, h, bpp, fn):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = bytearray()
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx))
        ys = list(range(y0, h, dy))
        if not xs or not ys:
            continue
        for y in ys:
            out.append(0)
            for x in xs:
                out += bytes(fn(x, y))
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------
# JPEG (DC-only encoder: every 8x8 block is flat; enough for valid files and for every structural lie)
# ---------------------------------------------------------------------------------------------------------

DC_LUM_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]     # ITU T.81 Annex K.3, table K.3
DC_LUM_VALS = list(range(12))
DC_CHR_BITS = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]     # table K.4
DC_CHR_VALS = list(range(12))
# A small AC table: EOB, ZRL, run/size 0/1 and 1/1, EOBRUN 2^14 (progressive): five codes of length 3.
AC_BITS = [0, 0, 5] + [0] * 13
AC_VALS = [0x00, 0xF0, 0x01, 0x11, 0xE0]


def huff_codes(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


def seg(marker, payload, length=None):
    n = len(payload) + 2 if length is None else length
    return b"\xFF" + u8(marker) + be16(n) + payload


def dqt(tq=0, q=8, precision=0, values=None):
    vals = values if values is not None else [q] * 64
    if precision:
        return seg(0xDB, u8(0x10 | tq) + b"".join(be16(v) for v in vals))
    return seg(0xDB, u8(tq) + bytes(vals))


def dht(tc, th, bits, vals):
    return seg(0xC4, u8((tc << 4) | th) + bytes(bits) + bytes(vals))


def sof(w, h, comps, marker=0xC0, precision=8):
    body = u8(precision) + be16(h) + be16(w) + u8(len(comps))
    for cid, hs, vs, tq in comps:
        body += u8(cid) + u8((hs << 4) | vs) + u8(tq)
    return seg(marker, body)


def sos(comp_tables, ss=0, se=63, ah=0, al=0):
    body = u8(len(comp_tables))
    for cid, td, ta in comp_tables:
        body += u8(cid) + u8((td << 4) | ta)
    return seg(0xDA, body + u8(ss) + u8(se) + u8((ah << 4) | al))


def app(n, payload, length=None):
    return seg(0xE0 + n, payload, length)


JFIF = app(0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00")

YCC = [(1, 2, 2, 0), (2, 1, 1, 1), (3, 1, 1, 1)]
YCC444 = [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]
GRAY = [(1, 1, 1, 0)]


def dc_level(ci, bx, by):
    if ci == 0:
        return ((bx * 37 + by * 23) % 200) - 100
    return ((bx * 11 + by * 7 + ci * 40) % 60) - 30


def dc_category(v):
    return 0 if v == 0 else abs(v).bit_length()


def put_dc(bw, codes, diff):
    cat = dc_category(diff)
    code, n = codes[cat]
    bw.write(code, n)
    if cat:
        bw.write(diff if diff > 0 else diff + (1 << cat) - 1, cat)


def jpeg_scan_dc(w, h, comps, dri=0, with_ac=True, level=dc_level, dc_tables=None, ac_codes=None,
                 rst_fn=None):
    """Entropy-coded data of an interleaved DC(-only) scan over all `comps`, MCU by MCU."""
    hmax = max(c[1] for c in comps)
    vmax = max(c[2] for c in comps)
    mcux = (w + 8 * hmax - 1) // (8 * hmax)
    mcuy = (h + 8 * vmax - 1) // (8 * vmax)
    dc_tables = dc_tables or [huff_codes(DC_LUM_BITS, DC_LUM_VALS)] + [huff_codes(DC_CHR_BITS, DC_CHR_VALS)] * 3
    ac = ac_codes or huff_codes(AC_BITS, AC_VALS)
    out = bytearray()
    bw = MsbBits()
    pred = [0] * len(comps)
    for m in range(mcux * mcuy):
        if dri and m and m % dri == 0:
            out += bw.getvalue()
            bw = MsbBits()
            rst = (m // dri - 1) % 8 if rst_fn is None else rst_fn(m // dri - 1)
            out += b"\xFF" + u8(0xD0 + rst)
            pred = [0] * len(comps)
        my, mx = divmod(m, mcux)
        for ci, (cid, hs, vs, tq) in enumerate(comps):
            for v in range(vs):
                for hh in range(hs):
                    dc = level(ci, mx * hs + hh, my * vs + v)
                    put_dc(bw, dc_tables[min(ci, len(dc_tables) - 1)], dc - pred[ci])
                    pred[ci] = dc
                    if with_ac:
                        bw.write(*ac[0x00])
    out += bw.getvalue()
    return bytes(out)


def jpeg_tables(comps):
    t = dqt(0) + (dqt(1) if len(comps) > 1 else b"")
    t += dht(0, 0, DC_LUM_BITS, DC_LUM_VALS) + dht(1, 0, AC_BITS, AC_VALS)
    if len(comps) > 1:
        t += dht(0, 1, DC_CHR_BITS, DC_CHR_VALS) + dht(1, 1, AC_BITS, AC_VALS)
    return t


def scan_tables(comps):
    return [(c[0], 0 if i == 0 else 1, 0 if i == 0 else 1) for i, c in enumerate(comps)]


def jpeg(w=32, h=32, comps=YCC, pre=(), dri=0, sof_marker=0xC0, tables=None, scan=None, eoi=True,
         sof_seg=None, sos_seg=None, post_sof=()):
    out = b"\xFF\xD8" + b"".join(pre) + (tables if tables is not None else jpeg_tables(comps))
    out += sof_seg if sof_seg is not None else sof(w, h, comps, sof_marker)
    out += b"".join(post_sof)
    if dri:
        out += seg(0xDD, be16(dri))
    out += sos_seg if sos_seg is not None else sos(scan_tables(comps))
    out += scan if scan is not None else jpeg_scan_dc(w, h, comps, dri)
    return out + (b"\xFF\xD9" if eoi else b"")


# Progressive AC table: every EOBRUN symbol (r << 4, r = 0..14), 4-bit codes.
PROG_AC_BITS = [0, 0, 0, 15] + [0] * 12
PROG_AC_VALS = [r << 4 for r in range(15)]


def eob_run_scan(nblocks):
    """An AC scan in which every block is inside an end-of-band run: EOBRUN symbols only."""
    ac = huff_codes(PROG_AC_BITS, PROG_AC_VALS)
    bw = MsbBits()
    while nblocks:
        r = min(14, nblocks.bit_length() - 1)
        run = min(nblocks, (1 << (r + 1)) - 1)
        bw.write(*ac[r << 4])
        if r:
            bw.write(run - (1 << r), r)
        nblocks -= run
    return bw.getvalue()


def jpeg_progressive(w, h, comps=GRAY, refinements=0, flat=False):
    """SOF2: a DC first scan (interleaved), then per component one AC first scan (Al=1) that is a single
    end-of-band run, then `refinements` AC refinement scans (Ah=1, Al=0) of the first component, each again
    one EOB run. flat=True codes every DC difference with a 1-bit code (DC table with a single symbol)."""
    out = b"\xFF\xD8" + dqt(0) + (dqt(1) if len(comps) > 1 else b"")
    if flat:
        out += dht(0, 0, [1] + [0] * 15, [0])
        dcs = [{0: (0, 1)}] * 4
    else:
        out += dht(0, 0, DC_LUM_BITS, DC_LUM_VALS) + (dht(0, 1, DC_CHR_BITS, DC_CHR_VALS) if len(comps) > 1 else b"")
        dcs = None
    out += dht(1, 0, PROG_AC_BITS, PROG_AC_VALS)
    out += sof(w, h, comps, 0xC2)
    out += sos([(c[0], 0 if i == 0 or flat else 1, 0) for i, c in enumerate(comps)], 0, 0, 0, 0)
    out += jpeg_scan_dc(w, h, comps, with_ac=False, dc_tables=dcs,
                        level=(lambda ci, bx, by: 0) if flat else dc_level)
    hmax = max(c[1] for c in comps)
    vmax = max(c[2] for c in comps)
    for i, c in enumerate(comps):
        cw = (w * c[1] + hmax - 1) // hmax
        ch = (h * c[2] + vmax - 1) // vmax
        data = eob_run_scan(((cw + 7) // 8) * ((ch + 7) // 8))
        out += sos([(c[0], 0, 0)], 1, 63, 0, 1) + data
        for _ in range(refinements if i == 0 else 0):
            out += sos([(c[0], 0, 0)], 1, 63, 1, 0) + data
    return out + b"\xFF\xD9"


def exif_app1(t):
    return app(1, b"Exif\0\0" + t)


def icc_app2(seq, count, data):
    return app(2, b"ICC_PROFILE\0" + u8(seq) + u8(count) + data)


def fake_icc(size_field=None, body=b""):
    """An ICC profile header (128 bytes) + tag count 0; size_field is the profile's own declared size."""
    hdr = bytearray(128)
    total = 132 + len(body)
    hdr[0:4] = be32(total if size_field is None else size_field)
    hdr[4:8] = b"none"
    hdr[8:12] = be32(0x02100000)
    hdr[12:16] = b"mntr"
    hdr[16:20] = b"RGB "
    hdr[20:24] = b"XYZ "
    hdr[36:40] = b"acsp"
    return bytes(hdr) + be32(0) + body


XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
       b'<?xpacket end="w"?>')


def xmp_nested(depth):
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"<a>" * depth + b"</a>" * depth + b"</x:xmpmeta>")


def xmp_entity_bomb():
    ents = b'<!ENTITY a0 "lollollollollollollollollollol">'
    for i in range(1, 10):
        ents += b'<!ENTITY a%d "%s">' % (i, (b"&a%d;" % (i - 1)) * 10)
    return b'<?xml version="1.0"?><!DOCTYPE x [' + ents + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&a9;</x:xmpmeta>'


# ---------------------------------------------------------------------------------------------------------
# GIF
# ---------------------------------------------------------------------------------------------------------

def lzw_literal(indices, min_code_size, clear_at=4094, size_cap=12, extra_codes=()):
    """GIF LZW stream that codes every pixel as a literal. It tracks the code size exactly as a decoder
    does (an entry is added for every code after the first since a clear; the size grows when the next
    free code reaches 1 << size), and emits a clear code whenever the next free code reaches `clear_at`
    (None: never clear, the table fills up at 4096 and the size stays at 12, a "deferred clear")."""
    m = min_code_size
    clear, eoi = 1 << m, (1 << m) + 1
    bw = LsbBits()
    size, nxt, first = m + 1, eoi + 1, True
    bw.write(clear, size)
    for px in indices:
        if clear_at is not None and nxt >= clear_at:
            bw.write(clear, size)
            size, nxt, first = m + 1, eoi + 1, True
        bw.write(px, size)
        if first:
            first = False
        elif nxt < 4096:
            nxt += 1
            if nxt == (1 << size) and size < size_cap:
                size += 1
    for c in extra_codes:
        bw.write(c, size)
    bw.write(eoi, size)
    return bw.getvalue()


def sub_blocks(data, block=255, terminator=True):
    out = bytearray()
    for i in range(0, len(data), block):
        part = data[i:i + block]
        out += u8(len(part)) + part
    if terminator:
        out += b"\0"
    return bytes(out)


def palette(n, seed=0):
    return b"".join(bytes(((i * 67 + seed) & 255, (i * 151 + 40) & 255, (i * 29 + 90) & 255)) for i in range(n))


def gif_header(w, h, gct_bits=None, bg=0, version=b"GIF89a", gct=None, gct_flag=None):
    packed = 0
    if gct_bits is not None:
        packed = (0x80 if gct_flag is None or gct_flag else 0) | (7 << 4) | (gct_bits - 1)
    out = version + le16(w) + le16(h) + u8(packed) + u8(bg) + u8(0)
    if gct_bits is not None and (gct_flag is None or gct_flag):
        out += gct if gct is not None else palette(1 << gct_bits)
    return out


def gif_gce(delay=10, transparent=None, disposal=0, block_size=4):
    packed = (disposal << 2) | (1 if transparent is not None else 0)
    return b"\x21\xF9" + u8(block_size) + u8(packed) + le16(delay) + u8(transparent or 0) + b"\0"


def gif_frame(w, h, indices=None, left=0, top=0, lct_bits=None, lct=None, interlace=False, min_code=None,
              lzw=None, bits=2):
    packed = 0
    if lct_bits is not None:
        packed |= 0x80 | (lct_bits - 1)
    if interlace:
        packed |= 0x40
    out = b"\x2C" + le16(left) + le16(top) + le16(w) + le16(h) + u8(packed)
    if lct_bits is not None:
        out += lct if lct is not None else palette(1 << lct_bits, seed=99)
    m = min_code if min_code is not None else max(2, bits)
    if lzw is None:
        if indices is None:
            indices = [((x // 2) + (y // 2)) % (1 << bits) for y in range(h) for x in range(w)]
        lzw = lzw_literal(indices, m)
    return out + u8(m) + sub_blocks(lzw)


def netscape_loop(n=0):
    return b"\x21\xFF\x0BNETSCAPE2.0\x03\x01" + le16(n) + b"\0"


def gif(w, h, frames, gct_bits=2, pre=(), trailer=True, **kw):
    return gif_header(w, h, gct_bits, **kw) + b"".join(pre) + b"".join(frames) + (b"\x3B" if trailer else b"")


def interlace_order(h):
    rows = list(range(0, h, 8)) + list(range(4, h, 8)) + list(range(2, h, 4)) + list(range(1, h, 2))
    return rows


# ---------------------------------------------------------------------------------------------------------
# BMP
# ---------------------------------------------------------------------------------------------------------

def bmp_palette(n, gray=False):
    if gray:
        return b"".join(bytes((i, i, i, 0)) for i in range(n))
    return b"".join(bytes(((i * 29 + 90) & 255, (i * 151 + 40) & 255, (i * 67) & 255, 0)) for i in range(n))


def bmp_rows(w, h, bits, fn):
    """Bottom-up rows padded to 4 bytes; fn(x, y) -> palette index (bits <= 8) or (r, g, b[, a])."""
    rows = []
    for y in range(h):
        row = bytearray()
        if bits <= 8:
            acc, n = 0, 0
            for x in range(w):
                acc = (acc << bits) | fn(x, y)
                n += bits
                if n == 8:
                    row.append(acc)
                    acc, n = 0, 0
            if n:
                row.append(acc << (8 - n))
        elif bits == 16:
            for x in range(w):
                r, g, b = fn(x, y)[:3]
                row += le16(((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3))
        else:
            for x in range(w):
                px = fn(x, y)
                row += bytes((px[2], px[1], px[0])) + (bytes((px[3] if len(px) > 3 else 255,)) if bits == 32 else b"")
        while len(row) % 4:
            row.append(0)
        rows.append(bytes(row))
    return b"".join(reversed(rows))


def bmp(w, h, bits, pixels, pal=b"", compression=0, header_size=40, clr_used=None, off=None, size=None,
        extra_header=b"", planes=1, size_image=None, masks=b"", tail=b"", raw_info=None):
    if raw_info is not None:
        info = raw_info
    elif header_size == 12:
        info = le32(12) + le16(w) + le16(h) + le16(planes) + le16(bits)
    else:
        info = (le32(header_size) + struct.pack("<ii", w, h) + le16(planes) + le16(bits) + le32(compression)
                + le32(len(pixels) if size_image is None else size_image) + le32(2835) + le32(2835)
                + le32(len(pal) // 4 if clr_used is None else clr_used) + le32(0))
        info += extra_header
        info += b"\0" * max(0, header_size - len(info))
    body = info + masks + pal
    offset = 14 + len(body) if off is None else off
    total = 14 + len(body) + len(pixels) + len(tail) if size is None else size
    return b"BM" + le32(total) + le32(0) + le32(offset) + body + pixels + tail


def v5_header(w, h, bits, compression, masks=(0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000), cs=b"sRGB",
              profile=(0, 0), intent=4, size_image=0):
    rm, gm, bm_, am = masks
    hdr = (le32(124) + struct.pack("<ii", w, h) + le16(1) + le16(bits) + le32(compression) + le32(size_image)
           + le32(2835) + le32(2835) + le32(0) + le32(0) + le32(rm) + le32(gm) + le32(bm_) + le32(am)
           + (cs[::-1] if len(cs) == 4 else cs) + b"\0" * 36 + le32(0) * 3 + le32(intent)
           + le32(profile[0]) + le32(profile[1]) + le32(0))
    assert len(hdr) == 124
    return hdr


def rle8(rows):
    """rows: list of lists of (count, index) runs, bottom-up; EOL after each row, EOB at the end."""
    out = bytearray()
    for runs in rows:
        for count, idx in runs:
            out += bytes((count, idx))
        out += b"\0\0"
    out[-2:] = b"\0\1"
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------
# WebP: RIFF container, VP8L (lossless) and VP8 (lossy) bitstreams
# ---------------------------------------------------------------------------------------------------------

def riff_chunk(fourcc, data, length=None, pad=True):
    n = len(data) if length is None else length
    return fourcc + le32(n) + data + (b"\0" if pad and len(data) % 2 else b"")


def riff(chunks, size=None):
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + le32(len(body) if size is None else size) + body


def vp8x(w, h, flags=0, length=None):
    return riff_chunk(b"VP8X", u8(flags) + b"\0\0\0" + le24(w - 1) + le24(h - 1), length)


VP8X_ICC, VP8X_ALPHA, VP8X_EXIF, VP8X_XMP, VP8X_ANIM = 0x20, 0x10, 0x08, 0x04, 0x02


def simple_code(bw, symbols):
    """A VP8L "simple" prefix code of 1 or 2 symbols < 256 (the smaller symbol gets code 0)."""
    symbols = sorted(symbols)
    bw.write(1, 1)
    bw.write(len(symbols) - 1, 1)
    s0 = symbols[0]
    if s0 < 2:
        bw.write(0, 1)
        bw.write(s0, 1)
    else:
        bw.write(1, 1)
        bw.write(s0, 8)
    if len(symbols) == 2:
        bw.write(symbols[1], 8)


def vp8l_header(bw, w, h, alpha=False, version=0, signature=0x2F):
    bw.write(signature, 8)
    bw.write(w - 1, 14)
    bw.write(h - 1, 14)
    bw.write(1 if alpha else 0, 1)
    bw.write(version, 3)


def vp8l_codes(bw, g, r, b, a, dist=(0,)):
    for syms in (g, r, b, a, dist):
        simple_code(bw, syms)


def vp8l_pixels(bw, w, h, g, r, b, a, fn):
    """fn(x, y) -> (gbit, rbit, bbit, abit): which of the (up to) 2 symbols of each channel."""
    chans = [sorted(g), sorted(r), sorted(b), sorted(a)]
    if all(len(c) == 1 for c in chans):
        return                               # every symbol costs 0 bits
    for y in range(h):
        for x in range(w):
            bitsel = fn(x, y)
            for c, sel in zip(chans, bitsel):
                if len(c) == 2:
                    bw.write(sel, 1)


def vp8l(w, h, g=(0x40, 0xC0), r=(0x20, 0xE0), b=(0x10, 0xF0), a=(0xFF,), alpha=False, fn=None, cache_bits=None,
         version=0, signature=0x2F, transform=None, meta=None):
    """A VP8L bitstream. transform(bw) may write transforms (it must write the '1' bits and the final '0'
    is written here); meta(bw) may write a meta prefix code header instead of '0'."""
    bw = LsbBits()
    vp8l_header(bw, w, h, alpha, version, signature)
    if transform:
        transform(bw)
    bw.write(0, 1)                           # no (more) transforms
    if cache_bits is None:
        bw.write(0, 1)
    else:
        bw.write(1, 1)
        bw.write(cache_bits, 4)
    if meta:
        meta(bw)
    else:
        bw.write(0, 1)                       # a single prefix-code group
        vp8l_codes(bw, g, r, b, a)
        fn = fn or (lambda x, y: ((x // 2) & 1, (y // 2) & 1, ((x + y) // 3) & 1, 0))
        vp8l_pixels(bw, w, h, g, r, b, a, fn)
    return bw.getvalue()


class BoolEncoder:
    """RFC 6386 section 7.3 boolean entropy encoder."""

    def __init__(self):
        self.out = bytearray()
        self.range = 255
        self.bottom = 0
        self.bit_count = 24

    def _carry(self):
        i = len(self.out) - 1
        while i >= 0 and self.out[i] == 255:
            self.out[i] = 0
            i -= 1
        if i >= 0:
            self.out[i] += 1

    def put(self, prob, bit):
        split = 1 + (((self.range - 1) * prob) >> 8)
        if bit:
            self.bottom += split
            self.range -= split
        else:
            self.range = split
        while self.range < 128:
            self.range <<= 1
            if self.bottom & (1 << 31):
                self._carry()
            self.bottom = (self.bottom << 1) & 0xFFFFFFFF
            self.bit_count -= 1
            if not self.bit_count:
                self.out.append((self.bottom >> 24) & 0xFF)
                self.bottom &= (1 << 24) - 1
                self.bit_count = 8

    def literal(self, value, n):
        for i in range(n - 1, -1, -1):
            self.put(128, (value >> i) & 1)

    def flush(self):
        c = self.bit_count
        v = self.bottom
        if v & (1 << (32 - c)):
            self._carry()
        v = (v << (c & 7)) & 0xFFFFFFFF
        c >>= 3
        while c > 0:
            v = (v << 8) & 0xFFFFFFFF
            c -= 1
        for _ in range(4):
            self.out.append((v >> 24) & 0xFF)
            v = (v << 8) & 0xFFFFFFFF
        return bytes(self.out)
# RFC 6386 section 13.4 coeff_update_probs[4][8][3][11], one line per [i][j] (3 x 11 values).
COEFF_UPDATE_PROBS = [int(v) for v in """
255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
176 246 255 255 255 255 255 255 255 255 255 223 241 252 255 255 255 255 255 255 255 255 249 253 253 255 255 255 255 255 255 255 255
255 244 252 255 255 255 255 255 255 255 255 234 254 254 255 255 255 255 255 255 255 255 253 255 255 255 255 255 255 255 255 255 255
255 246 254 255 255 255 255 255 255 255 255 239 253 254 255 255 255 255 255 255 255 255 254 255 254 255 255 255 255 255 255 255 255
255 248 254 255 255 255 255 255 255 255 255 251 255 254 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 253 254 255 255 255 255 255 255 255 255 251 254 254 255 255 255 255 255 255 255 255 254 255 254 255 255 255 255 255 255 255 255
255 254 253 255 254 255 255 255 255 255 255 250 255 254 255 254 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
217 255 255 255 255 255 255 255 255 255 255 225 252 241 253 255 255 254 255 255 255 255 234 250 241 250 253 255 253 254 255 255 255
255 254 255 255 255 255 255 255 255 255 255 223 254 254 255 255 255 255 255 255 255 255 238 253 254 254 255 255 255 255 255 255 255
255 248 254 255 255 255 255 255 255 255 255 249 254 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 253 255 255 255 255 255 255 255 255 255 247 254 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 253 254 255 255 255 255 255 255 255 255 252 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 254 254 255 255 255 255 255 255 255 255 253 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 254 253 255 255 255 255 255 255 255 255 250 255 255 255 255 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
186 251 250 255 255 255 255 255 255 255 255 234 251 244 254 255 255 255 255 255 255 255 251 251 243 253 254 255 254 255 255 255 255
255 253 254 255 255 255 255 255 255 255 255 236 253 254 255 255 255 255 255 255 255 255 251 253 253 254 254 255 255 255 255 255 255
255 254 254 255 255 255 255 255 255 255 255 254 254 254 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 254 255 255 255 255 255 255 255 255 255 254 254 255 255 255 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
248 255 255 255 255 255 255 255 255 255 255 250 254 252 254 255 255 255 255 255 255 255 248 254 249 253 255 255 255 255 255 255 255
255 253 253 255 255 255 255 255 255 255 255 246 253 253 255 255 255 255 255 255 255 255 252 254 251 254 254 255 255 255 255 255 255
255 254 252 255 255 255 255 255 255 255 255 248 254 253 255 255 255 255 255 255 255 255 253 255 254 254 255 255 255 255 255 255 255
255 251 254 255 255 255 255 255 255 255 255 245 251 254 255 255 255 255 255 255 255 255 253 253 254 255 255 255 255 255 255 255 255
255 251 253 255 255 255 255 255 255 255 255 252 253 254 255 255 255 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255 255
255 252 255 255 255 255 255 255 255 255 255 249 255 254 255 255 255 255 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255
255 255 253 255 255 255 255 255 255 255 255 250 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
255 255 255 255 255 255 255 255 255 255 255 254 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255 255
""".split()]
assert len(COEFF_UPDATE_PROBS) == 4 * 8 * 3 * 11


def vp8_first_partition(w, h, q=24, partitions_log2=0, mode_fn=None, skip_prob=1):
    """Key-frame header + one macroblock header per MB: every MB skipped (no coefficients), DC_PRED / DC_PRED
    by default, so the picture is flat grey."""
    be = BoolEncoder()
    be.literal(0, 1)            # color_space
    be.literal(0, 1)            # clamping_type
    be.literal(0, 1)            # segmentation_enabled
    be.literal(0, 1)            # filter_type
    be.literal(0, 6)            # loop_filter_level
    be.literal(0, 3)            # sharpness_level
    be.literal(0, 1)            # loop_filter_adj_enable
    be.literal(partitions_log2, 2)
    be.literal(q, 7)            # y_ac_qi
    for _ in range(5):
        be.literal(0, 1)        # no quantizer deltas
    be.literal(0, 1)            # refresh_entropy_probs
    for p in COEFF_UPDATE_PROBS:
        be.put(p, 0)            # no token probability updates
    be.literal(1, 1)            # mb_no_coeff_skip
    be.literal(skip_prob, 8)    # prob_skip_false
    mbw, mbh = (w + 15) // 16, (h + 15) // 16
    # kf_ymode_tree, probs 145 156 163 128: DC_PRED = 1 0 0, V_PRED = 1 0 1, H_PRED = 1 1 0, TM_PRED = 1 1 1
    ybits = {"DC": (1, 0, 0), "V": (1, 0, 1), "H": (1, 1, 0), "TM": (1, 1, 1)}
    for my in range(mbh):
        for mx in range(mbw):
            be.put(skip_prob, 1)            # mb_skip_coeff = 1
            b0, b1, b2 = ybits[mode_fn(mx, my) if mode_fn else "DC"]
            be.put(145, b0)
            if b0:
                be.put(156, b1)
                be.put(163 if b1 == 0 else 128, b2)
            be.put(142, 0)                  # uv mode DC_PRED
    return be.flush()


def vp8(w, h, q=24, keyframe=True, start=b"\x9d\x01\x2a", scale=0, first=None, tokens=None, part_size=None,
        partitions_log2=0, mode_fn=None):
    first = first if first is not None else vp8_first_partition(w, h, q, partitions_log2, mode_fn)
    tokens = tokens if tokens is not None else BoolEncoder().flush()
    size = len(first) if part_size is None else part_size
    tag = (0 if keyframe else 1) | (0 << 1) | (1 << 4) | (size << 5)
    return le24(tag) + start + le16(w | (scale << 14)) + le16(h | (scale << 14)) + first + tokens


def webp_lossless(w, h, **kw):
    return riff([riff_chunk(b"VP8L", vp8l(w, h, **kw))])


def webp_lossy(w, h, **kw):
    return riff([riff_chunk(b"VP8 ", vp8(w, h, **kw))])


def anmf(x, y, w, h, frame_chunks, duration=100, flags=0, length=None, raw_fields=None):
    fields = raw_fields if raw_fields is not None else (le24(x // 2) + le24(y // 2) + le24(w - 1) + le24(h - 1)
                                                        + le24(duration) + u8(flags))
    return riff_chunk(b"ANMF", fields + b"".join(frame_chunks), length)


def anim(bg=0xFFFFFFFF, loops=0, length=None):
    return riff_chunk(b"ANIM", le32(bg) + le16(loops), length)


def alph(w, h, method=0, filt=0, pre=0, data=None):
    hdr = u8((pre << 4) | (filt << 2) | method)
    return riff_chunk(b"ALPH", hdr + (data if data is not None else bytes((x * 16) & 255 for y in range(h) for x in range(w))))


# ---------------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------------

class Corpus:
    def __init__(self):
        self.files = {}

    def add(self, name, data, description, fmt, cls, valid=False, expect=None):
        assert name not in self.files, name
        assert len(data) < MAX_FILE, (name, len(data))
        entry = {"name": name, "format": fmt, "class": cls, "bytes": len(data), "description": description,
                 "valid": bool(valid)}
        if expect:
            entry["expect"] = expect
        self.files[name] = (bytes(data), entry)


def chunk_spans(data, start, header, length_of):
    """[(offset, end)] of the chunks of a container: header bytes per chunk and a function giving the
    total chunk size from the bytes at its offset."""
    spans, pos = [], start
    while pos + header <= len(data):
        end = min(len(data), pos + length_of(data, pos))
        spans.append((pos, end))
        pos = end
    return spans


def add_truncations(c, base_name, data, cuts, fmt, ext, note, fix=None, kept_too=False):
    """One file per cut offset (a structure boundary or the middle of a structure). fix(bytes) may patch the
    truncated bytes (e.g. the RIFF size) so that the container itself does not give the truncation away."""
    seen = set()
    for off, what in cuts:
        if off <= 0 or off >= len(data) or off in seen:
            continue
        seen.add(off)
        cut = data[:off]
        variants = [("", cut)] if fix is None else [("-fixed", fix(cut))] + ([("", cut)] if kept_too else [])
        for suffix, body in variants:
            desc = f"{note} truncated at byte {off} of {len(data)} ({what})"
            if suffix:
                desc += ", RIFF size patched to the truncated length"
            c.add(f"{fmt}-trunc-{base_name}-{off:05d}{suffix}.{ext}", body, desc, fmt, "truncation")


# ----- PNG -------------------------------------------------------------------------------------------------

def png_cases(c):
    def add(name, data, desc, cls, **kw):
        c.add(f"png-{name}.png", data, desc, "png", cls, **kw)

    rgb16 = png_rows(16, 16, 3, rgb_pattern)
    good = png(16, 16, 2, rgb16)
    pal16 = palette(16)
    idx16 = png_rows(16, 16, 1, lambda x, y: ((x // 4) + (y // 4) * 4,))

    add("valid-rgb-16x16", good, "valid 16x16 8-bit RGB", "valid", valid=True)
    add("valid-palette-trns", png(16, 16, 3, idx16, pre=[png_chunk(b"PLTE", pal16), png_chunk(b"tRNS", bytes(range(0, 256, 16)))]),
        "valid 16x16 palette PNG with 16-entry PLTE and tRNS", "valid", valid=True)
    add("valid-gray-alpha", png(16, 16, 4, png_rows(16, 16, 2, lambda x, y: (x * 16, y * 16))),
        "valid 16x16 gray + alpha", "valid", valid=True)
    add("valid-rgba16", png(12, 10, 6, png_rows(12, 10, 8, lambda x, y: (x * 20, 0, y * 25, 0, 100, 0, 255, 255)), depth=16),
        "valid 12x10 16-bit RGBA", "valid", valid=True)
    add("valid-interlaced", png(19, 13, 2, adam7_raw(19, 13, 3, rgb_pattern), interlace=1),
        "valid 19x13 Adam7-interlaced RGB", "valid", valid=True)
    add("valid-exif-rot6", png(20, 10, 2, png_rows(20, 10, 3, rgb_pattern), pre=[png_chunk(b"eXIf", exif_orientation(6))]),
        "valid 20x10 RGB with an eXIf chunk, Orientation = 6", "valid", valid=True)
    add("valid-idat-1-byte-chunks", png(16, 16, 2, rgb16, idat_split=10**6),
        "valid 16x16 RGB whose zlib stream is split into one IDAT chunk per byte", "valid", valid=True)
    add("valid-at-pixel-limit-8000x5000-rgba", png_big_zero(8000, 5000, 6, 4),
        "valid 8000x5000 RGBA (exactly clip.max_image_pixels = 40,000,000): the largest image the default limit accepts",
        "valid", valid=True)

    # --- chunk length lies
    sig_ihdr = PNG_SIG + ihdr(16, 16)
    z = zlib.compress(rgb16, 9)
    iend = png_chunk(b"IEND", b"")
    add("len-ihdr-fffffff0", PNG_SIG + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0), length=BIG)
        + png_chunk(b"IDAT", z) + iend, "IHDR chunk length field 0xFFFFFFF0 (13 bytes present)", "length-lie")
    add("len-idat-fffffff0", sig_ihdr + png_chunk(b"IDAT", z, length=BIG) + iend,
        "IDAT chunk length 0xFFFFFFF0 (the real stream is a few hundred bytes)", "length-lie")
    add("len-idat-past-eof", sig_ihdr + be32(len(z) + 1000) + b"IDAT" + z,
        "IDAT length 1000 bytes past the end of the file, no CRC, no IEND", "length-lie")
    add("len-idat-7fffffff", sig_ihdr + png_chunk(b"IDAT", z, length=0x7FFFFFFF) + iend,
        "IDAT length 0x7FFFFFFF (the largest legal value, far past EOF)", "length-lie")
    add("len-idat-80000000", sig_ihdr + png_chunk(b"IDAT", z, length=0x80000000) + iend,
        "IDAT length 0x80000000 (above the 2^31-1 maximum)", "length-lie")
    add("len-text-fffffff0", sig_ihdr + png_chunk(b"tEXt", b"Comment\0hi", length=BIG) + png_chunk(b"IDAT", z) + iend,
        "tEXt chunk before IDAT with length 0xFFFFFFF0", "length-lie")
    add("len-private-ancillary-fffffff0", sig_ihdr + png_chunk(b"prVt", b"x" * 8, length=BIG) + png_chunk(b"IDAT", z) + iend,
        "unknown ancillary chunk 'prVt' with length 0xFFFFFFF0 before IDAT", "length-lie")
    add("len-phys-fffffff0", sig_ihdr + png_chunk(b"pHYs", b"\0" * 9, length=BIG) + png_chunk(b"IDAT", z) + iend,
        "pHYs chunk with length 0xFFFFFFF0", "length-lie")
    add("len-iend-fffffff0", sig_ihdr + png_chunk(b"IDAT", z) + png_chunk(b"IEND", b"", length=BIG),
        "IEND chunk with length 0xFFFFFFF0", "length-lie")
    add("len-empty-idat-x2000", sig_ihdr + png_chunk(b"IDAT", b"") * 2000 + png_chunk(b"IDAT", z) + iend,
        "2000 zero-length IDAT chunks before the real one", "length-lie")
    add("crc-ihdr-wrong", PNG_SIG + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0), crc=0xDEADBEEF)
        + png_chunk(b"IDAT", z) + iend, "IHDR with a wrong CRC", "length-lie")
    add("crc-idat-wrong", sig_ihdr + png_chunk(b"IDAT", z, crc=0) + iend, "IDAT with a wrong CRC", "length-lie")

    # --- dimension lies
    add("dims-16x16-data-for-4x4", sig_ihdr + png_chunk(b"IDAT", zlib.compress(png_rows(4, 4, 3, rgb_pattern))) + iend,
        "IHDR 16x16 RGB, the zlib stream holds 4 rows of 4 pixels", "dimension-lie")
    add("dims-4x4-data-for-64x64", PNG_SIG + ihdr(4, 4) + png_chunk(b"IDAT", zlib.compress(png_rows(64, 64, 3, rgb_pattern))) + iend,
        "IHDR 4x4 RGB, the zlib stream holds 64x64 pixels", "dimension-lie")
    add("dims-width-0", PNG_SIG + ihdr(0, 16) + png_chunk(b"IDAT", z) + iend, "IHDR width 0", "dimension-lie")
    add("dims-height-0", PNG_SIG + ihdr(16, 0) + png_chunk(b"IDAT", z) + iend, "IHDR height 0", "dimension-lie")
    add("dims-width-80000000", PNG_SIG + ihdr(0x80000000, 16) + png_chunk(b"IDAT", z) + iend,
        "IHDR width 2^31 (over the PNG maximum), height 16", "dimension-lie", expect="54000")
    add("dims-ffffffffxffffffff", PNG_SIG + ihdr(0xFFFFFFFF, 0xFFFFFFFF) + png_chunk(b"IDAT", z) + iend,
        "IHDR 0xFFFFFFFF x 0xFFFFFFFF", "dimension-lie", expect="54000")
    add("bomb-65535x65535-palette", PNG_SIG + ihdr(65535, 65535, 8, 3) + png_chunk(b"PLTE", pal16) + png_chunk(b"IDAT", z) + iend,
        "IHDR 65535x65535 palette (4.3e9 px) with a tiny IDAT", "pixel-bomb", expect="54000")
    add("bomb-7000x6000-rgb", PNG_SIG + ihdr(7000, 6000) + png_chunk(b"IDAT", z) + iend,
        "IHDR 7000x6000 = 42,000,000 px, just over the default limit", "pixel-bomb", expect="54000")
    add("bomb-6324x6324-rgb-one-row", PNG_SIG + ihdr(6324, 6324) + png_chunk(b"IDAT", zlib.compress(b"\0" * (1 + 6324 * 3))) + iend,
        "IHDR 6324x6324 RGB (39,992,976 px, under the limit: a 120 MB buffer) with data for one row", "pixel-bomb")
    add("bomb-1x40000000-gray", png_big_zero(1, 40000000, 0, 1),
        "complete 1x40,000,000 gray image (at the pixel limit, aspect ratio 4e7:1)", "dimension-lie")
    add("bomb-40000000x1-gray", png_big_zero(40000000, 1, 0, 1),
        "complete 40,000,000x1 gray image (at the pixel limit, aspect ratio 4e7:1)", "dimension-lie")
    co = zlib.compressobj(9)
    zb = co.compress(rgb16) + b"".join(co.compress(b"\0" * (1 << 20)) for _ in range(30)) + co.flush()
    add("bomb-zlib-30mb-after-image", sig_ihdr + png_chunk(b"IDAT", zb) + iend,
        "16x16 RGB whose IDAT zlib stream goes on for 30 MB past the image data", "pixel-bomb")

    # --- header field lies
    for name, args, desc in [
        ("ihdr-depth-3", dict(depth=3), "bit depth 3 (invalid)"),
        ("ihdr-ctype-5", dict(ctype=5), "colour type 5 (invalid)"),
        ("ihdr-ctype-7-depth-255", dict(ctype=7, depth=255), "colour type 7, bit depth 255"),
        ("ihdr-palette-depth-16", dict(ctype=3, depth=16), "palette image with bit depth 16 (invalid)"),
        ("ihdr-rgb-depth-1", dict(ctype=2, depth=1), "RGB with bit depth 1 (invalid)"),
        ("ihdr-interlace-2", dict(interlace=2), "interlace method 2 (invalid)"),
        ("ihdr-compression-1", dict(comp=1), "compression method 1 (invalid)"),
        ("ihdr-filter-1", dict(filt=1), "filter method 1 (invalid)"),
    ]:
        add(name, PNG_SIG + ihdr(16, 16, **args) + png_chunk(b"PLTE", pal16) + png_chunk(b"IDAT", z) + iend, "IHDR " + desc, "header-lie")
    add("ihdr-length-12", PNG_SIG + png_chunk(b"IHDR", struct.pack(">IIBBBB", 16, 16, 8, 2, 0, 0)) + png_chunk(b"IDAT", z) + iend,
        "IHDR of 12 bytes (13 required)", "header-lie")
    add("ihdr-length-20", PNG_SIG + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0) + b"\0" * 7) + png_chunk(b"IDAT", z) + iend,
        "IHDR of 20 bytes (13 required)", "header-lie")
    add("ihdr-twice-second-60000x60000", sig_ihdr + ihdr(60000, 60000) + png_chunk(b"IDAT", z) + iend,
        "a second IHDR claiming 60000x60000 after the first (16x16)", "header-lie")
    add("ihdr-missing", PNG_SIG + png_chunk(b"PLTE", pal16) + png_chunk(b"IDAT", z) + iend, "no IHDR: the first chunk is PLTE", "header-lie")
    add("chunk-before-ihdr", PNG_SIG + png_chunk(b"tEXt", b"a\0b") + ihdr(16, 16) + png_chunk(b"IDAT", z) + iend,
        "a tEXt chunk before IHDR", "header-lie")
    add("signature-corrupt", b"\x89PNG\r\n\x1a\x00" + good[8:], "PNG signature with its last byte changed", "header-lie")
    add("gama-length-7", sig_ihdr + png_chunk(b"gAMA", b"\0" * 7) + png_chunk(b"IDAT", z) + iend, "gAMA of 7 bytes (4 required)", "header-lie")
    add("chrm-length-3", sig_ihdr + png_chunk(b"cHRM", b"\0" * 3) + png_chunk(b"IDAT", z) + iend, "cHRM of 3 bytes (32 required)", "header-lie")
    add("srgb-intent-200", sig_ihdr + png_chunk(b"sRGB", b"\xC8") + png_chunk(b"IDAT", z) + iend, "sRGB rendering intent 200", "header-lie")
    add("sbit-length-100", sig_ihdr + png_chunk(b"sBIT", b"\x08" * 100) + png_chunk(b"IDAT", z) + iend, "sBIT of 100 bytes", "header-lie")
    add("filter-type-5", sig_ihdr + png_chunk(b"IDAT", zlib.compress(bytes(b if i % 49 else 5 for i, b in enumerate(rgb16)))) + iend,
        "every scanline has filter type 5 (invalid)", "header-lie")

    # --- palette lies
    idx256 = png_rows(16, 16, 1, lambda x, y: ((x + y * 16) & 255,))
    add("plte-index-out-of-range", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", palette(2)) + png_chunk(b"IDAT", zlib.compress(idx256)) + iend,
        "2-entry palette, pixel indices 0..255", "palette-lie")
    add("plte-4bit-index-15-of-2", PNG_SIG + ihdr(16, 16, 4, 3) + png_chunk(b"PLTE", palette(2))
        + png_chunk(b"IDAT", zlib.compress(png_rows(8, 16, 1, lambda x, y: (0xF0 | (x & 15),)))) + iend,
        "4-bit palette image with 2 palette entries, indices up to 15", "palette-lie")
    add("plte-length-7", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", palette(2) + b"x") + png_chunk(b"IDAT", zlib.compress(idx16)) + iend,
        "PLTE of 7 bytes (not a multiple of 3)", "palette-lie")
    add("plte-257-entries", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", palette(257)) + png_chunk(b"IDAT", zlib.compress(idx16)) + iend,
        "PLTE with 257 entries (max 256)", "palette-lie")
    add("plte-empty", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", b"") + png_chunk(b"IDAT", zlib.compress(idx16)) + iend,
        "zero-length PLTE for a palette image", "palette-lie")
    add("plte-missing", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"IDAT", zlib.compress(idx16)) + iend,
        "palette image without PLTE", "palette-lie")
    add("plte-after-idat", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"IDAT", zlib.compress(idx16)) + png_chunk(b"PLTE", pal16) + iend,
        "PLTE after IDAT", "palette-lie")
    add("plte-len-fffffff0", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", pal16, length=BIG) + png_chunk(b"IDAT", zlib.compress(idx16)) + iend,
        "PLTE length 0xFFFFFFF0", "palette-lie")
    add("trns-longer-than-plte", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", palette(4)) + png_chunk(b"tRNS", b"\x80" * 256)
        + png_chunk(b"IDAT", zlib.compress(idx16)) + iend, "tRNS of 256 entries for a 4-entry palette", "palette-lie")
    add("trns-for-rgba", PNG_SIG + ihdr(4, 4, 8, 6) + png_chunk(b"tRNS", b"\0" * 6)
        + png_chunk(b"IDAT", zlib.compress(png_rows(4, 4, 4, lambda x, y: (x, y, 0, 255)))) + iend, "tRNS chunk in an RGBA image (forbidden)", "palette-lie")
    add("trns-rgb-length-1000", sig_ihdr + png_chunk(b"tRNS", b"\0" * 1000) + png_chunk(b"IDAT", z) + iend,
        "RGB tRNS of 1000 bytes (6 required)", "palette-lie")
    add("bkgd-index-200-of-2", PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"PLTE", palette(2)) + png_chunk(b"bKGD", b"\xC8")
        + png_chunk(b"IDAT", zlib.compress(png_rows(16, 16, 1, lambda x, y: ((x + y) & 1,)))) + iend, "bKGD palette index 200 of 2", "palette-lie")

    # --- ICC profile lies
    def iccp(profile_z, name=b"icc", method=0, length=None):
        return png_chunk(b"iCCP", name + b"\0" + u8(method) + profile_z, length=length)

    idat = png_chunk(b"IDAT", z)
    add("iccp-bad-zlib", sig_ihdr + iccp(bytes(random.Random(0).randrange(256) for _ in range(200))) + idat + iend,
        "iCCP whose compressed profile is 200 random bytes", "icc-lie")
    co = zlib.compressobj(9)
    bomb = co.compress(fake_icc(size_field=64 << 20)) + b"".join(co.compress(b"\0" * (1 << 20)) for _ in range(64)) + co.flush()
    add("iccp-bomb-64mb", sig_ihdr + iccp(bomb) + idat + iend, "iCCP that inflates to 64 MB", "icc-lie")
    add("iccp-declared-size-fffffff0", sig_ihdr + iccp(zlib.compress(fake_icc(size_field=BIG))) + idat + iend,
        "iCCP whose ICC header declares a profile size of 0xFFFFFFF0", "icc-lie")
    add("iccp-declared-size-0", sig_ihdr + iccp(zlib.compress(fake_icc(size_field=0))) + idat + iend,
        "iCCP whose ICC header declares a profile size of 0", "icc-lie")
    add("iccp-tag-count-huge", sig_ihdr + iccp(zlib.compress(fake_icc()[:128] + be32(0x0FFFFFFF))) + idat + iend,
        "iCCP profile with a tag count of 0x0FFFFFFF and no tag table", "icc-lie")
    add("iccp-name-no-nul", sig_ihdr + png_chunk(b"iCCP", b"n" * 100) + idat + iend,
        "iCCP of 100 keyword bytes without a terminator", "icc-lie")
    add("iccp-method-1", sig_ihdr + iccp(zlib.compress(fake_icc()), method=1) + idat + iend, "iCCP compression method 1", "icc-lie")
    add("iccp-twice", sig_ihdr + iccp(zlib.compress(fake_icc())) + iccp(zlib.compress(fake_icc(size_field=BIG))) + idat + iend,
        "two iCCP chunks", "icc-lie")
    add("iccp-len-fffffff0", sig_ihdr + iccp(zlib.compress(fake_icc()), length=BIG) + idat + iend, "iCCP length 0xFFFFFFF0", "icc-lie")
    add("iccp-truncated-zlib", sig_ihdr + iccp(zlib.compress(fake_icc(body=bytes(range(256)) * 8))[:40]) + idat + iend,
        "iCCP zlib stream cut after 40 bytes", "icc-lie")
    add("iccp-empty", sig_ihdr + iccp(b"") + idat + iend, "iCCP with an empty compressed profile", "icc-lie")

    # --- eXIf lies
    for suffix, t, desc in exif_lies():
        add(f"exif-{suffix}", png(16, 16, 2, rgb16, pre=[png_chunk(b"eXIf", t)]), "eXIf: " + desc, "exif-lie")
    add("exif-len-fffffff0", sig_ihdr + png_chunk(b"eXIf", exif_orientation(6), length=BIG) + idat + iend,
        "eXIf chunk length 0xFFFFFFF0", "exif-lie")
    add("exif-after-idat-rot6", png(16, 16, 2, rgb16, post=[png_chunk(b"eXIf", exif_orientation(6))]),
        "eXIf (Orientation=6) after IDAT", "exif-lie")
    add("exif-twice", png(16, 16, 2, rgb16, pre=[png_chunk(b"eXIf", exif_orientation(6)), png_chunk(b"eXIf", exif_orientation(3))]),
        "two eXIf chunks (Orientation 6, then 3)", "exif-lie")
    add("exif-with-exif00-prefix", png(16, 16, 2, rgb16, pre=[png_chunk(b"eXIf", b"Exif\0\0" + exif_orientation(6))]),
        "eXIf payload that starts with the JPEG 'Exif\\0\\0' prefix", "exif-lie")
    add("exif-2001-entries", png(16, 16, 2, rgb16, pre=[png_chunk(b"eXIf", tiff([(0x9000 + i, 7, 4, 0) for i in range(2000)] + [(ORIENT, 3, 1, 6)]))]),
        "eXIf with 2001 entries (24 KB), Orientation last", "exif-lie")

    # --- text / XMP lies
    co = zlib.compressobj(9)
    ztxt = co.compress(b"A" * (16 << 20)) + co.flush()
    add("ztxt-bomb-16mb", sig_ihdr + png_chunk(b"zTXt", b"Comment\0\0" + ztxt) + idat + iend, "zTXt that inflates to 16 MB", "text-lie")
    add("itxt-xmp-nested-5000", sig_ihdr + png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp_nested(5000)) + idat + iend,
        "iTXt XMP packet with 5000 nested elements", "xmp-lie")
    add("itxt-xmp-entity-bomb", sig_ihdr + png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp_entity_bomb()) + idat + iend,
        "iTXt XMP packet with a billion-laughs entity bomb", "xmp-lie")
    add("itxt-xmp-compressed-bad-zlib", sig_ihdr + png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\1\0\0\0" + b"\x78\x9c" + b"\xff" * 50) + idat + iend,
        "compressed iTXt XMP with a corrupt zlib stream", "xmp-lie")
    add("itxt-compressed-bomb-16mb", sig_ihdr + png_chunk(b"iTXt", b"Comment\0\1\0\0\0" + ztxt) + idat + iend,
        "compressed iTXt that inflates to 16 MB", "text-lie")
    add("text-keyword-no-nul", sig_ihdr + png_chunk(b"tEXt", b"k" * 200) + idat + iend, "tEXt without keyword terminator", "text-lie")
    add("text-x1000", sig_ihdr + png_chunk(b"tEXt", b"k\0v") * 1000 + idat + iend, "1000 tEXt chunks before IDAT", "text-lie")

    # --- APNG lies
    def actl(frames, plays=0):
        return png_chunk(b"acTL", be32(frames) + be32(plays))

    def fctl(seq, w, h, x=0, y=0):
        return png_chunk(b"fcTL", be32(seq) + be32(w) + be32(h) + be32(x) + be32(y) + be16(1) + be16(10) + b"\0\0")

    add("apng-actl-frames-ffffffff", png(16, 16, 2, rgb16, pre=[actl(0xFFFFFFFF), fctl(0, 16, 16)]),
        "APNG acTL claiming 0xFFFFFFFF frames, one present", "frame-bomb")
    add("apng-actl-frames-0", png(16, 16, 2, rgb16, pre=[actl(0)]), "APNG acTL with 0 frames", "frame-bomb")
    add("apng-fctl-60000x60000", png(16, 16, 2, rgb16, pre=[actl(1), fctl(0, 60000, 60000)]),
        "APNG fcTL 60000x60000 before the 16x16 IDAT", "frame-bomb")
    add("apng-fctl-offset-overflow", png(16, 16, 2, rgb16, pre=[actl(1), fctl(0, 16, 16, x=BIG, y=BIG)]),
        "APNG fcTL offsets 0xFFFFFFF0 (x + width overflows)", "frame-bomb")
    add("apng-fctl-0x0", png(16, 16, 2, rgb16, pre=[actl(1), fctl(0, 0, 0)]), "APNG fcTL of 0x0", "frame-bomb")
    add("apng-fdat-sequence-lie", png(16, 16, 2, rgb16, pre=[actl(3), fctl(0, 16, 16)],
        post=[fctl(7, 16, 16), png_chunk(b"fdAT", be32(2) + z[:10], length=BIG)]),
        "APNG second frame: fcTL/fdAT sequence numbers out of order, fdAT length 0xFFFFFFF0", "frame-bomb")
    frames = [actl(1000), fctl(0, 16, 16)]
    post = []
    fz = zlib.compress(png_rows(1, 1, 3, rgb_pattern))
    for i in range(1, 1000):
        post += [fctl(2 * i - 1, 1, 1), png_chunk(b"fdAT", be32(2 * i) + fz)]
    add("apng-1000-frames", png(16, 16, 2, rgb16, pre=frames, post=post), "APNG with 1000 1x1 frames", "frame-bomb")

    # --- zlib stream lies
    add("zlib-bad-header", sig_ihdr + png_chunk(b"IDAT", b"\x78\x00" + z[2:]) + iend, "zlib header with a bad FCHECK", "zlib-lie")
    add("zlib-bad-adler", sig_ihdr + png_chunk(b"IDAT", z[:-4] + b"\0\0\0\0") + iend, "zlib stream with a wrong Adler-32", "zlib-lie")
    add("zlib-preset-dictionary", sig_ihdr + png_chunk(b"IDAT", b"\x78\xBB" + b"\0\0\0\1" + z[2:]) + iend,
        "zlib header with FDICT (preset dictionary) set", "zlib-lie")
    stored = b"\x78\x01" + b"\x01" + le16(len(rgb16)) + le16(0x1234) + rgb16 + be32(zlib.adler32(rgb16))
    add("zlib-stored-nlen-mismatch", sig_ihdr + png_chunk(b"IDAT", stored) + iend, "stored deflate block whose NLEN is not ~LEN", "zlib-lie")
    stored = b"\x78\x01" + b"\x01" + le16(0xFFFF) + le16(0) + rgb16[:100]
    add("zlib-stored-len-ffff-past-eof", sig_ihdr + png_chunk(b"IDAT", stored) + iend, "stored deflate block of 65535 bytes, 100 present", "zlib-lie")
    add("zlib-reserved-block-type", sig_ihdr + png_chunk(b"IDAT", b"\x78\x01\x07" + b"\0" * 20) + iend, "deflate block type 3 (reserved)", "zlib-lie")
    add("zlib-empty-stream", sig_ihdr + png_chunk(b"IDAT", zlib.compress(b"")) + iend, "a complete but empty zlib stream for a 16x16 image", "zlib-lie")

    # --- truncations of a small PNG with many chunk kinds
    base = (PNG_SIG + ihdr(16, 16, 8, 3) + png_chunk(b"gAMA", be32(45455)) + png_chunk(b"PLTE", pal16)
            + png_chunk(b"tRNS", bytes(range(0, 256, 16))) + png_chunk(b"eXIf", exif_orientation(3)))
    zi = zlib.compress(idx16, 9)
    third = len(zi) // 3
    base += png_chunk(b"IDAT", zi[:third]) + png_chunk(b"IDAT", zi[third:2 * third]) + png_chunk(b"IDAT", zi[2 * third:])
    base += png_chunk(b"tEXt", b"Comment\0hostile corpus") + iend
    add("valid-truncation-base", base, "valid 16x16 palette PNG (gAMA, PLTE, tRNS, eXIf, 3 IDAT, tEXt): the base of png-trunc-*", "valid", valid=True)
    cuts = [(8, "after the signature")]
    for pos, end in chunk_spans(base, 8, 12, lambda d, p: 12 + struct.unpack(">I", d[p:p + 4])[0]):
        typ = base[pos + 4:pos + 8].decode()
        cuts += [(pos + 6, f"inside the {typ} chunk header"), ((pos + 8 + end - 4) // 2, f"inside the {typ} data"),
                 (end - 4, f"{typ} without its CRC"), (end, f"after {typ}")]
    add_truncations(c, "palette", base, cuts, "png", "png", "valid palette PNG")


# ----- JPEG ------------------------------------------------------------------------------------------------

def jpeg_cases(c):
    def add(name, data, desc, cls, **kw):
        c.add(f"jpeg-{name}.jpg", data, desc, "jpeg", cls, **kw)

    add("valid-baseline-420-32x32", jpeg(32, 32, YCC, pre=[JFIF]), "valid baseline JFIF 32x32 YCbCr 4:2:0", "valid", valid=True)
    add("valid-gray-24x16", jpeg(24, 16, GRAY, pre=[JFIF]), "valid baseline 24x16 grayscale", "valid", valid=True)
    add("valid-444-exif-rot6", jpeg(32, 16, YCC444, pre=[exif_app1(exif_orientation(6))]),
        "valid baseline 32x16 4:4:4 with EXIF Orientation = 6", "valid", valid=True)
    add("valid-restart-dri2", jpeg(48, 48, YCC, pre=[JFIF], dri=2), "valid baseline 48x48 4:2:0, restart interval 2 (RST0..RST3)", "valid", valid=True)
    add("valid-progressive-444-32x32", jpeg_progressive(32, 32, YCC444), "valid progressive 32x32 4:4:4 (DC scan + one AC scan per component)",
        "valid", valid=True)
    add("valid-xmp", jpeg(16, 16, GRAY, pre=[JFIF, app(1, b"http://ns.adobe.com/xap/1.0/\0" + XMP)]), "valid 16x16 gray with an XMP APP1",
        "valid", valid=True)
    add("valid-at-pixel-limit-8000x5000-progressive-gray", jpeg_progressive(8000, 5000, GRAY, flat=True),
        "valid progressive 8000x5000 gray (exactly 40,000,000 px, the default clip.max_image_pixels)", "valid", valid=True)

    g_tables = jpeg_tables(GRAY)
    g_sof = sof(16, 16, GRAY)
    g_sos = sos(scan_tables(GRAY))
    g_scan = jpeg_scan_dc(16, 16, GRAY)

    # --- segment length lies
    add("len-app1-ffff-past-eof", b"\xFF\xD8" + app(1, b"Exif\0\0" + exif_orientation(6), length=0xFFFF) + g_tables + g_sof + g_sos + g_scan + b"\xFF\xD9",
        "APP1 length 0xFFFF in a 400-byte file (the segment swallows the image and runs past EOF)", "length-lie")
    for n in (0, 1):
        add(f"len-app0-{n}", b"\xFF\xD8" + b"\xFF\xE0" + be16(n) + b"JFIF\0" + g_tables + g_sof + g_sos + g_scan + b"\xFF\xD9",
            f"APP0 segment length {n} (less than the 2 bytes of the length itself)", "length-lie")
    add("len-dqt-past-eof", b"\xFF\xD8" + seg(0xDB, b"\0" + b"\x08" * 64, length=0xFFF0), "DQT length 0xFFF0 at the end of a short file", "length-lie")
    add("len-dqt-3", b"\xFF\xD8" + seg(0xDB, b"\0", length=3) + g_tables + g_sof + g_sos + g_scan + b"\xFF\xD9",
        "DQT of length 3 (table id, no values)", "length-lie")
    add("len-sof-8", jpeg(16, 16, GRAY, sof_seg=b"\xFF\xC0" + be16(8) + u8(8) + be16(16) + be16(16) + u8(1)),
        "SOF0 length 8: component count 1, component spec missing", "length-lie")
    add("len-sof-200", jpeg(16, 16, GRAY, sof_seg=seg(0xC0, sof(16, 16, GRAY)[4:] + b"\0" * 189)), "SOF0 padded to 200 bytes", "length-lie")
    add("len-dht-past-eof", b"\xFF\xD8" + dqt(0) + g_sof + seg(0xC4, u8(0) + bytes(DC_LUM_BITS) + bytes(DC_LUM_VALS), length=0xFFFF),
        "DHT length 0xFFFF past EOF", "length-lie")
    add("len-sos-3", jpeg(16, 16, GRAY, sos_seg=b"\xFF\xDA" + be16(3) + u8(1)), "SOS of length 3 (component spec missing)", "length-lie")
    add("len-com-ffff-past-eof", b"\xFF\xD8" + seg(0xFE, b"comment", length=0xFFFF), "COM length 0xFFFF in a tiny file", "length-lie")
    add("len-dri-6", jpeg(16, 16, GRAY, post_sof=[b"\xFF\xDD" + be16(6) + be16(1) + be16(1)]), "DRI of length 6 (4 required)", "length-lie")
    add("len-empty-app-x3000", jpeg(16, 16, GRAY, pre=[app(5, b"")] * 3000), "3000 empty APP5 segments before the frame", "length-lie")
    add("len-fill-ff-20000", b"\xFF\xD8" + b"\xFF" * 20000 + jpeg(16, 16, GRAY)[2:], "20000 0xFF fill bytes after SOI", "length-lie")

    # --- table lies
    def gray_with(tables=None, scan=None, sof_seg=None, sos_seg=None, w=16, h=16):
        return jpeg(w, h, GRAY, tables=tables, scan=scan, sof_seg=sof_seg, sos_seg=sos_seg)

    add("dht-counts-4080", gray_with(tables=dqt(0) + seg(0xC4, u8(0) + bytes([255] * 16) + bytes(range(12)))),
        "DHT whose 16 code-length counts are 255 each (4080 codes declared, 12 values present)", "table-lie")
    add("dht-oversubscribed", gray_with(tables=dqt(0) + dht(0, 0, [3] + [0] * 15, [0, 1, 2]) + dht(1, 0, AC_BITS, AC_VALS)),
        "DC table with three codes of length 1 (over-subscribed)", "table-lie")
    add("dht-table-id-7", gray_with(tables=dqt(0) + dht(0, 7, DC_LUM_BITS, DC_LUM_VALS) + dht(1, 0, AC_BITS, AC_VALS)),
        "DHT with table id 7 (0..3 allowed)", "table-lie")
    add("dht-class-3", gray_with(tables=dqt(0) + dht(3, 0, DC_LUM_BITS, DC_LUM_VALS) + dht(1, 0, AC_BITS, AC_VALS)),
        "DHT with table class 3", "table-lie")
    add("dht-missing-ac", gray_with(tables=dqt(0) + dht(0, 0, DC_LUM_BITS, DC_LUM_VALS)), "no AC Huffman table for the scan", "table-lie")
    add("dht-all-zero-counts", gray_with(tables=dqt(0) + dht(0, 0, [0] * 16, []) + dht(1, 0, AC_BITS, AC_VALS)),
        "DC table with no codes at all", "table-lie")
    add("dht-length-16-codes", gray_with(tables=dqt(0) + dht(0, 0, [0] * 15 + [12], DC_LUM_VALS) + dht(1, 0, AC_BITS, AC_VALS)),
        "DC table whose 12 codes are all 16 bits long (scan uses 2-bit codes)", "table-lie")
    for sym, bits_after, name, desc in [(15, 15, "dc-category-15", "DC difference category 15 (max 11 for 8-bit)"),
                                        (32, 32, "dc-category-32", "DC difference category 32 (a 32-bit shift)"),
                                        (255, 16, "dc-category-255", "DC difference category 255")]:
        bw = MsbBits()
        bw.write(0b01, 2)
        bw.write((1 << bits_after) - 1, bits_after)
        bw.write(0b000, 3)                                   # AC EOB
        for _ in range(3):
            bw.write(0b00, 2)
            bw.write(0b000, 3)
        add(name, gray_with(tables=dqt(0) + dht(0, 0, [0, 2] + [0] * 14, [0, sym]) + dht(1, 0, AC_BITS, AC_VALS), scan=bw.getvalue()),
            desc + " used by the first block", "table-lie")
    ac = huff_codes(AC_BITS, AC_VALS)
    bw = MsbBits()
    for blk in range(4):
        bw.write(0b00, 2)                                    # DC diff 0
        if blk == 0:
            for _ in range(5):
                bw.write(*ac[0xF0])                          # ZRL: 16 zeros each -> 80 > 63
            bw.write(*ac[0x01])
            bw.write(1, 1)
        bw.write(*ac[0x00])
    add("ac-run-past-63", gray_with(scan=bw.getvalue()), "first block: five ZRL (80 zero coefficients) then a coefficient: index past 63", "table-lie")
    bw = MsbBits()
    for blk in range(4):
        bw.write(0b00, 2)
        for _ in range(63):
            bw.write(*ac[0x01])
            bw.write(1, 1)
        bw.write(*ac[0x01])
        bw.write(1, 1)
    add("ac-64-coefficients-no-eob", gray_with(scan=bw.getvalue()), "every block codes 64 AC coefficients (one too many) and no EOB", "table-lie")
    bw = MsbBits()
    for blk in range(4):
        bw.write(0b00, 2)
        bw.write(0b01, 2)
        bw.write((1 << 15) - 1, 15)
        bw.write(0b00, 2)
    add("ac-size-15", gray_with(tables=dqt(0) + dht(0, 0, DC_LUM_BITS, DC_LUM_VALS) + dht(1, 0, [0, 2] + [0] * 14, [0x00, 0x0F]), scan=bw.getvalue()),
        "AC coefficients of magnitude category 15 (max 10 for 8-bit)", "table-lie")
    add("dqt-id-7", gray_with(tables=seg(0xDB, u8(7) + b"\x08" * 64) + jpeg_tables(GRAY)[69:]), "DQT with table id 7", "table-lie")
    add("dqt-16bit-65535", gray_with(tables=dqt(0, precision=1, values=[65535] * 64) + jpeg_tables(GRAY)[69:]),
        "16-bit quantisation table of 65535s in a baseline file", "table-lie")
    add("dqt-all-zero", gray_with(tables=dqt(0, q=0) + jpeg_tables(GRAY)[69:]), "quantisation table of zeros", "table-lie")
    add("dqt-missing", gray_with(tables=jpeg_tables(GRAY)[69:]), "no DQT at all", "table-lie")
    add("dqt-precision-15", gray_with(tables=seg(0xDB, u8(0xF0) + b"\x08" * 64) + jpeg_tables(GRAY)[69:]), "DQT precision nibble 15", "table-lie")

    # --- frame (SOF) lies
    add("sof-0-components", jpeg(16, 16, GRAY, sof_seg=seg(0xC0, u8(8) + be16(16) + be16(16) + u8(0))), "SOF0 with 0 components", "frame-lie")
    add("sof-255-components", jpeg(16, 16, GRAY, sof_seg=seg(0xC0, u8(8) + be16(16) + be16(16) + u8(255)
                                                             + b"".join(u8(i) + b"\x11\x00" for i in range(1, 256)))),
        "SOF0 with 255 components", "frame-lie")
    add("sof-5-components", jpeg(16, 16, GRAY, sof_seg=sof(16, 16, [(i, 1, 1, 0) for i in range(1, 6)])), "SOF0 with 5 components", "frame-lie")
    add("sof-sampling-0x0", jpeg(16, 16, GRAY, sof_seg=sof(16, 16, [(1, 0, 0, 0)])), "component sampling factors 0x0", "frame-lie")
    add("sof-sampling-15x15", jpeg(16, 16, GRAY, sof_seg=sof(16, 16, [(1, 15, 15, 0)])), "component sampling factors 15x15 (max 4)", "frame-lie")
    for name, comps, desc in [
        ("sof-sampling-chroma-above-luma", [(1, 1, 1, 0), (2, 2, 2, 1), (3, 2, 2, 1)], "Y 1x1, Cb/Cr 2x2 (chroma denser than luma)"),
        ("sof-sampling-3x1", [(1, 3, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)], "Y 3x1, Cb/Cr 1x1 (non-power-of-two ratio)"),
        ("sof-sampling-4x4-vs-1x1", [(1, 4, 4, 0), (2, 1, 1, 1), (3, 1, 1, 1)], "Y 4x4, Cb/Cr 1x1 (16:1)"),
        ("sof-sampling-mixed", [(1, 2, 1, 0), (2, 1, 2, 1), (3, 1, 1, 1)], "Y 2x1, Cb 1x2, Cr 1x1"),
        ("sof-sampling-440", [(1, 1, 2, 0), (2, 1, 1, 1), (3, 1, 1, 1)], "Y 1x2, Cb/Cr 1x1 (4:4:0)"),
        ("sof-sampling-3x3-vs-2x2", [(1, 3, 3, 0), (2, 2, 2, 1), (3, 1, 1, 1)], "Y 3x3, Cb 2x2, Cr 1x1 (non-integer ratios)"),
    ]:
        add(name, jpeg(40, 24, comps), f"baseline 40x24 with sampling factors {desc}; scan data matches the MCU layout", "frame-lie")
    add("sof-duplicate-component-ids", jpeg(16, 16, [(1, 1, 1, 0), (1, 1, 1, 1), (1, 1, 1, 1)]), "three components all with id 1", "frame-lie")
    add("sof-quant-table-5", jpeg(16, 16, [(1, 1, 1, 5)]), "component refers to quantisation table 5", "frame-lie")
    add("sof-undefined-quant-table-3", jpeg(16, 16, [(1, 1, 1, 3)]), "component refers to quantisation table 3 (never defined)", "frame-lie")
    for p in (0, 12, 16):
        add(f"sof-precision-{p}", jpeg(16, 16, GRAY, sof_seg=sof(16, 16, GRAY, 0xC1 if p == 12 else 0xC0, precision=p)),
            f"SOF{'1' if p == 12 else '0'} with sample precision {p}", "frame-lie")
    for m, name in [(0xC3, "sof3-lossless"), (0xC9, "sof9-arithmetic"), (0xC5, "sof5-differential"), (0xCA, "sof10-progressive-arithmetic"),
                    (0xF7, "sof55-jpeg-ls")]:
        add(name, jpeg(16, 16, GRAY, sof_marker=m), f"frame marker 0xFF{m:02X} ({name.split('-', 1)[1]}), baseline scan data", "frame-lie")
    add("sof-twice-second-65535x65535", jpeg(16, 16, GRAY, post_sof=[sof(65535, 65535, GRAY)]), "a second SOF0 (65535x65535) after the first (16x16)", "frame-lie")
    add("sof-height-0-dnl", jpeg(16, 16, GRAY, sof_seg=sof(16, 0, GRAY))[:-2] + seg(0xDC, be16(16)) + b"\xFF\xD9",
        "SOF0 height 0 (to be defined by a DNL marker), DNL after the scan", "frame-lie")
    add("sof-missing", b"\xFF\xD8" + g_tables + g_sos + g_scan + b"\xFF\xD9", "no SOF: tables, then SOS", "frame-lie")
    cmyk = [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1), (4, 1, 1, 1)]
    adobe = app(14, b"Adobe" + be16(100) + be16(0) + be16(0) + u8(2))
    add("adobe-ycck-1-component", jpeg(16, 16, GRAY, pre=[adobe]), "Adobe APP14 transform 2 (YCCK) on a 1-component image", "frame-lie")
    add("adobe-ycck-3-components", jpeg(16, 16, YCC444, pre=[adobe]), "Adobe APP14 transform 2 (YCCK) on a 3-component image", "frame-lie")
    add("adobe-short", jpeg(16, 16, cmyk, pre=[app(14, b"Adobe")]), "CMYK with an Adobe APP14 of 5 bytes (12 required)", "frame-lie")
    add("cmyk-no-adobe", jpeg(16, 16, cmyk), "4-component (CMYK) baseline without an Adobe marker", "frame-lie")

    # --- scan lies
    add("sos-component-not-in-frame", jpeg(16, 16, GRAY, sos_seg=sos([(9, 0, 0)])), "SOS names component 9, the frame has only 1", "scan-lie")
    add("sos-0-components", jpeg(16, 16, GRAY, sos_seg=seg(0xDA, u8(0) + b"\x00\x3F\x00")), "SOS with 0 components", "scan-lie")
    add("sos-5-components", jpeg(16, 16, YCC444, sos_seg=sos([(1, 0, 0), (2, 1, 1), (3, 1, 1), (4, 1, 1), (5, 1, 1)])), "SOS with 5 components", "scan-lie")
    add("sos-se-200", jpeg(16, 16, GRAY, sos_seg=sos([(1, 0, 0)], 0, 200)), "baseline SOS with spectral end 200", "scan-lie")
    add("sos-ss-after-se", jpeg(16, 16, GRAY, sos_seg=sos([(1, 0, 0)], 40, 5)), "baseline SOS with Ss 40 > Se 5", "scan-lie")
    add("sos-table-ids-3", jpeg(16, 16, GRAY, sos_seg=sos([(1, 3, 3)])), "SOS uses Huffman tables 3/3 (never defined)", "scan-lie")
    add("sos-twice-second-garbage", jpeg(16, 16, GRAY)[:-2] + g_sos + bytes(random.Random(1).randrange(255) for _ in range(300)) + b"\xFF\xD9",
        "a second baseline scan of random bytes", "scan-lie")
    add("scan-random", gray_with(scan=bytes(random.Random(2).randrange(255) for _ in range(400))), "400 random bytes of entropy-coded data", "scan-lie")
    add("scan-all-ff00", gray_with(scan=b"\xFF\x00" * 300), "entropy-coded data of 300 stuffed 0xFF bytes", "scan-lie")
    add("scan-empty", gray_with(scan=b""), "SOS immediately followed by EOI", "scan-lie")
    add("scan-huge-image-one-mcu", jpeg(4096, 4096, GRAY, scan=g_scan[:4]), "SOF 4096x4096 gray, the scan holds a few bytes", "dimension-lie")
    add("rst-wrong-numbers", jpeg(48, 48, YCC, dri=1, scan=jpeg_scan_dc(48, 48, YCC, 1, rst_fn=lambda i: 7)), "every restart marker is RST7", "scan-lie")
    add("rst-missing", jpeg(48, 48, YCC, dri=1, scan=jpeg_scan_dc(48, 48, YCC, 0)), "DRI 1 but no restart markers in the data", "scan-lie")
    add("dri-65535", jpeg(48, 48, YCC, dri=65535), "restart interval 65535 (more than the 9 MCUs)", "scan-lie")
    add("rst-before-sos", jpeg(16, 16, GRAY, post_sof=[b"\xFF\xD0\xFF\xD3"]), "RST0, RST3 markers between the frame header and SOS", "scan-lie")

    # --- dimension lies
    add("dims-65535x65535", jpeg(65535, 65535, GRAY, scan=g_scan[:4]), "SOF 65535x65535 (4.3e9 px)", "pixel-bomb", expect="54000")
    add("dims-65535x610-tiny-data", jpeg(65535, 610, GRAY, scan=g_scan[:4]), "SOF 65535x610 (39,976,350 px, under the limit) with 4 bytes of scan", "pixel-bomb")
    add("dims-0x0", jpeg(16, 16, GRAY, sof_seg=sof(0, 0, GRAY)), "SOF 0x0", "dimension-lie")
    add("dims-width-0", jpeg(16, 16, GRAY, sof_seg=sof(0, 16, GRAY)), "SOF width 0", "dimension-lie")
    add("dims-1x65535", jpeg(1, 65535, GRAY, scan=g_scan[:4]), "SOF 1x65535 (aspect 65535:1) with 4 bytes of scan", "dimension-lie")
    add("dims-sof-16x16-scan-for-64x64", jpeg(16, 16, GRAY, scan=jpeg_scan_dc(64, 64, GRAY)), "SOF 16x16, scan data for 64x64", "dimension-lie")

    # --- ICC (APP2) lies
    prof = fake_icc(body=bytes(range(256)) * 4)
    g = lambda pre: jpeg(16, 16, GRAY, pre=pre)   # noqa: E731
    add("icc-count-255-one-chunk", g([icc_app2(1, 255, prof)]), "APP2 ICC chunk 1 of 255, the other 254 missing", "icc-lie")
    add("icc-seq-0", g([icc_app2(0, 1, prof)]), "APP2 ICC chunk sequence number 0", "icc-lie")
    add("icc-seq-above-count", g([icc_app2(5, 2, prof[:600]), icc_app2(1, 2, prof[600:])]), "APP2 ICC chunks numbered 5 and 1 of 2", "icc-lie")
    add("icc-count-0", g([icc_app2(1, 0, prof)]), "APP2 ICC chunk count 0", "icc-lie")
    add("icc-duplicate-seq", g([icc_app2(1, 2, prof[:600]), icc_app2(1, 2, prof[600:])]), "two APP2 ICC chunks both numbered 1 of 2", "icc-lie")
    add("icc-counts-disagree", g([icc_app2(1, 2, prof[:600]), icc_app2(2, 3, prof[600:])]), "APP2 ICC chunks 1/2 then 2/3", "icc-lie")
    add("icc-255-chunks-all-seq-1", g([icc_app2(1, 255, prof[:50])] * 255), "255 APP2 ICC chunks, every one numbered 1 of 255", "icc-lie")
    add("icc-255-chunks-complete", g([icc_app2(i, 255, prof[i * 4:(i + 1) * 4] if i < 255 else b"") for i in range(1, 256)]),
        "a complete 255-chunk ICC sequence of 4-byte chunks", "icc-lie")
    add("icc-declared-size-fffffff0", g([icc_app2(1, 1, fake_icc(size_field=BIG))]), "ICC profile header declares 0xFFFFFFF0 bytes", "icc-lie")
    add("icc-empty-payload", g([app(2, b"ICC_PROFILE\0")]), "APP2 'ICC_PROFILE' with no sequence bytes", "icc-lie")
    add("icc-len-ffff-past-eof", b"\xFF\xD8" + app(2, b"ICC_PROFILE\0\1\1" + prof[:100], length=0xFFFF), "APP2 ICC segment length 0xFFFF past EOF", "icc-lie")

    # --- EXIF (APP1) lies
    for suffix, t, desc in exif_lies():
        add(f"exif-{suffix}", jpeg(16, 16, GRAY, pre=[exif_app1(t)]), "APP1 EXIF: " + desc, "exif-lie")
    add("exif-app1-twice", g([exif_app1(tiff([(ORIENT, 3, 1, 6)], ifd_offset=BIG)), exif_app1(exif_orientation(6))]),
        "two APP1 EXIF segments: a bogus one, then Orientation=6", "exif-lie")
    add("exif-no-tiff", g([app(1, b"Exif\0\0")]), "APP1 'Exif\\0\\0' with nothing after it", "exif-lie")
    add("exif-no-prefix", g([app(1, exif_orientation(6))]), "APP1 TIFF data without the 'Exif\\0\\0' prefix", "exif-lie")
    add("exif-thumbnail-length-fffffff0", g([exif_app1(tiff([(ORIENT, 3, 1, 1)], next_ifd=26,
                                                           tail=le16(2) + struct.pack("<HHII", 0x0201, 4, 1, 60) + struct.pack("<HHII", 0x0202, 4, 1, BIG) + le32(0)))]),
        "EXIF IFD1 thumbnail (JPEGInterchangeFormat) with length 0xFFFFFFF0", "exif-lie")
    thumb = jpeg(8, 8, GRAY)
    for _ in range(12):
        ifd1 = le16(2) + struct.pack("<HHII", 0x0201, 4, 1, 26 + 30) + struct.pack("<HHII", 0x0202, 4, 1, len(thumb)) + le32(0)
        thumb = jpeg(8, 8, GRAY, pre=[exif_app1(tiff([(ORIENT, 3, 1, 1)], next_ifd=26, tail=ifd1 + thumb))])
    add("exif-nested-thumbnails-12", thumb, "EXIF thumbnail that is a JPEG with an EXIF thumbnail ... 12 levels deep", "exif-lie")

    # --- XMP lies
    ns = b"http://ns.adobe.com/xap/1.0/\0"
    add("xmp-nested-5000", g([app(1, ns + xmp_nested(5000))]), "XMP APP1 with 5000 nested elements", "xmp-lie")
    add("xmp-entity-bomb", g([app(1, ns + xmp_entity_bomb())]), "XMP APP1 with a billion-laughs entity bomb", "xmp-lie")
    ext = b"http://ns.adobe.com/xmp/extension/\0" + b"0" * 32
    add("xmp-extended-length-fffffff0", g([app(1, ns + XMP), app(1, ext + be32(BIG) + be32(0) + XMP)]),
        "extended XMP chunk claiming a full length of 0xFFFFFFF0", "xmp-lie")
    add("xmp-extended-offset-past-length", g([app(1, ext + be32(100) + be32(BIG) + XMP)]), "extended XMP chunk at offset 0xFFFFFFF0 of 100", "xmp-lie")
    add("xmp-no-nul", g([app(1, b"http://ns.adobe.com/xap/1.0/" + XMP)]), "XMP namespace without its NUL terminator", "xmp-lie")
    add("xmp-not-utf8", g([app(1, ns + b"\xff\xfe\xfd" * 300)]), "XMP APP1 of invalid UTF-8", "xmp-lie")

    # --- progressive lies
    add("progressive-scan-bomb-4000", jpeg_progressive(1024, 1024, GRAY, refinements=4000),
        "progressive 1024x1024 gray with 4000 AC refinement scans (a scan-count CPU bomb)", "frame-bomb")
    p = jpeg_progressive(32, 32, GRAY)
    ac_sos = sos([(1, 0, 0)], 1, 63, 0, 1)
    ac_at = p.index(ac_sos)
    ac_data_at = ac_at + len(ac_sos)
    add("progressive-al-14", p[:ac_at] + sos([(1, 0, 0)], 1, 63, 0, 14) + p[ac_data_at:],
        "progressive AC scan with successive-approximation Al = 14", "scan-lie")
    dc_sos = sos([(1, 0, 0)], 0, 0, 0, 0)
    dc_at = p.index(dc_sos)
    add("progressive-ss0-se63", p[:dc_at] + sos([(1, 0, 0)], 0, 63, 0, 0) + p[dc_at + len(dc_sos):], "progressive scan with Ss=0, Se=63", "scan-lie")
    add("progressive-refine-without-first", p[:ac_at] + sos([(1, 0, 0)], 1, 63, 1, 0) + p[ac_data_at:],
        "progressive AC refinement scan (Ah=1) with no first scan", "scan-lie")
    add("progressive-eobrun-32767-for-16-blocks", p[:ac_data_at] + eob_run_scan(32767) + p[ac_data_at + len(eob_run_scan(16)):],
        "progressive AC scan with an EOB run of 32767 blocks in a 16-block image", "scan-lie")
    add("progressive-no-ac", p[:ac_at] + b"\xFF\xD9", "progressive with only the DC scan", "scan-lie")

    # --- misc
    add("soi-eoi", b"\xFF\xD8\xFF\xD9", "SOI immediately followed by EOI", "structure")
    add("soi-twice", b"\xFF\xD8" + jpeg(16, 16, GRAY), "two SOI markers", "structure")
    add("soi-then-garbage", b"\xFF\xD8\xFF" + bytes(random.Random(3).randrange(256) for _ in range(500)), "SOI + 500 random bytes", "structure")
    add("jfif-thumbnail-255x255-no-data", jpeg(16, 16, GRAY, pre=[app(0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\xFF\xFF")]),
        "JFIF APP0 announcing a 255x255 thumbnail with no thumbnail bytes", "structure")
    add("dht-redefined-300", jpeg(16, 16, GRAY, tables=dqt(0) + (dht(0, 0, DC_LUM_BITS, DC_LUM_VALS) + dht(1, 0, AC_BITS, AC_VALS)) * 300),
        "the same two Huffman tables redefined 300 times", "structure")
    add("marker-ff00-outside-scan", jpeg(16, 16, GRAY, post_sof=[b"\xFF\x00"]), "a stuffed 0xFF00 between SOF and SOS", "structure")
    add("unknown-marker-len-fffF", jpeg(16, 16, GRAY, post_sof=[seg(0xF0, b"", length=0xFFFF)]), "JPG0 (0xFFF0) segment of length 0xFFFF", "structure")

    # --- truncations of a baseline JPEG with every common segment kind
    base = jpeg(48, 48, YCC, pre=[JFIF, exif_app1(exif_orientation(6)), icc_app2(1, 1, prof[:300]), app(13, b"Photoshop 3.0\0" + b"8BIM" * 4)], dri=3)
    add("valid-truncation-base", base, "valid baseline 48x48 4:2:0 (JFIF, EXIF rot6, ICC, APP13, DRI 3): the base of jpeg-trunc-*", "valid", valid=True)
    cuts, pos = [(2, "after SOI")], 2
    while pos < len(base) - 2:
        marker = base[pos + 1]
        if marker == 0xDA:
            n = struct.unpack(">H", base[pos + 2:pos + 4])[0]
            cuts += [(pos + 1, "inside the SOS marker"), (pos + 3, "inside the SOS length"), (pos + 2 + n, "after the SOS header")]
            scan_start = pos + 2 + n
            for i in range(scan_start, len(base) - 1):
                if base[i] == 0xFF and 0xD0 <= base[i + 1] <= 0xD7:
                    cuts += [(i, f"before RST{base[i + 1] - 0xD0}"), (i + 2, f"after RST{base[i + 1] - 0xD0}")]
            cuts += [((scan_start + len(base)) // 2, "in the middle of the scan"), (len(base) - 2, "before EOI"), (len(base) - 1, "inside EOI")]
            break
        n = struct.unpack(">H", base[pos + 2:pos + 4])[0]
        name = f"0xFF{marker:02X}"
        cuts += [(pos + 3, f"inside the {name} length"), (pos + 2 + n // 2, f"inside the {name} segment"), (pos + 2 + n, f"after {name}")]
        pos += 2 + n
    add_truncations(c, "baseline", base, cuts, "jpeg", "jpg", "valid baseline JPEG")
    prog = jpeg_progressive(32, 32, YCC444)
    cuts = []
    for i in range(2, len(prog) - 1):
        if prog[i] == 0xFF and prog[i + 1] in (0xDA, 0xC2, 0xC4, 0xDB):
            cuts.append((i, f"before marker 0xFF{prog[i + 1]:02X}"))
    cuts.append((len(prog) - 2, "before EOI"))
    add_truncations(c, "progressive", prog, cuts, "jpeg", "jpg", "valid progressive JPEG")


# ----- GIF -------------------------------------------------------------------------------------------------

def gif_cases(c):
    def add(name, data, desc, cls, **kw):
        c.add(f"gif-{name}.gif", data, desc, "gif", cls, **kw)

    f16 = gif_frame(16, 16)
    add("valid-static-16x16", gif(16, 16, [f16]), "valid GIF89a 16x16, 4-colour global palette", "valid", valid=True)
    add("valid-gif87a", gif(16, 16, [f16], version=b"GIF87a"), "valid GIF87a 16x16", "valid", valid=True)
    add("valid-animated-3-frames", gif(16, 16, [gif_gce(10) + f16, gif_gce(10) + gif_frame(8, 8, left=4, top=4, lct_bits=2),
                                                 gif_gce(10, transparent=0) + gif_frame(16, 16, bits=2)], pre=[netscape_loop()]),
        "valid animated GIF: NETSCAPE loop, 3 frames, a local palette, a transparent index", "valid", valid=True)
    rows = interlace_order(13)
    idx = [((x // 2) + (y // 2)) % 4 for y in rows for x in range(17)]
    add("valid-interlaced-17x13", gif(17, 13, [gif_frame(17, 13, indices=idx, interlace=True)]), "valid interlaced 17x13 GIF", "valid", valid=True)
    add("valid-frame-offset-transparent", gif(16, 16, [gif_gce(0, transparent=1) + gif_frame(8, 6, left=5, top=7)]),
        "valid GIF whose only frame (8x6 at 5,7) is smaller than the 16x16 screen, transparent index 1", "valid", valid=True)
    idx = [(x * 16 + y) & 255 for y in range(16) for x in range(16)]
    add("valid-256-colours", gif(16, 16, [gif_frame(16, 16, indices=idx, bits=8)], gct_bits=8), "valid 16x16 GIF using all 256 colours", "valid", valid=True)
    add("valid-1-byte-subblocks", gif(16, 16, [gif_frame(16, 16)[:10] + u8(2) + sub_blocks(lzw_literal([((x // 2) + (y // 2)) % 4 for y in range(16) for x in range(16)], 2), block=1)]),
        "valid 16x16 GIF whose LZW data is split into 1-byte sub-blocks", "valid", valid=True)

    # --- frame-count and canvas bombs
    one = gif_frame(1, 1, indices=[1])
    add("frames-3000-1x1", gif(16, 16, [gif_gce(0) + one] * 3000), "3000 frames of 1x1 pixel", "frame-bomb")
    add("screen-65535x65535-frame-1x1", gif(65535, 65535, [one]), "logical screen 65535x65535 (4.3e9 px), one 1x1 frame", "canvas-bomb", expect="54000")
    add("screen-6000x6000-frame-1x1", gif(6000, 6000, [one]), "logical screen 6000x6000 (36e6 px, under the limit), one 1x1 frame", "canvas-bomb")
    add("screen-8000x5000-frames-3x1x1", gif(8000, 5000, [gif_gce(0) + one] * 3, pre=[netscape_loop()]),
        "logical screen 8000x5000 (exactly the limit), three 1x1 frames", "canvas-bomb")
    add("screen-1x1-frame-65535x65535", gif(1, 1, [gif_frame(65535, 65535, lzw=lzw_literal([0] * 4, 2))]),
        "1x1 screen, first frame 65535x65535 with 4 pixels of data", "canvas-bomb", expect="54000")
    add("screen-1x1-frame-6000x6000-tiny-data", gif(1, 1, [gif_frame(6000, 6000, lzw=lzw_literal([0] * 4, 2))]),
        "1x1 screen, first frame 6000x6000 (36e6 px) with 4 pixels of data", "canvas-bomb")
    add("frame-offset-65535", gif(16, 16, [gif_frame(1, 1, indices=[1], left=65535, top=65535)]),
        "1x1 frame at offset (65535, 65535) on a 16x16 screen: the canvas grows to 65536x65536", "canvas-bomb", expect="54000")
    add("frame-left-60000", gif(1, 1, [gif_frame(1, 1, indices=[1], left=60000)]), "1x1 frame at x = 60000 on a 1x1 screen (60001x1 canvas)", "canvas-bomb")
    add("frame-0x0", gif(16, 16, [gif_frame(0, 0, lzw=lzw_literal([], 2))]), "first frame of 0x0 pixels", "dimension-lie")
    add("screen-0x0", gif(0, 0, [f16]), "logical screen 0x0 with a 16x16 frame", "dimension-lie")
    add("second-frame-outside", gif(16, 16, [f16, gif_frame(16, 16, left=60000, top=60000)]), "second frame at (60000, 60000)", "dimension-lie")

    # --- palette lies
    idx = [(x * 16 + y) & 255 for y in range(16) for x in range(16)]
    add("palette-index-out-of-range", gif(16, 16, [gif_frame(16, 16, indices=idx, bits=8)], gct_bits=1),
        "2-entry global palette, indices 0..255 (LZW min code size 8)", "palette-lie")
    add("palette-none", gif(16, 16, [f16], gct_bits=None), "no global and no local palette", "palette-lie")
    add("palette-gct-truncated", gif_header(16, 16, 8, gct=palette(10)), "256-entry global palette declared, file ends after 10 entries", "palette-lie")
    add("palette-declared-256-present-2", gif_header(16, 16, 8, gct=palette(2)) + f16 + b"\x3B",
        "256-entry global palette declared, 2 entries present (the palette swallows the image)", "palette-lie")
    add("palette-transparent-index-255-of-4", gif(16, 16, [gif_gce(0, transparent=255) + gif_frame(8, 8, left=2, top=2)]),
        "transparent index 255 with a 4-entry palette", "palette-lie")
    add("palette-background-255-of-2", gif(16, 16, [gif_frame(8, 8, left=2, top=2)], gct_bits=1, bg=255), "background index 255 with a 2-entry palette", "palette-lie")
    add("palette-local-flag-no-table", gif(16, 16, [gif_frame(16, 16, lct_bits=8, lct=b"")]), "local palette flag (256 entries) with no table bytes", "palette-lie")

    # --- LZW lies
    px = [((x // 2) + (y // 2)) % 4 for y in range(16) for x in range(16)]
    for m in (0, 1, 12, 255):
        add(f"lzw-min-code-{m}", gif(16, 16, [gif_frame(16, 16, min_code=m, lzw=lzw_literal(px, 2))]), f"LZW minimum code size {m}", "lzw-lie")
    px128 = [(x ^ y) & 3 for y in range(128) for x in range(128)]
    add("lzw-deferred-clear", gif(128, 128, [gif_frame(128, 128, indices=px128, lzw=lzw_literal(px128, 2, clear_at=None))]),
        "128x128 frame coded without any clear code after the table fills (12-bit codes, deferred clear)", "lzw-lie")
    add("lzw-code-equals-next-first", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal([6] + px, 2))]),
        "first code after the clear is the next free code (KwKwK with no previous string)", "lzw-lie")
    add("lzw-code-far-ahead", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal(px[:20], 2, extra_codes=[31, 31]))]),
        "codes far beyond the next free code", "lzw-lie")
    add("lzw-data-for-4x", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal(px * 4, 2))]), "LZW data for 4x the frame's pixels", "lzw-lie")
    add("lzw-data-for-quarter", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal(px[:64], 2))]), "LZW data for a quarter of the frame", "lzw-lie")
    add("lzw-no-eoi", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal(px, 2)[:-1])]), "LZW stream without its end code", "lzw-lie")
    add("lzw-garbage-after-eoi", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal(px, 2) + bytes(range(200)))]), "200 bytes after the end code", "lzw-lie")
    add("lzw-clear-every-code", gif(16, 16, [gif_frame(16, 16, lzw=lzw_literal(px, 2, clear_at=0))]), "a clear code before every pixel", "lzw-lie")
    lz = lzw_literal(px, 2)
    add("subblock-255-past-eof", gif_header(16, 16, 2) + gif_frame(16, 16)[:10] + u8(2) + u8(255) + lz[:40], "sub-block of 255 bytes, 40 present", "lzw-lie")
    add("subblock-no-terminator", gif_header(16, 16, 2) + gif_frame(16, 16)[:10] + u8(2) + sub_blocks(lz, terminator=False),
        "image data without its block terminator or trailer", "lzw-lie")
    add("subblock-zero-then-data", gif_header(16, 16, 2) + gif_frame(16, 16)[:10] + u8(2) + b"\0" + sub_blocks(lz) + b"\x3B",
        "an empty sub-block (terminator) right after the LZW code size, the data follows", "lzw-lie")

    # --- extension lies
    add("gce-block-size-255", gif(16, 16, [gif_gce(block_size=255) + f16]), "graphic control extension with block size 255 (4 required)", "extension-lie")
    add("gce-block-size-0", gif(16, 16, [b"\x21\xF9\x00\x00" + f16]), "graphic control extension with block size 0", "extension-lie")
    add("app-ext-block-size-255", gif(16, 16, [f16], pre=[b"\x21\xFF\xFFNETSCAPE2.0" + b"\0" * 244 + b"\x03\x01\0\0\0"]),
        "application extension header block of 255 bytes (11 required)", "extension-lie")
    add("netscape-subblock-255", gif(16, 16, [f16], pre=[b"\x21\xFF\x0BNETSCAPE2.0\xFF\x01\0\0\0"]), "NETSCAPE2.0 loop sub-block claiming 255 bytes", "extension-lie")
    add("comment-10000-subblocks", gif(16, 16, [f16], pre=[b"\x21\xFE" + b"\x01c" * 10000 + b"\0"]), "comment extension of 10000 1-byte sub-blocks", "extension-lie")
    add("extension-unknown-label", gif(16, 16, [f16], pre=[b"\x21\x99" + sub_blocks(b"xyz" * 100)]), "extension with unknown label 0x99", "extension-lie")
    add("xmp-app-ext-no-trailer", gif(16, 16, [f16], pre=[b"\x21\xFF\x0BXMP DataXMP" + XMP + b"\0"]),
        "XMP application extension without its 257-byte magic trailer", "xmp-lie")
    add("xmp-app-ext-nested", gif(16, 16, [f16], pre=[b"\x21\xFF\x0BXMP DataXMP" + sub_blocks(xmp_nested(5000))]), "XMP application extension with 5000 nested elements", "xmp-lie")
    add("icc-app-ext-garbage", gif(16, 16, [f16], pre=[b"\x21\xFF\x0BICCRGBG1012" + sub_blocks(fake_icc(size_field=BIG) + bytes(range(256)))]),
        "ICCRGBG1012 application extension: ICC header claiming 0xFFFFFFF0 bytes", "icc-lie")
    add("extensions-x2000", gif(16, 16, [gif_gce(0) * 2000 + f16]), "2000 graphic control extensions before the first frame", "extension-lie")
    add("plain-text-ext-huge-grid", gif(16, 16, [f16], pre=[b"\x21\x01\x0C" + le16(0) * 2 + le16(65535) * 2 + b"\xFF\xFF\x01\x00\x00" + sub_blocks(b"A" * 1000)]),
        "plain text extension with a 65535x65535 grid", "extension-lie")
    add("unknown-block-introducer", gif_header(16, 16, 2) + b"\x99" + f16 + b"\x3B", "a 0x99 block introducer before the image", "extension-lie")
    add("extension-no-terminator", gif_header(16, 16, 2) + b"\x21\xFE\x05hello", "comment extension that never terminates", "extension-lie")

    # --- truncations of an animated GIF
    base = gif(16, 16, [gif_gce(5) + f16, gif_gce(5, transparent=3) + gif_frame(8, 8, left=4, top=4, lct_bits=2)],
               pre=[netscape_loop(), b"\x21\xFE" + sub_blocks(b"hostile corpus")])
    add("valid-truncation-base", base, "valid 2-frame animated GIF (NETSCAPE, comment, GCEs, a local palette): the base of gif-trunc-*",
        "valid", valid=True)
    cuts = [(6, "after the signature"), (13, "after the logical screen descriptor"), (13 + 6, "inside the global palette"), (13 + 12, "after the global palette")]
    pos = 25
    while pos < len(base):
        b = base[pos]
        if b == 0x3B:
            break
        start = pos
        if b == 0x21:
            pos += 2
            kind = f"extension 0x{base[start + 1]:02X}"
        else:
            packed = base[pos + 9]
            pos += 10
            cuts.append((start + 5, "inside an image descriptor"))
            if packed & 0x80:
                cuts.append((pos + 3, "inside a local palette"))
                pos += 3 << ((packed & 7) + 1)
                cuts.append((pos, "after a local palette"))
            pos += 1
            cuts.append((pos, "after the LZW code size"))
            kind = "image data"
        while base[pos]:
            cuts.append((pos + 1 + base[pos] // 2, f"inside a sub-block of the {kind}"))
            pos += 1 + base[pos]
            cuts.append((pos, f"after a sub-block of the {kind}"))
        pos += 1
        cuts.append((pos, f"after the {kind}"))
    add_truncations(c, "animated", base, cuts, "gif", "gif", "valid animated GIF")


# ----- BMP -------------------------------------------------------------------------------------------------

def bmp_cases(c):
    def add(name, data, desc, cls, **kw):
        c.add(f"bmp-{name}.bmp", data, desc, "bmp", cls, **kw)

    px24 = bmp_rows(16, 16, 24, rgb_pattern)
    idx8 = lambda x, y: (x + y * 16) % 16          # noqa: E731
    px8 = bmp_rows(16, 16, 8, idx8)
    pal16 = bmp_palette(16)
    add("valid-24bit-16x16", bmp(16, 16, 24, px24), "valid 16x16 24-bit BMP", "valid", valid=True)
    add("valid-8bit-palette", bmp(16, 16, 8, px8, pal16), "valid 16x16 8-bit BMP, 16-colour palette", "valid", valid=True)
    add("valid-4bit", bmp(15, 9, 4, bmp_rows(15, 9, 4, lambda x, y: (x + y) % 16), pal16), "valid 15x9 4-bit BMP", "valid", valid=True)
    add("valid-1bit", bmp(19, 7, 1, bmp_rows(19, 7, 1, lambda x, y: (x + y) & 1), bmp_palette(2)), "valid 19x7 1-bit BMP", "valid", valid=True)
    add("valid-topdown-24bit", bmp(16, -16, 24, px24), "valid 16x16 top-down (negative height) 24-bit BMP", "valid", valid=True)
    rle = rle8([[(8, y % 16), (8, (y + 3) % 16)] for y in range(16)])
    add("valid-rle8", bmp(16, 16, 8, rle, pal16, compression=1), "valid 16x16 RLE8 BMP", "valid", valid=True)
    masks = le32(0x00FF0000) + le32(0x0000FF00) + le32(0x000000FF)
    add("valid-32bit-bitfields", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), compression=3, masks=masks),
        "valid 16x16 32-bit BI_BITFIELDS BMP (BITMAPINFOHEADER + 3 masks)", "valid", valid=True)
    add("valid-16bit-565", bmp(16, 16, 16, bmp_rows(16, 16, 16, rgb_pattern), compression=3, masks=le32(0xF800) + le32(0x07E0) + le32(0x001F)),
        "valid 16x16 16-bit RGB565 BMP", "valid", valid=True)
    pal_os2 = b"".join(pal16[i:i + 3] for i in range(0, len(pal16), 4))
    add("valid-os2-core-8bit", bmp(16, 16, 8, px8, pal_os2 + b"\0" * (3 * 240), header_size=12), "valid OS/2 BITMAPCOREHEADER 16x16 8-bit BMP", "valid", valid=True)
    v5 = v5_header(16, 16, 32, 3)
    add("valid-v5-32bit-alpha", bmp(16, 16, 32, bmp_rows(16, 16, 32, lambda x, y: rgb_pattern(x, y) + (x * 16,)), raw_info=v5),
        "valid BITMAPV5HEADER 16x16 32-bit with an alpha mask", "valid", valid=True)

    # --- header lies
    add("off-bits-fffffff0", bmp(16, 16, 24, px24, off=BIG), "bfOffBits (pixel data offset) 0xFFFFFFF0", "length-lie")
    add("off-bits-past-eof", bmp(16, 16, 24, px24, off=10000), "bfOffBits 10000 in an 822-byte file", "length-lie")
    add("off-bits-0", bmp(16, 16, 24, px24, off=0), "bfOffBits 0 (pixel data 'inside' the headers)", "length-lie")
    add("file-size-fffffff0", bmp(16, 16, 24, px24, size=BIG), "bfSize 0xFFFFFFF0", "length-lie")
    for hs, name in [(BIG, "fffffff0"), (0, "0"), (13, "13"), (200, "200"), (64, "64-os2v2")]:
        data = bytearray(bmp(16, 16, 24, px24))
        data[14:18] = le32(hs)
        add(f"header-size-{name}", bytes(data), f"BITMAPINFOHEADER size field {hs:#x}", "header-lie")
    add("size-image-ffffffff", bmp(16, 16, 24, px24, size_image=0xFFFFFFFF), "biSizeImage 0xFFFFFFFF", "length-lie")
    add("planes-0", bmp(16, 16, 24, px24, planes=0), "biPlanes 0 (1 required)", "header-lie")
    add("planes-5", bmp(16, 16, 24, px24, planes=5), "biPlanes 5", "header-lie")
    for bits in (0, 2, 7, 64):
        add(f"bitcount-{bits}", bmp(16, 16, bits, px24, pal16), f"biBitCount {bits}", "header-lie")
    add("compression-7", bmp(16, 16, 24, px24, compression=7), "biCompression 7 (unknown)", "header-lie")
    add("compression-jpeg", bmp(16, 16, 24, jpeg(16, 16, GRAY), compression=4), "biCompression BI_JPEG with an embedded JPEG", "header-lie")
    add("compression-png", bmp(16, 16, 24, png(16, 16, 2, png_rows(16, 16, 3, rgb_pattern)), compression=5), "biCompression BI_PNG with an embedded PNG", "header-lie")
    add("rle8-with-24bit", bmp(16, 16, 24, rle, compression=1), "BI_RLE8 with biBitCount 24", "header-lie")
    add("rle4-with-8bit", bmp(16, 16, 8, rle, pal16, compression=2), "BI_RLE4 with biBitCount 8", "header-lie")
    add("bitfields-zero-masks", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), compression=3, masks=le32(0) * 3), "BI_BITFIELDS masks all zero", "header-lie")
    add("bitfields-overlapping", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), compression=3, masks=le32(0xFFFF00) * 3), "BI_BITFIELDS masks overlapping", "header-lie")
    add("bitfields-noncontiguous", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), compression=3, masks=le32(0xF0F0F0) + le32(0x0F0F0F) + le32(0x1)),
        "BI_BITFIELDS masks with holes (0xF0F0F0)", "header-lie")
    add("bitfields-all-ones", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), compression=3, masks=le32(0xFFFFFFFF) * 3), "BI_BITFIELDS masks 0xFFFFFFFF", "header-lie")
    add("bitfields-with-8bit", bmp(16, 16, 8, px8, pal16, compression=3, masks=masks), "BI_BITFIELDS on an 8-bit image", "header-lie")
    add("bitfields-16bit-masks-missing", bmp(16, 16, 16, bmp_rows(16, 16, 16, rgb_pattern), compression=3, off=54),
        "16-bit BI_BITFIELDS whose masks would be the pixel data", "header-lie")

    # --- dimension lies
    add("width-negative", bmp(-16, 16, 24, px24), "biWidth -16", "dimension-lie")
    add("width-int-min", bmp(-0x80000000, 16, 24, px24), "biWidth -2^31", "dimension-lie", expect="54000")
    add("height-int-min", bmp(16, -0x80000000, 24, px24), "biHeight -2^31 (top-down)", "dimension-lie", expect="54000")
    add("width-0", bmp(0, 16, 24, px24), "biWidth 0", "dimension-lie")
    add("height-0", bmp(16, 0, 24, px24), "biHeight 0", "dimension-lie")
    add("dims-65536x65536", bmp(65536, 65536, 24, px24), "65536x65536 24-bit header (4.3e9 px), 768 bytes of pixels", "pixel-bomb", expect="54000")
    add("dims-7000x6000", bmp(7000, 6000, 24, px24), "7000x6000 = 42e6 px, just over the limit", "pixel-bomb", expect="54000")
    add("dims-16x16-data-4-rows", bmp(16, 16, 24, px24[:4 * 48]), "16x16 24-bit header, pixel data for 4 rows", "dimension-lie")
    add("dims-6324x6324-24bit-no-data", bmp(6324, 6324, 24, b""), "6324x6324 24-bit (39,992,976 px, under the limit), no pixel data at all", "pixel-bomb")
    add("os2-dims-65535x65535", bmp(65535, 65535, 24, px24, header_size=12), "OS/2 core header 65535x65535", "pixel-bomb", expect="54000")

    # --- palette lies
    add("clr-used-ffffffff", bmp(16, 16, 8, px8, pal16, clr_used=0xFFFFFFFF), "8-bit with biClrUsed 0xFFFFFFFF (colour count > table)", "palette-lie")
    add("clr-used-300", bmp(16, 16, 8, px8, bmp_palette(256), clr_used=300), "8-bit with biClrUsed 300 (max 256)", "palette-lie")
    add("clr-used-1000000-past-eof", bmp(16, 16, 8, px8, pal16, clr_used=1000000), "8-bit with biClrUsed 1e6, 16 entries present", "palette-lie")
    add("clr-used-24bit-ffffffff", bmp(16, 16, 24, px24, clr_used=0xFFFFFFFF), "24-bit with biClrUsed 0xFFFFFFFF", "palette-lie")
    add("palette-index-out-of-range", bmp(16, 16, 8, bmp_rows(16, 16, 8, lambda x, y: 255 - x), bmp_palette(4)), "4-entry palette, indices 240..255", "palette-lie")
    add("palette-4bit-index-15-of-2", bmp(16, 16, 4, bmp_rows(16, 16, 4, lambda x, y: 15), bmp_palette(2)), "4-bit, 2-entry palette, every index 15", "palette-lie")
    add("palette-1bit-clr-used-0-no-table", bmp(16, 16, 1, bmp_rows(16, 16, 1, lambda x, y: x & 1), b""), "1-bit image with no palette table", "palette-lie")
    add("os2-palette-short", bmp(16, 16, 8, px8, pal_os2, header_size=12), "OS/2 core 8-bit BMP with 16 of the 256 palette entries", "palette-lie")

    # --- RLE lies
    def rle_file(stream, w=16, h=16, bits=8, compression=1):
        return bmp(w, h, bits, stream, pal16, compression=compression)

    add("rle8-delta-outside", rle_file(b"\0\2\xFF\xFF" * 20 + b"\x04\x01\0\1"), "RLE8 delta escapes that move 255,255 twenty times", "rle-lie")
    add("rle8-run-past-row-end", rle_file(b"\xFF\x03" * 20 + b"\0\1"), "RLE8 runs of 255 pixels on 16-pixel rows", "rle-lie")
    add("rle8-absolute-past-eof", rle_file(b"\0\xC8" + bytes(range(10))), "RLE8 absolute run of 200 bytes, 10 present", "rle-lie")
    add("rle8-no-eob", rle_file(rle[:-2]), "RLE8 stream without end-of-bitmap", "rle-lie")
    add("rle8-rows-beyond-height", rle_file(b"\x10\x01\0\0" * 100 + b"\0\1"), "RLE8 with 100 rows for a 16-row image", "rle-lie")
    add("rle8-only-eob", rle_file(b"\0\1"), "RLE8 stream that is only end-of-bitmap", "rle-lie")
    add("rle8-8000x5000-one-row", bmp(8000, 5000, 8, b"\xFF\x01" * 31 + b"\0\0\0\1", pal16, compression=1),
        "RLE8 8000x5000 (the pixel limit) that ends after part of one row", "canvas-bomb")
    add("rle8-topdown", bmp(16, -16, 8, rle, pal16, compression=1), "RLE8 with a negative (top-down) height (forbidden)", "rle-lie")
    add("rle4-run-past-row-end", rle_file(b"\xFF\x12" * 10 + b"\0\1", bits=4, compression=2), "RLE4 runs of 255 pixels on 16-pixel rows", "rle-lie")
    add("rle4-absolute-past-eof", rle_file(b"\0\xFF\x12\x34", bits=4, compression=2), "RLE4 absolute run of 255 pixels, 4 present", "rle-lie")

    # --- V5 embedded-profile lies
    for name, prof, desc in [("v5-profile-offset-fffffff0", (BIG, 100), "embedded profile at offset 0xFFFFFFF0"),
                             ("v5-profile-size-fffffff0", (124, BIG), "embedded profile of 0xFFFFFFF0 bytes"),
                             ("v5-profile-past-eof", (124 + 1024, 4096), "embedded profile 4096 bytes at 1148, past EOF")]:
        add(name, bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), raw_info=v5_header(16, 16, 32, 3, cs=b"MBED", profile=prof)),
            "BITMAPV5HEADER with an " + desc, "icc-lie")
    add("v5-linked-profile-no-nul", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), raw_info=v5_header(16, 16, 32, 3, cs=b"LINK", profile=(124, 50)),
                                        tail=b"C:" * 40), "BITMAPV5HEADER linked profile whose name has no NUL", "icc-lie")
    add("v5-intent-ffffffff", bmp(16, 16, 32, bmp_rows(16, 16, 32, rgb_pattern), raw_info=v5_header(16, 16, 32, 3, intent=0xFFFFFFFF)),
        "BITMAPV5HEADER rendering intent 0xFFFFFFFF", "header-lie")

    # --- truncations
    base = bmp(16, 16, 8, px8, pal16)
    cuts = [(2, "after the magic"), (7, "inside the file header"), (14, "after the file header"), (30, "inside the info header"),
            (54, "after the info header"), (54 + 30, "inside the palette"), (54 + 64, "after the palette"),
            (54 + 64 + 128, "in the middle of the pixels"), (len(base) - 1, "one byte short")]
    add_truncations(c, "8bit", base, cuts, "bmp", "bmp", "valid 8-bit BMP")
    base = bmp(16, 16, 8, rle, pal16, compression=1)
    cuts = [(54 + 64 + 1, "inside the first RLE pair"), (54 + 64 + len(rle) // 2, "in the middle of the RLE stream"), (len(base) - 1, "inside end-of-bitmap")]
    add_truncations(c, "rle8", base, cuts, "bmp", "bmp", "valid RLE8 BMP")


# ----- WebP ------------------------------------------------------------------------------------------------

def fix_riff(d):
    return d[:4] + le32(len(d) - 8) + d[8:] if len(d) >= 8 else d


def riff_cuts(data, note_prefix=""):
    cuts = [(4, "inside the RIFF header"), (8, "after the RIFF size"), (12, "after 'WEBP'")]

    def walk(start, end, depth):
        pos = start
        while pos + 8 <= end:
            fourcc = data[pos:pos + 4].decode("latin-1")
            n = struct.unpack("<I", data[pos + 4:pos + 8])[0]
            stop = min(end, pos + 8 + n + (n & 1))
            cuts.extend([(pos + 4, f"inside the {fourcc} chunk header"), (pos + 8, f"after the {fourcc} chunk header"),
                         (pos + 8 + n // 2, f"inside the {fourcc} payload"), (stop, f"after {fourcc}")])
            if fourcc == "ANMF" and depth == 0:
                cuts.append((pos + 8 + 8, "inside the ANMF frame header"))
                walk(pos + 8 + 16, stop, 1)
            pos = stop
    walk(12, len(data), 0)
    return cuts


def vp8l_meta(value, groups):
    """A meta prefix code header: an entropy image of one pixel whose meta code is `value`, then `groups`
    groups of five single-symbol prefix codes (0 bits per pixel)."""
    def meta(bw):
        bw.write(1, 1)                       # meta prefix codes
        bw.write(7, 3)                       # prefix bits 9: a 16x16 image has a 1x1 entropy image
        bw.write(0, 1)                       # entropy image: no colour cache
        vp8l_codes(bw, g=(value & 0xFF,), r=(value >> 8,), b=(0,), a=(0,))
        for _ in range(groups):
            vp8l_codes(bw, g=(0,), r=(0,), b=(0,), a=(1,))
    return meta


def vp8l_palette(n, main_green):
    def t(bw):
        bw.write(1, 1)
        bw.write(3, 2)                       # COLOR_INDEXING_TRANSFORM
        bw.write(n - 1, 8)
        bw.write(0, 1)                       # palette sub-image: no colour cache
        vp8l_codes(bw, g=(0x40,), r=(0x80,), b=(0x20,), a=(0xFF,))
    return t


def webp_cases(c):
    def add(name, data, desc, cls, **kw):
        c.add(f"webp-{name}.webp", data, desc, "webp", cls, **kw)

    L16 = riff_chunk(b"VP8L", vp8l(16, 16))
    lossy = vp8(64, 48)
    add("valid-lossless-16x16", riff([L16]), "valid simple-format lossless (VP8L) 16x16", "valid", valid=True)
    add("valid-lossy-64x48", riff([riff_chunk(b"VP8 ", lossy)]), "valid simple-format lossy (VP8) 64x48, flat grey", "valid", valid=True)
    modes = ["DC", "V", "H", "TM"]
    add("valid-lossy-modes-64x48", webp_lossy(64, 48, mode_fn=lambda x, y: modes[(x + y) % 4]),
        "valid lossy 64x48, macroblocks cycling through DC/V/H/TM prediction", "valid", valid=True)
    add("valid-vp8x-alpha-lossy", riff([vp8x(64, 48, VP8X_ALPHA), alph(64, 48), riff_chunk(b"VP8 ", lossy)]),
        "valid extended (VP8X) lossy 64x48 with an uncompressed ALPH chunk", "valid", valid=True)
    add("valid-vp8x-lossless-exif-rot6", riff([vp8x(16, 16, VP8X_EXIF), L16, riff_chunk(b"EXIF", exif_orientation(6))]),
        "valid extended lossless 16x16 with an EXIF chunk, Orientation = 6", "valid", valid=True)
    add("valid-animated-2-frames", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 16, 16, [L16]),
                                         anmf(4, 4, 8, 8, [riff_chunk(b"VP8L", vp8l(8, 8))])]),
        "valid animated WebP 16x16, 2 lossless frames", "valid", valid=True)
    add("valid-at-pixel-limit-vp8l-6324x6324", webp_lossless(6324, 6324, g=(0x80,), r=(0x40,), b=(0xC0,)),
        "valid lossless 6324x6324 (39,992,976 px, under the default limit) of one colour (0 bits per pixel)", "valid", valid=True)
    add("valid-vp8l-16384x4", webp_lossless(16384, 4, g=(0x80,), r=(0x40,), b=(0xC0,)),
        "valid lossless 16384x4 of one colour: the largest width VP8L can code (14 bits of width - 1)", "valid", valid=True)
    add("valid-at-pixel-limit-vp8-6320x6320", webp_lossy(6320, 6320), "valid lossy 6320x6320 (39,942,400 px) of skipped macroblocks",
        "valid", valid=True)

    # --- THE case: image-webp allocates the EXIF chunk's claimed size before reading it
    exif_lie = b"EXIF" + le32(BIG) + b"MM\0*\0\0"
    body = vp8x(1, 1, VP8X_EXIF) + b"VP8L" + le32(0) + exif_lie
    add("exif-len-fffffff0-52-bytes", riff([body]),
        "52 bytes: RIFF, VP8X (EXIF flag, 1x1), empty VP8L chunk, EXIF chunk header claiming 0xFFFFFFF0 bytes (6 present)",
        "exif-lie")
    assert len(c.files["webp-exif-len-fffffff0-52-bytes.webp"][0]) == 52

    # --- RIFF / chunk length lies
    good = riff([L16])
    add("riff-size-fffffff0", good[:4] + le32(BIG) + good[8:], "RIFF size 0xFFFFFFF0 (file is ~60 bytes)", "length-lie")
    add("riff-size-4", good[:4] + le32(4) + good[8:], "RIFF size 4: the chunks lie outside the RIFF", "length-lie")
    add("riff-size-odd", good[:4] + le32(len(good) - 9) + good[8:], "RIFF size one less than the data (odd)", "length-lie")
    add("vp8l-len-fffffff0", riff([b"VP8L" + le32(BIG) + vp8l(16, 16)]), "simple format: VP8L chunk length 0xFFFFFFF0", "length-lie")
    add("vp8l-len-past-eof", riff([b"VP8L" + le32(len(vp8l(16, 16)) + 100) + vp8l(16, 16)]), "VP8L chunk length 100 bytes past EOF", "length-lie")
    add("vp8-len-fffffff0", riff([b"VP8 " + le32(BIG) + lossy]), "simple format: VP8 chunk length 0xFFFFFFF0", "length-lie")
    add("vp8x-len-fffffff0", riff([vp8x(16, 16, 0, length=BIG), L16]), "VP8X chunk length 0xFFFFFFF0", "length-lie")
    add("vp8x-len-9", riff([b"VP8X" + le32(9) + b"\0" * 10, L16]), "VP8X chunk length 9 (10 required)", "length-lie")
    add("vp8x-len-0", riff([b"VP8X" + le32(0), L16]), "VP8X chunk length 0", "length-lie")
    add("unknown-chunk-len-fffffff0", riff([vp8x(16, 16), b"ZZZZ" + le32(BIG) + b"\0" * 8, L16]), "unknown chunk 'ZZZZ' claiming 0xFFFFFFF0 bytes before the image", "length-lie")
    add("unknown-chunks-x2000", riff([vp8x(16, 16)] + [riff_chunk(b"ZZZZ", b"")] * 2000 + [L16]), "2000 empty unknown chunks before the image", "length-lie")
    add("vp8l-empty-chunk", riff([riff_chunk(b"VP8L", b"")]), "simple format: zero-length VP8L chunk", "length-lie")
    add("vp8l-header-only", riff([riff_chunk(b"VP8L", vp8l(16, 16)[:5])]), "VP8L chunk of its 5 header bytes only", "length-lie")
    add("vp8-chunk-10-bytes", riff([riff_chunk(b"VP8 ", lossy[:10])]), "VP8 chunk of its frame tag and start code only", "length-lie")

    # --- dimension / canvas lies
    add("vp8x-canvas-16384x16384", riff([vp8x(16384, 16384), L16]), "VP8X canvas 16384x16384 (2.7e8 px), 16x16 image", "pixel-bomb", expect="54000")
    add("vp8x-canvas-16777216-square", riff([vp8x(1 << 24, 1 << 24), L16]), "VP8X canvas 2^24 x 2^24 (the 24-bit maximum)", "pixel-bomb", expect="54000")
    add("vp8l-16384x16384", webp_lossless(16384, 16384, g=(1,), r=(1,), b=(1,)), "simple lossless 16384x16384 (2.7e8 px) of one colour", "pixel-bomb", expect="54000")
    add("vp8-16383x16383", riff([riff_chunk(b"VP8 ", vp8(16383, 16383, first=vp8_first_partition(16, 16)))]),
        "simple lossy frame header 16383x16383 (2.7e8 px), one macroblock of data", "pixel-bomb", expect="54000")
    add("vp8x-canvas-1x1-vp8l-16383x16383", riff([vp8x(1, 1), riff_chunk(b"VP8L", vp8l(16383, 16383, g=(1,), r=(1,), b=(1,)))]),
        "VP8X canvas 1x1, the VP8L bitstream inside is 16383x16383 (1 GiB of RGBA at 0 bits per pixel)", "dimension-lie")
    add("vp8x-canvas-6000x6000-vp8l-16x16", riff([vp8x(6000, 6000), L16]), "VP8X canvas 6000x6000 (36e6 px), VP8L 16x16", "dimension-lie")
    add("vp8x-canvas-1x1-vp8-2048x2048", riff([vp8x(1, 1), riff_chunk(b"VP8 ", vp8(2048, 2048))]), "VP8X canvas 1x1, VP8 frame 2048x2048", "dimension-lie")
    add("vp8x-canvas-64x48-vp8-16x16", riff([vp8x(64, 48), riff_chunk(b"VP8 ", vp8(16, 16))]), "VP8X canvas 64x48, VP8 frame 16x16", "dimension-lie")
    add("vp8-dims-0x0", webp_lossy(0, 0), "VP8 frame 0x0", "dimension-lie")
    add("vp8-scale-bits-3", riff([riff_chunk(b"VP8 ", vp8(64, 48, scale=3))]), "VP8 frame with both upscaling fields 3", "header-lie")
    add("vp8x-alpha-flag-vp8l-no-alpha-bit", riff([vp8x(16, 16, VP8X_ALPHA), L16]), "VP8X alpha flag, VP8L alpha hint 0", "header-lie")

    # --- ICC lies
    add("icc-flag-no-iccp", riff([vp8x(16, 16, VP8X_ICC), L16]), "VP8X ICC flag set, no ICCP chunk", "icc-lie")
    add("iccp-len-fffffff0", riff([vp8x(16, 16, VP8X_ICC), b"ICCP" + le32(BIG) + fake_icc()[:64], L16]), "ICCP chunk length 0xFFFFFFF0", "icc-lie")
    add("iccp-past-eof", riff([vp8x(16, 16, VP8X_ICC), b"ICCP" + le32(4096) + fake_icc()]), "ICCP chunk of 4096 bytes, 132 present, no image", "icc-lie")
    add("iccp-declared-size-fffffff0", riff([vp8x(16, 16, VP8X_ICC), riff_chunk(b"ICCP", fake_icc(size_field=BIG)), L16]),
        "ICC profile header declares 0xFFFFFFF0 bytes", "icc-lie")
    add("iccp-twice", riff([vp8x(16, 16, VP8X_ICC), riff_chunk(b"ICCP", fake_icc()), riff_chunk(b"ICCP", fake_icc()), L16]), "two ICCP chunks", "icc-lie")
    add("iccp-empty", riff([vp8x(16, 16, VP8X_ICC), riff_chunk(b"ICCP", b""), L16]), "zero-length ICCP", "icc-lie")

    # --- EXIF lies
    for suffix, t, desc in exif_lies():
        add(f"exif-{suffix}", riff([vp8x(16, 16, VP8X_EXIF), L16, riff_chunk(b"EXIF", t)]), "EXIF chunk: " + desc, "exif-lie")
    add("exif-len-fffffff0-after-image", riff([vp8x(16, 16, VP8X_EXIF), L16, b"EXIF" + le32(BIG) + exif_orientation(6)]),
        "valid 16x16 VP8L, then an EXIF chunk claiming 0xFFFFFFF0 bytes", "exif-lie")
    add("exif-len-fffffff0-before-image", riff([vp8x(16, 16, VP8X_EXIF), b"EXIF" + le32(BIG) + exif_orientation(6), L16]),
        "EXIF chunk claiming 0xFFFFFFF0 bytes before the VP8L chunk", "exif-lie")
    add("exif-len-7fffffff-no-flag", riff([vp8x(16, 16, 0), L16, b"EXIF" + le32(0x7FFFFFFF) + exif_orientation(6)]),
        "EXIF chunk of 0x7FFFFFFF bytes while the VP8X EXIF flag is clear", "exif-lie")
    add("exif-past-eof", riff([vp8x(16, 16, VP8X_EXIF), L16, b"EXIF" + le32(5000) + exif_orientation(6)]), "EXIF chunk of 5000 bytes, 26 present", "exif-lie")
    add("exif-flag-no-chunk", riff([vp8x(16, 16, VP8X_EXIF), L16]), "VP8X EXIF flag, no EXIF chunk", "exif-lie")
    add("exif-exif00-prefix", riff([vp8x(16, 16, VP8X_EXIF), L16, riff_chunk(b"EXIF", b"Exif\0\0" + exif_orientation(6))]),
        "EXIF chunk with a JPEG-style 'Exif\\0\\0' prefix, Orientation 6", "exif-lie")
    add("exif-twice", riff([vp8x(16, 16, VP8X_EXIF), L16, riff_chunk(b"EXIF", exif_orientation(6)), riff_chunk(b"EXIF", exif_orientation(8))]),
        "two EXIF chunks (Orientation 6, then 8)", "exif-lie")
    add("exif-simple-format", riff([L16, riff_chunk(b"EXIF", exif_orientation(6))]), "EXIF chunk after a simple-format (no VP8X) VP8L", "exif-lie")

    # --- XMP lies
    add("xmp-len-fffffff0", riff([vp8x(16, 16, VP8X_XMP), L16, b"XMP " + le32(BIG) + XMP[:40]]), "XMP chunk claiming 0xFFFFFFF0 bytes", "xmp-lie")
    add("xmp-nested-5000", riff([vp8x(16, 16, VP8X_XMP), L16, riff_chunk(b"XMP ", xmp_nested(5000))]), "XMP chunk with 5000 nested elements", "xmp-lie")
    add("xmp-entity-bomb", riff([vp8x(16, 16, VP8X_XMP), L16, riff_chunk(b"XMP ", xmp_entity_bomb())]), "XMP chunk with a billion-laughs entity bomb", "xmp-lie")

    # --- ALPH lies
    V = riff_chunk(b"VP8 ", lossy)
    ax = vp8x(64, 48, VP8X_ALPHA)
    add("alph-len-fffffff0", riff([ax, b"ALPH" + le32(BIG) + b"\0" * 16, V]), "ALPH chunk length 0xFFFFFFF0", "alpha-lie")
    add("alph-short", riff([ax, alph(64, 48, data=b"\x80" * 100), V]), "uncompressed ALPH with 100 of 3072 bytes", "alpha-lie")
    add("alph-method-1-garbage", riff([ax, alph(64, 48, method=1, data=bytes(random.Random(4).randrange(256) for _ in range(200))), V]),
        "lossless-compressed ALPH of 200 random bytes", "alpha-lie")
    add("alph-method-1-palette-256-empty", riff([ax, alph(64, 48, method=1, data=b"\x07\xFE"), V]),
        "lossless ALPH: a colour-indexing transform of 256 colours, then nothing", "alpha-lie")
    add("alph-method-3", riff([ax, alph(64, 48, method=3), V]), "ALPH compression method 3 (invalid)", "alpha-lie")
    add("alph-filter-3-preprocessing-3", riff([ax, alph(64, 48, filt=3, pre=3), V]), "ALPH filter 3 (gradient) with preprocessing 3 (invalid)", "alpha-lie")
    add("alph-with-vp8l", riff([vp8x(16, 16, VP8X_ALPHA), alph(16, 16), L16]), "ALPH chunk next to a VP8L image (must be ignored)", "alpha-lie")
    add("alph-empty", riff([ax, riff_chunk(b"ALPH", b""), V]), "zero-length ALPH", "alpha-lie")

    # --- chunk order / structure lies
    add("vp8l-before-vp8x", riff([L16, vp8x(16, 16)]), "VP8L chunk before the VP8X chunk", "structure")
    add("vp8x-no-image-chunk", riff([vp8x(16, 16)]), "VP8X and nothing else", "structure")
    add("vp8x-two-image-chunks", riff([vp8x(64, 48), V, riff_chunk(b"VP8L", vp8l(64, 48))]), "VP8X with both a VP8 and a VP8L chunk", "structure")
    add("vp8x-in-the-middle", riff([vp8x(16, 16), L16, vp8x(16384, 16384)]), "a second VP8X chunk (16384x16384) after the image", "structure")

    # --- animation lies
    F1 = riff_chunk(b"VP8L", vp8l(1, 1))
    add("anim-canvas-16384x16384", riff([vp8x(16384, 16384, VP8X_ANIM), anim(), anmf(0, 0, 1, 1, [F1])]),
        "animated, canvas 16384x16384 (2.7e8 px), one 1x1 frame", "canvas-bomb", expect="54000")
    add("anim-canvas-16777216-square", riff([vp8x(1 << 24, 1 << 24, VP8X_ANIM), anim(), anmf(0, 0, 1, 1, [F1])]),
        "animated, canvas 2^24 x 2^24, one 1x1 frame", "canvas-bomb", expect="54000")
    add("anim-canvas-6000x6000-frames-1x1", riff([vp8x(6000, 6000, VP8X_ANIM), anim(), anmf(0, 0, 1, 1, [F1]), anmf(5998, 5998, 1, 1, [F1])]),
        "animated, canvas 6000x6000 (36e6 px, under the limit), two 1x1 frames", "canvas-bomb")
    add("anim-frames-1000", riff([vp8x(16, 16, VP8X_ANIM), anim()] + [anmf(0, 0, 1, 1, [F1], duration=1)] * 1000),
        "animated 16x16 with 1000 1x1 frames", "frame-bomb")
    add("anim-frame-offset-beyond-canvas", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(2 * 0xFFFFFF, 2 * 0xFFFFFF, 1, 1, [F1])]),
        "frame at offset (33554430, 33554430) on a 16x16 canvas", "canvas-bomb")
    add("anim-frame-bigger-than-canvas", riff([vp8x(16, 16, VP8X_ANIM), anim(),
                                               anmf(0, 0, 16384, 16384, [riff_chunk(b"VP8L", vp8l(16384, 16384, g=(1,), r=(1,), b=(1,)))])]),
        "16x16 canvas, one 16384x16384 frame (0 bits per pixel)", "canvas-bomb")
    add("anim-frame-dims-lie", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 16, 16, [riff_chunk(b"VP8L", vp8l(1000, 1000, g=(1,), r=(1,), b=(1,)))])]),
        "ANMF says 16x16, its VP8L bitstream is 1000x1000", "dimension-lie")
    add("anim-anmf-len-10", riff([vp8x(16, 16, VP8X_ANIM), anim(), b"ANMF" + le32(10) + b"\0" * 10]), "ANMF chunk of 10 bytes (16-byte header)", "length-lie")
    add("anim-anmf-len-fffffff0", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 1, 1, [F1], length=BIG)]), "ANMF chunk length 0xFFFFFFF0", "length-lie")
    add("anim-anmf-subchunk-len-fffffff0", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 1, 1, [b"VP8L" + le32(BIG) + vp8l(1, 1)])]),
        "frame's VP8L sub-chunk claiming 0xFFFFFFF0 bytes", "length-lie")
    nested = [F1]
    for _ in range(200):
        nested = [anmf(0, 0, 1, 1, nested)]
    add("anim-anmf-nested-200", riff([vp8x(16, 16, VP8X_ANIM), anim()] + nested), "ANMF inside ANMF inside ANMF ... 200 deep", "nesting")
    add("anim-no-anim-chunk", riff([vp8x(16, 16, VP8X_ANIM), anmf(0, 0, 16, 16, [L16])]), "animation flag, ANMF frames, no ANIM chunk", "structure")
    add("anim-anim-len-fffffff0", riff([vp8x(16, 16, VP8X_ANIM), anim(length=BIG), anmf(0, 0, 16, 16, [L16])]), "ANIM chunk length 0xFFFFFFF0", "length-lie")
    add("anim-zero-frames", riff([vp8x(16, 16, VP8X_ANIM), anim()]), "animation flag and ANIM, zero frames", "frame-bomb")
    add("anim-flag-plain-vp8l", riff([vp8x(16, 16, VP8X_ANIM), anim(), L16]), "animation flag but a plain VP8L chunk, no ANMF", "structure")
    add("anim-frame-empty", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 16, 16, [])]), "ANMF with no image sub-chunk", "structure")
    add("anim-frame-alph-vp8", riff([vp8x(64, 48, VP8X_ANIM | VP8X_ALPHA), anim(), anmf(0, 0, 64, 48, [alph(64, 48), V]),
                                     anmf(0, 0, 64, 48, [alph(64, 48, data=b"\0" * 10), V])]),
        "animated lossy frames with ALPH, the second ALPH truncated", "alpha-lie")
    add("anim-frame-zero-size", riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 1, 1, [riff_chunk(b"VP8 ", vp8(0, 0))])]),
        "animated frame whose VP8 bitstream is 0x0", "dimension-lie")

    # --- VP8L bitstream lies
    add("vp8l-signature-2e", webp_lossless(16, 16, signature=0x2E), "VP8L signature byte 0x2E (0x2F required)", "header-lie")
    add("vp8l-version-1", webp_lossless(16, 16, version=1), "VP8L version 1", "header-lie")
    add("vp8l-cache-bits-11", webp_lossless(16, 16, cache_bits=11), "VP8L colour cache of 11 bits (max 10)", "header-lie")
    add("vp8l-cache-bits-0", webp_lossless(16, 16, cache_bits=0), "VP8L colour cache flag with 0 bits", "header-lie")

    def bad_code(bw):
        bw.write(0, 1)                       # one prefix group
        bw.write(0, 1)                       # green: a normal (not simple) code
        bw.write(15, 4)                      # 19 code-length code lengths
        for _ in range(19):
            bw.write(1, 3)                   # all of length 1: over-subscribed
        bw.write(0, 1)
    add("vp8l-code-lengths-oversubscribed", webp_lossless(16, 16, meta=bad_code), "VP8L code-length code with 19 codes of length 1", "table-lie")

    def twice(bw):
        for _ in range(2):
            bw.write(1, 1)
            bw.write(2, 2)                   # SUBTRACT_GREEN, twice
    add("vp8l-transform-twice", webp_lossless(16, 16, transform=twice), "the subtract-green transform twice (each transform at most once)", "header-lie")

    def all_four_plus(bw):
        for t in (2, 2, 2, 2, 2):
            bw.write(1, 1)
            bw.write(t, 2)
    add("vp8l-transform-5-times", webp_lossless(16, 16, transform=all_four_plus), "five transforms (max 4)", "header-lie")
    add("vp8l-palette-17-index-200", webp_lossless(16, 16, transform=vp8l_palette(17, 200), g=(200,), r=(0,), b=(0,)),
        "colour-indexing transform with 17 colours, every index 200", "palette-lie")
    add("vp8l-palette-3-index-3-packed", webp_lossless(16, 16, transform=vp8l_palette(3, 0xFF), g=(0xFF,), r=(0,), b=(0,)),
        "colour-indexing transform with 3 colours, 2-bit packed indices all 3", "palette-lie")
    add("vp8l-palette-256-truncated", riff([riff_chunk(b"VP8L", vp8l(16, 16)[:5] + b"\x07\xFE")]), "colour-indexing transform of 256 colours, then EOF", "palette-lie")
    add("vp8l-meta-groups-40001", webp_lossless(16, 16, meta=vp8l_meta(40000, 40001)),
        "VP8L whose entropy image asks for meta prefix code 40000: 40001 prefix-code groups (200,005 codes)", "table-lie")
    add("vp8l-meta-groups-65536-truncated", webp_lossless(16, 16, meta=vp8l_meta(65535, 10)),
        "VP8L asking for 65536 prefix-code groups, 10 present", "table-lie")

    # --- VP8 bitstream lies
    add("vp8-interframe", riff([riff_chunk(b"VP8 ", vp8(64, 48, keyframe=False))]), "VP8 frame tag says inter frame (no key frame)", "header-lie")
    add("vp8-bad-start-code", riff([riff_chunk(b"VP8 ", vp8(64, 48, start=b"\x9d\x01\x2b"))]), "VP8 start code 9d 01 2b", "header-lie")
    add("vp8-first-partition-size-7ffff", riff([riff_chunk(b"VP8 ", vp8(64, 48, part_size=0x7FFFF))]), "first partition size 0x7FFFF (past the chunk)", "length-lie")
    add("vp8-partitions-8-sizes-ffffff", riff([riff_chunk(b"VP8 ", vp8(64, 48, partitions_log2=3, tokens=b"\xFF" * 21 + BoolEncoder().flush()))]),
        "8 token partitions whose sizes are all 0xFFFFFF", "length-lie")
    add("vp8-first-partition-random", riff([riff_chunk(b"VP8 ", vp8(64, 48, first=bytes(random.Random(5).randrange(256) for _ in range(300))))]),
        "VP8 first partition of 300 random bytes", "header-lie")
    tag = bytearray(lossy[:3])
    tag[0] = (tag[0] & ~0x0E) | (7 << 1)
    add("vp8-version-7", riff([riff_chunk(b"VP8 ", bytes(tag) + lossy[3:])]), "VP8 version field 7 (max 3)", "header-lie")
    add("vp8-not-shown", riff([riff_chunk(b"VP8 ", bytes([lossy[0] & ~0x10]) + lossy[1:])]), "VP8 key frame with show_frame = 0", "header-lie")

    # --- truncations
    full = riff([vp8x(64, 48, VP8X_ICC | VP8X_ALPHA | VP8X_EXIF | VP8X_XMP), riff_chunk(b"ICCP", fake_icc()), alph(64, 48), V,
                 riff_chunk(b"EXIF", exif_orientation(3)), riff_chunk(b"XMP ", XMP)])
    add("extended-all-chunks", full, "extended lossy 64x48 with every optional chunk (VP8X, ICCP with a tag-less profile, ALPH, VP8, "
        "EXIF rot3, XMP): the base of webp-trunc-extended-*", "structure")
    add_truncations(c, "extended", full, riff_cuts(full), "webp", "webp", "extended lossy WebP (ICCP/ALPH/VP8/EXIF/XMP)", fix=fix_riff, kept_too=True)
    animated = riff([vp8x(16, 16, VP8X_ANIM), anim(), anmf(0, 0, 16, 16, [L16]), anmf(4, 4, 8, 8, [riff_chunk(b"VP8L", vp8l(8, 8))])])
    add_truncations(c, "animated", animated, riff_cuts(animated), "webp", "webp", "valid animated WebP", fix=fix_riff, kept_too=True)
    simple = riff([L16])
    cuts = riff_cuts(simple) + [(20 + 3, "inside the VP8L header"), (20 + 5, "after the VP8L header")]
    add_truncations(c, "lossless", simple, cuts, "webp", "webp", "valid lossless WebP", fix=fix_riff, kept_too=True)
    with open(ROCKET_WEBP, "rb") as f:
        rocket = f.read()
    assert rocket[12:16] == b"VP8 "
    first = struct.unpack("<I", rocket[20:23] + b"\0")[0] >> 5
    cuts = [(16, "inside the VP8 chunk header"), (20, "after the VP8 chunk header"), (23, "after the frame tag"), (26, "after the start code"),
            (30, "after the frame size"), (30 + first // 2, "inside the first partition"), (30 + first, "after the first partition"),
            (30 + first + 200, "early in the token partition"), ((30 + first + len(rocket)) // 2, "in the middle of the token partition")]
    add_truncations(c, "rocket-lossy", rocket, cuts, "webp", "webp", "../rocket-lossy.webp (real libwebp lossy 23 KB)", fix=fix_riff)


def build():
    c = Corpus()
    png_cases(c)
    jpeg_cases(c)
    gif_cases(c)
    bmp_cases(c)
    webp_cases(c)
    return c


def pillow_check(c):
    try:
        from PIL import Image
    except ImportError:
        print("Pillow not installed: --check skipped", file=sys.stderr)
        return 0
    Image.MAX_IMAGE_PIXELS = None
    bad = 0
    for name, (data, meta) in sorted(c.files.items()):
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                ok = f"{im.format} {im.mode} {im.size}"
        except Exception as e:  # noqa: BLE001 - any failure is a result here
            ok = None
            err = f"{type(e).__name__}: {e}"
        if meta["valid"] and ok is None:
            bad += 1
            print(f"VALID FILE DOES NOT DECODE: {name}: {err}", file=sys.stderr)
        elif meta["valid"]:
            print(f"ok   {name}: {ok}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true", help="open every file with Pillow (if installed); valid files must decode")
    args = ap.parse_args()
    c = build()
    total = sum(len(d) for d, _ in c.files.values())
    assert total < MAX_TOTAL, total
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old not in c.files and old != "MANIFEST.json":
            os.remove(os.path.join(args.out, old))
    for name, (data, _) in sorted(c.files.items()):
        path = os.path.join(args.out, name)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            pass
        with open(path, "wb") as f:
            f.write(data)
    entries = [meta for _, (_, meta) in sorted(c.files.items())]
    classes = {}
    for e in entries:
        classes[e["class"]] = classes.get(e["class"], 0) + 1
    manifest = {
        "generator": "tests/hostile/make_corpus.py",
        "count": len(entries),
        "total_bytes": total,
        "classes": dict(sorted(classes.items())),
        "files": entries,
    }
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(entries)} files, {total} bytes, {sum(e['valid'] for e in entries)} valid -> {args.out}")
    if args.check:
        return 1 if pillow_check(c) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
