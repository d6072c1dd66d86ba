//! Decoding into a raster in the PIL mode Pillow would use: the types and helpers every decoder shares.

use super::*;


/// The PIL mode Pillow opens an image in; it decides the resize filter and
/// the final conversion to RGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PilMode {
    /// 1 channel, bicubic, gray replicated to RGB.
    L,
    /// 2 channels (L, A), bicubic premultiplied ('La'), alpha dropped.
    La,
    /// 3 channels, bicubic.
    Rgb,
    /// 4 channels, bicubic premultiplied ('RGBa'), alpha dropped.
    Rgba,
    /// 4 channels in Pillow's (Adobe-inverted) CMYK, bicubic, Pillow cmyk2rgb.
    Cmyk,
    /// Palette image, already expanded to 3 channels RGB; NEAREST.
    P,
    /// Bilevel image as 1 channel 0/255; NEAREST.
    One,
    /// 16-bit gray ('I;16', 16-bit grayscale PNG) as little-endian u16 samples (2 bytes a pixel):
    /// Pillow's 16-bit bicubic, then convert('RGB') clips every sample to 255. The resize gives 'L'.
    I16,
}

impl PilMode {
    pub(super) fn channels(self) -> usize {
        match self {
            PilMode::L | PilMode::One => 1,
            PilMode::La | PilMode::I16 => 2,
            PilMode::Rgb | PilMode::P => 3,
            PilMode::Rgba | PilMode::Cmyk => 4,
        }
    }
}

/// Interleaved 8-bit pixels, `channels` bytes per pixel, row-major, no padding.
pub(super) struct Raster {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) channels: usize,
    pub(super) data: Vec<u8>,
}

pub(super) struct Decoded {
    pub(super) raster: Raster,
    pub(super) mode: PilMode,
    pub(super) orientation: Orientation,
}

pub(super) fn corrupt(what: &str, e: impl fmt::Display) -> PreprocessError {
    PreprocessError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn image_err(what: &'static str) -> impl Fn(image::ImageError) -> PreprocessError {
    move |e| match e {
        image::ImageError::Unsupported(u) => {
            PreprocessError::UnsupportedFormat(format!("{what} variant ({u})"))
        }
        image::ImageError::Limits(l) => PreprocessError::OutOfMemory(format!(
            "{what}: decoding would exceed the decoder memory limit ({l})"
        )),
        other => corrupt(what, other),
    }
}

pub(super) fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::Corrupt(format!(
            "image has zero size ({width}x{height})"
        )));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PreprocessError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    // The decoders' own buffers are not all fallible (zune-jpeg, image-webp): before one is asked for, the
    // address space for the decoded raster (RGBA, 4 bytes a pixel) plus its working buffers must be there.
    let reserve = (u64::from(width) * u64::from(height)).saturating_mul(4).saturating_add(4 << 20);
    crate::headroom::ensure(usize::try_from(reserve).unwrap_or(usize::MAX)).map_err(|bytes| {
        PreprocessError::OutOfMemory(format!("cannot reserve {} MiB to decode a {width}x{height} image", bytes >> 20))
    })?;
    Ok(())
}

/// Allocation budget handed to the decoders: 8 bytes per allowed pixel (RGBA16)
/// plus 64 MiB for metadata (ICC profiles, text chunks, palettes ...).
pub(super) fn alloc_budget(limits: &Limits) -> u64 {
    limits.max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

pub(super) fn max_dimension(limits: &Limits) -> u32 {
    u32::try_from(limits.max_pixels).unwrap_or(u32::MAX).max(1)
}

pub(super) fn decoder_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(max_dimension(limits));
    l.max_image_height = Some(max_dimension(limits));
    l.max_alloc = Some(alloc_budget(limits));
    l
}

/// Zeroed buffer without aborting the process when memory is short.
pub(super) fn alloc_bytes(len: u64) -> Result<Vec<u8>> {
    let len = usize::try_from(len)
        .map_err(|_| PreprocessError::Corrupt("image buffer size overflows".into()))?;
    let mut v = reserve_bytes(len)?;
    v.resize(len, 0);
    Ok(v)
}

/// An empty buffer with room for `len` bytes, or OutOfMemory (never an abort) when memory is short.
pub(super) fn reserve_bytes(len: usize) -> Result<Vec<u8>> {
    reserved(len)
}

