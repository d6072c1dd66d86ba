//! The constants of CLIP ViT-B/32 and of open_clip's pipeline for it, in one place: every module that
//! needs a size, a token id or a normalisation constant takes it from here, so a model with another
//! geometry is one edit, not a search.

/// Side of the square image the vision tower takes (`Resize(224)` + `CenterCrop(224)`).
pub const IMAGE_SIZE: usize = 224;
/// Floats in one preprocessed image: 3 channels x 224 x 224, CHW.
pub const TENSOR_LEN: usize = 3 * IMAGE_SIZE * IMAGE_SIZE;
/// Stored with every embedding, so a change of preprocessing can be told from a change of weights; a row
/// embedded under another version is stale and re-embedded by the next backfill.
/// v1: 0.1.0. v2 (0.2.0): orientation read wherever Pillow's getexif reads it (every JPEG EXIF segment,
/// PNG text/raw profiles, WebP, XMP), BMP decoded as BmpImagePlugin does, 16-bit gray as Pillow's I;16
/// path, GIF without a colour table as gray: images of those kinds embed differently (tests/parity).
pub const PREPROCESS_VERSION: &str = "openclip-vitb32-pil-v2";
/// open_clip OPENAI_DATASET_MEAN / STD (as Python floats; torch makes f32 of them).
pub const MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
pub const STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];

/// Context length of every CLIP text tower.
pub const CONTEXT_LENGTH: usize = 77;
/// `<start_of_text>` id.
pub const SOT_TOKEN: u32 = 49406;
/// `<end_of_text>` id.
pub const EOT_TOKEN: u32 = 49407;

/// Width of CLIP ViT-B/32's joint embedding space.
pub const EMBED_DIM: usize = 512;