/// An empty Vec with room for `len` elements, or OutOfMemory (never an abort) when memory is short.
pub(super) fn reserved<T>(len: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        PreprocessError::OutOfMemory(format!("cannot allocate {} bytes", len.saturating_mul(size_of::<T>())))
    })?;
    Ok(v)
}

/// `len` copies of `fill`, or OutOfMemory (never an abort) when memory is short: every buffer whose size
/// depends on the image, and the fixed per-image ones, are taken this way, because under an address-space
/// cap (or a full host) a failed Rust allocation aborts the backend and sends the server into recovery.
pub(super) fn filled<T: Clone>(len: usize, fill: T) -> Result<Vec<T>> {
    let mut v = reserved(len)?;
    v.resize(len, fill);
    Ok(v)
}

/// `Err(Stopped)` when the probe says stop: the one check between stages and blocks of work.
pub(super) fn check_stop(stop: StopProbe) -> Result<()> {
    if stop() {
        return Err(PreprocessError::Stopped);
    }
    Ok(())
}

/// Keep the first `keep` of every `stride` bytes, in place (drops alpha etc.).
pub(super) fn strip_channels(data: &mut Vec<u8>, stride: usize, keep: usize) {
    if keep >= stride || stride == 0 {
        return;
    }
    let n = data.len() / stride;
    for i in 0..n {
        for c in 0..keep {
            data[i * keep + c] = data[i * stride + c];
        }
    }
    data.truncate(n * keep);
}

/// Native-endian u16 samples -> their high byte, in place. This is what
/// Pillow's ";16B" raw modes do for 16-bit PNGs (truncation, not rounding).
pub(super) fn u16_to_high_byte(data: &mut Vec<u8>) {
    let n = data.len() / 2;
    for i in 0..n {
        let v = u16::from_ne_bytes([data[2 * i], data[2 * i + 1]]);
        data[i] = (v >> 8) as u8;
    }
    data.truncate(n);
}

pub(super) fn finish(
    mut data: Vec<u8>,
    width: u32,
    height: u32,
    have_channels: usize,
    mode: PilMode,
    orientation: Orientation,
) -> Result<Decoded> {
    let channels = mode.channels();
    if have_channels < channels
        || data.len() as u64 != u64::from(width) * u64::from(height) * have_channels as u64
    {
        return Err(PreprocessError::Corrupt(format!(
            "decoder returned an unexpected pixel layout ({have_channels} channels, {} bytes for {width}x{height})",
            data.len()
        )));
    }
    strip_channels(&mut data, have_channels, channels);
    Ok(Decoded {
        raster: Raster {
            width,
            height,
            channels,
            data,
        },
        mode,
        orientation,
    })
}

/// The input as the image crate's decoders read it (Read + BufRead + Seek over the bytes), asking the
/// stop probe every few calls: a stopped read is an I/O error the decoder passes up, and
/// `preprocess_into_stoppable` then reports the stop rather than a corrupt file.
pub(super) struct StopReader<'a> {
    inner: std::io::Cursor<&'a [u8]>,
    stop: StopProbe<'a>,
    calls: std::cell::Cell<u32>,
}

impl<'a> StopReader<'a> {
    pub(super) fn new(bytes: &'a [u8], stop: StopProbe<'a>) -> Self {
        StopReader { inner: std::io::Cursor::new(bytes), stop, calls: std::cell::Cell::new(0) }
    }

    /// `every`: ask the probe on every `every`-th call only. A read() fills a decoder's buffer (kilobytes),
    /// so it asks every time; a bit reader may call fill_buf once per few bytes, so that asks every 64th.
    fn check(&self, every: u32) -> std::io::Result<()> {
        let n = self.calls.get().wrapping_add(1);
        self.calls.set(n);
        if n % every == 0 && (self.stop)() {
            return Err(std::io::Error::other("pg_clip: stopped"));
        }
        Ok(())
    }
}

impl std::io::Read for StopReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check(1)?;
        self.inner.read(buf)
    }
}

impl std::io::BufRead for StopReader<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.check(64)?;
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt)
    }
}

impl std::io::Seek for StopReader<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}
