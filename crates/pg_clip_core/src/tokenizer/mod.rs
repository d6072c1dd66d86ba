//! Pure-Rust port of open_clip's CLIP tokenizer (`open_clip.tokenizer.SimpleTokenizer`,
//! the tokenizer of ViT-B/32 and the other OpenAI-vocabulary CLIP models).
//!
//! This module has no Postgres dependency, so it builds and is unit-tested on its own.
//!
//! # What is reproduced
//!
//! `open_clip.tokenize(text)` with the defaults of ViT-B-32 (`clean='lower'`, context 77) is
//!
//! ```text
//! ids = [49406] + bpe(findall(PAT, whitespace_clean(basic_clean(text)).lower())) + [49407]
//! basic_clean(t)      = html.unescape(html.unescape(ftfy.fix_text(t))).strip()
//! whitespace_clean(t) = " ".join(t.split())
//! ```
//!
//! cut to 77 ids with the last one forced to `<end_of_text>`, zero-padded. Every step is ported:
//!
//! * **BPE** over the byte-to-unicode alphabet with the 48 894 merges of
//!   `bpe_simple_vocab_16e6.txt.gz` (embedded; MIT, see `models/bpe_simple_vocab_16e6.LICENSE`).
//!   Words longer than 32 bytes use an O(n log n) heap formulation with the same result, so a
//!   pathological input cannot stall a backend (open_clip's loop is quadratic).
//! * **Pre-tokenisation** with open_clip's pattern, which uses the Python `regex` module with
//!   `IGNORECASE`. `\p{L}` / `\p{N}` are that module's own sets (embedded as ranges), so the
//!   Unicode version of the Rust `regex` crate does not matter. Only the literal alternatives
//!   are case-insensitive: `'S`/`'ſ` match `'s`, and `<ſtart_of_text>` matches the special-token
//!   alternative (and is then BPE-encoded, not mapped to 49406, as in Python). Under
//!   `IGNORECASE` the `regex` module matches U+0345 (COMBINING GREEK YPOGEGRAMMENI) with none of
//!   the classes, so it is dropped; the Rust class excludes it to do the same.
//! * **`html.unescape`**: Python's algorithm and full HTML5 entity table (2 231 names, incl. the
//!   legacy names without `;` and the longest-prefix rule: `&notit;` -> `¬it;`), numeric
//!   references with the Windows-1252 fix-ups for 0x80..=0x9F, U+FFFD for 0, surrogates and
//!   > U+10FFFF, and removal of the code points Python calls invalid (controls, non-characters).
//! * **`ftfy.fix_text` (ftfy 6.3.1, default config)**: per-line segments (and 1 000 000-character
//!   chunks) with the sticky "a `<` turns HTML unescaping off" rule; ftfy's own `unescape_html`
//!   (incl. ALL-CAPS entities such as `&EACUTE;`); `fix_encoding`, i.e. mojibake repair through
//!   ftfy's ten single-byte codecs (incl. the "sloppy" Windows ones), `restore_byte_a0`,
//!   `replace_lossy_sequences`, the `utf-8-variants` codec (CESU-8 pairs, Java NUL),
//!   `decode_inconsistent_utf8` and `fix_c1_controls`, all driven by ftfy's `badness` heuristic
//!   whose regex is translated mechanically from ftfy's source; `fix_latin_ligatures`,
//!   `fix_character_width`, `uncurl_quotes`, `fix_line_breaks`, `remove_terminal_escapes`,
//!   `remove_control_chars` and NFC; the whole repeated to a fixed point as ftfy does.
//! * **Python `str.split()`/`str.isspace()`** (which, unlike Unicode White_Space, include
//!   U+001C..=U+001F) and **`str.lower()`** (full mappings such as `İ` -> `i̇`, CPython's
//!   final-sigma rule).
//! * **Python's Unicode version.** CPython 3.11 uses Unicode 14.0 for `str.lower()`, NFC and
//!   `re`, while Rust's `std`/`regex`/`unicode-normalization` are newer. Code points unassigned in
//!   Python's tables but assigned in the `regex` module's (`tables::PY_UNASSIGNED`, 28 111 code
//!   points of Unicode 15.0-17.0) are therefore left un-lowercased, act as neither cased nor
//!   case-ignorable in the final-sigma context, split NFC runs (they are starters that never
//!   compose), and are excluded from ftfy's `\w`/`\d`, exactly as in Python.
//!
//! The data tables in `tables.rs` are generated from Python (`python
//! tests/golden/make_token_golden.py --rust-tables crates/pg_clip_core/src/tokenizer/tables.rs`). The golden test reads
//! `tests/golden/tokens.jsonl` (2 597 strings, ids from open_clip 3.3.0 / ftfy 6.3.1 /
//! regex 2026.11.19 / CPython 3.11.7, see `tokens.meta.json`) and requires identical ids for
//! every row; a further 220 000 randomly generated strings (mojibake chains, entity soup,
//! combining marks, Unicode 15-17 characters, ...) also matched 100% during development.
//!
//! # Layout
//!
//! * this file: the public API, vocabulary loading, pre-tokenisation and BPE;
//! * `clean.rs`: text cleaning (the ftfy port, `html.unescape`, Python `str` semantics);
//! * `tables.rs`: the generated data tables (entities, codecs, regexes, Unicode sets).
//!
//! # Known deviations from open_clip
//!
//! None is known for inputs that can reach this code. Where it could still differ:
//!
//! * **Lone surrogates** (`"\ud83d"`) exist in Python strings but not in Rust `&str` or Postgres
//!   `text`, so ftfy's `fix_surrogates` has nothing to do here.
//! * **Other reference versions.** The reference is CPython 3.11 (Unicode 14.0) with `regex`
//!   2026.11.19 (Unicode 17.0). open_clip run on another CPython (e.g. 3.13, Unicode 15.1)
//!   lowercases/normalises Unicode 15+ characters differently from that reference, and
//!   characters of a future Unicode 18 that Rust learns before the embedded tables are
//!   regenerated would be lowercased/normalised here but not by the reference. Both only
//!   concern characters assigned after Unicode 14.0.
//! * **Case properties of old characters.** The final-sigma context and ftfy's `\w` (used only
//!   inside the badness heuristic, approximated by `[\p{L}\p{N}_]`) read Cased /
//!   Case_Ignorable / letter-digit properties from Rust's newer Unicode tables; a Unicode-14
//!   character whose property changed later would be judged differently. No such case showed up.
//! * **ftfy versions.** ftfy's heuristics change between releases; the port follows 6.3.1
//!   (open_clip does not pin ftfy).
//!
//! The tokenizer is built once per process by [`global`] (30-60 ms measured on a busy 2-core
//! machine, mostly gunzip + merge table); tokenizing a caption takes 1-10 µs.

mod clean;
#[rustfmt::skip]
#[allow(clippy::all)]
mod tables;

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use regex::Regex;

use clean::Cleaner;

pub use crate::clip::{CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN};

static VOCAB_GZ: &[u8] = include_bytes!("../../../../models/bpe_simple_vocab_16e6.txt.gz");

/// Number of merge rules open_clip uses: `merges[1:49152-256-2+1]`.
const N_MERGES: usize = 49152 - 256 - 2;

/// Words up to this many bytes use the straightforward quadratic BPE loop, longer ones the heap.
const BPE_SIMPLE_MAX: usize = 32;

/// Python `re.compile(special + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
/// re.IGNORECASE)` with the `regex` module, see the module docs for the IGNORECASE details.
/// `\p{L}` / `\p{N}` are the `regex` module's own sets (tables::PY_REGEX_L / PY_REGEX_N), so the
/// result does not depend on the Unicode version of the Rust `regex` crate.
fn word_pattern() -> String {
    let (l, n) = (tables::PY_REGEX_L, tables::PY_REGEX_N);
    format!(
        r"(?i:<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d)|[{l}]+|[{n}]|[^\s{l}{n}\x{{345}}]+"
    )
}

/// HashMap with a small multiplicative hasher (FxHash): keys are vocabulary strings and id
/// pairs, not attacker-chosen, and SipHash would dominate both building and BPE lookups.
type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// CLIP BPE tokenizer, identical to open_clip's `SimpleTokenizer` (see module docs).
pub struct Tokenizer {
    /// byte -> id of its single-symbol token (add 256 for the `</w>` variant)
    byte_ids: [u32; 256],
    /// (left id, right id) -> merged id; merged ids are `512 + rank`, so lower id = higher priority
    merges: FastMap<(u32, u32), u32>,
    word_re: Regex,
    cleaner: Cleaner,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new()
    }
}

impl Tokenizer {
    /// Builds the tokenizer from the embedded vocabulary. Prefer [`global`].
    pub fn new() -> Tokenizer {
        let mut gz = flate2::read::GzDecoder::new(VOCAB_GZ);
        let mut text = String::new();
        gz.read_to_string(&mut text)
            .expect("embedded bpe_simple_vocab_16e6.txt.gz is valid gzip/UTF-8");

        // bytes_to_unicode(): printable latin-1 bytes map to themselves, the others to 256+n.
        let mut byte_chars = ['\0'; 256];
        let mut byte_ids = [0u32; 256];
        let mut order: Vec<u8> = Vec::with_capacity(256);
        for b in 0u16..256 {
            let b = b as u8;
            if (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE {
                order.push(b);
                byte_chars[b as usize] = b as char;
            }
        }
        let mut n = 0u32;
        for b in 0u16..256 {
            let b = b as u8;
            if !order.contains(&b) {
                order.push(b);
                byte_chars[b as usize] = char::from_u32(256 + n).unwrap();
                n += 1;
            }
        }
        // The symbol strings, all in two buffers so the string -> id map can borrow them:
        // `base` holds the 512 byte symbols ("x" and "x</w>"), `joined` the merged strings
        // (each merge line with its separating space removed).
        let mut base = String::with_capacity(512 * 7);
        let mut base_ranges = Vec::with_capacity(512);
        for suffix in ["", "</w>"] {
            for &b in &order {
                let s0 = base.len();
                base.push(byte_chars[b as usize]);
                base.push_str(suffix);
                base_ranges.push(s0..base.len());
            }
        }
        let mut pairs = Vec::with_capacity(N_MERGES);
        let mut joined = String::with_capacity(text.len());
        let mut joined_ranges = Vec::with_capacity(N_MERGES);
        for line in text.split('\n').skip(1).take(N_MERGES) {
            let mut parts = line.split_whitespace();
            let (a, b) = match (parts.next(), parts.next()) {
                (Some(a), Some(b)) => (a, b),
                _ => panic!("malformed merge line {line:?}"),
            };
            let s0 = joined.len();
            joined.push_str(a);
            joined.push_str(b);
            joined_ranges.push(s0..joined.len());
            pairs.push((a, b));
        }
        assert_eq!(pairs.len(), N_MERGES, "truncated merge list");
        let mut vocab: FastMap<&str, u32> =
            FastMap::with_capacity_and_hasher(49408, Default::default());
        for (i, r) in base_ranges.into_iter().enumerate() {
            vocab.insert(&base[r], i as u32);
        }
        for (i, &b) in order.iter().enumerate() {
            byte_ids[b as usize] = i as u32;
        }
        let mut merges = FastMap::with_capacity_and_hasher(N_MERGES, Default::default());
        let mut next_id = 512u32;
        for ((a, b), r) in pairs.into_iter().zip(joined_ranges) {
            let ia = vocab[a];
            let ib = vocab[b];
            // The merge list has no duplicate pairs and no two merges producing the same string
            // (Python's encoder dict would then pick the last id); ids are 512 + rank.
            let dup_pair = merges.insert((ia, ib), next_id).is_some();
            let dup_str = vocab.insert(&joined[r], next_id).is_some();
            assert!(!dup_pair && !dup_str, "duplicate merge {a:?} {b:?}");
            next_id += 1;
        }
        assert_eq!(next_id, SOT_TOKEN, "vocabulary size mismatch");

        Tokenizer {
            byte_ids,
            merges,
            word_re: Regex::new(&word_pattern()).expect("word pattern"),
            cleaner: Cleaner::new(),
        }
    }

    /// The text after open_clip's `clean='lower'` step
    /// (`whitespace_clean(basic_clean(text)).lower()`).
    pub fn clean(&self, text: &str) -> String {
        self.cleaner.clean_lower(text)
    }

    /// BPE ids of `text` after cleaning, without `<start_of_text>`/`<end_of_text>`
    /// (open_clip's `SimpleTokenizer.encode`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = self.clean(text);
        let mut out = Vec::with_capacity(cleaned.len() / 3 + 4);
        for (n, m) in self.word_re.find_iter(&cleaned).enumerate() {
            if n % 256 == 255 {
                checkpoint();
            }
            let word = m.as_str();
            match word {
                "<start_of_text>" => out.push(SOT_TOKEN),
                "<end_of_text>" => out.push(EOT_TOKEN),
                _ => self.bpe(word.as_bytes(), &mut out),
            }
        }
        out
    }

    /// `<start_of_text>` + ids + `<end_of_text>`, zero padded to 77. Longer inputs are cut to 77
    /// ids and the last one is set to `<end_of_text>` (open_clip's `tokenize`).
    pub fn tokenize(&self, text: &str) -> [i64; CONTEXT_LENGTH] {
        let ids = self.encode(text);
        let mut out = [0i64; CONTEXT_LENGTH];
        out[0] = SOT_TOKEN as i64;
        let n = ids.len().min(CONTEXT_LENGTH - 2);
        for (dst, &id) in out[1..=n].iter_mut().zip(&ids) {
            *dst = id as i64;
        }
        out[n + 1] = EOT_TOKEN as i64;
        out
    }

    /// Appends the BPE ids of one pre-token (its UTF-8 bytes) to `out`.
    fn bpe(&self, word: &[u8], out: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        let start = out.len();
        out.extend(word.iter().map(|&b| self.byte_ids[b as usize]));
        *out.last_mut().unwrap() += 256; // last symbol carries </w>
        if word.len() <= BPE_SIMPLE_MAX {
            self.bpe_merge_simple(out, start);
        } else {
            self.bpe_merge_heap(out, start);
        }
    }

    /// open_clip's algorithm verbatim: find the lowest-rank adjacent pair, merge all of its
    /// non-overlapping occurrences left to right, repeat. O(n^2), fine for short words.
    fn bpe_merge_simple(&self, out: &mut Vec<u32>, start: usize) {
        while out.len() - start > 1 {
            // the pair with the lowest rank (= lowest merged id)
            let mut best: Option<(u32, u32, u32)> = None;
            for w in out[start..].windows(2) {
                if let Some(&id) = self.merges.get(&(w[0], w[1])) {
                    if best.is_none_or(|(_, _, b)| id < b) {
                        best = Some((w[0], w[1], id));
                    }
                }
            }
            let Some((first, second, merged)) = best else {
                break;
            };
            let mut r = start;
            let mut w = start;
            let end = out.len();
            while r < end {
                if r + 1 < end && out[r] == first && out[r + 1] == second {
                    out[w] = merged;
                    r += 2;
                } else {
                    out[w] = out[r];
                    r += 1;
                }
                w += 1;
            }
            out.truncate(w);
        }
    }

    /// Same result in O(n log n) for long words (a pathological input must not stall a backend):
    /// a heap of candidate pairs ordered by (rank, position). A merge only creates pairs of
    /// strictly higher rank (a merge that uses token X comes after the merge creating X), so
    /// popping equal ranks left to right reproduces Python's left-to-right pass per rank.
    fn bpe_merge_heap(&self, out: &mut Vec<u32>, start: usize) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        const NONE: usize = usize::MAX;
        let mut sym: Vec<u32> = out[start..].to_vec();
        let n = sym.len();
        let mut next: Vec<usize> = (1..=n).map(|i| if i < n { i } else { NONE }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
        let mut alive = vec![true; n];
        let mut heap: BinaryHeap<Reverse<(u32, usize, u32, u32)>> = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, i: usize, a: u32, b: u32| {
            if let Some(&id) = self.merges.get(&(a, b)) {
                heap.push(Reverse((id, i, a, b)));
            }
        };
        for i in 0..n.saturating_sub(1) {
            push(&mut heap, i, sym[i], sym[i + 1]);
        }
        while let Some(Reverse((id, i, a, b))) = heap.pop() {
            let j = next[i];
            if !alive[i] || j == NONE || sym[i] != a || sym[j] != b {
                continue; // stale entry
            }
            sym[i] = id;
            alive[j] = false;
            let k = next[j];
            next[i] = k;
            if k != NONE {
                prev[k] = i;
                push(&mut heap, i, id, sym[k]);
            }
            if prev[i] != NONE {
                push(&mut heap, prev[i], sym[prev[i]], id);
            }
        }
        out.truncate(start);
        let mut i = 0;
        while i != NONE {
            out.push(sym[i]);
            i = next[i];
        }
    }
}

/// The process-wide tokenizer, built on first use.
/// Called between the passes of cleaning and every few hundred words of BPE, so that a huge text can be
/// cancelled. The extension installs a hook that services Postgres interrupts (and raises on cancel);
/// this module stays free of Postgres and, without a hook, never stops.
static CHECKPOINT: OnceLock<fn()> = OnceLock::new();

pub fn set_checkpoint(hook: fn()) {
    let _ = CHECKPOINT.set(hook);
}

#[inline]
pub(crate) fn checkpoint() {
    if let Some(hook) = CHECKPOINT.get() {
        hook();
    }
}

pub fn global() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(Tokenizer::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(ids: &[i64]) -> [i64; CONTEXT_LENGTH] {
        let mut out = [0i64; CONTEXT_LENGTH];
        out[..ids.len()].copy_from_slice(ids);
        out
    }

    #[test]
    fn empty_and_whitespace() {
        let t = global();
        assert_eq!(t.tokenize(""), padded(&[49406, 49407]));
        assert_eq!(t.tokenize(" \t\n\u{3000}\u{1c}"), padded(&[49406, 49407]));
        assert!(t.encode("").is_empty());
    }

    #[test]
    fn known_ids() {
        let t = global();
        assert_eq!(
            t.encode("a photo of a cat"),
            vec![320, 1125, 539, 320, 2368]
        );
        assert_eq!(
            t.tokenize("a photo of a cat"),
            padded(&[49406, 320, 1125, 539, 320, 2368, 49407])
        );
        assert_eq!(t.encode("Hi there"), vec![1883, 997]);
        assert_eq!(t.encode("hello world!!!"), vec![3306, 1002, 995]);
        assert_eq!(t.encode("i've seen it"), vec![328, 1200, 2041, 585]);
        assert_eq!(
            t.encode("A person riding a motorcycle"),
            vec![320, 2533, 6765, 320, 10297]
        );
        assert_eq!(
            t.encode("<start_of_text>Hi!<end_of_text>"),
            vec![49406, 1883, 0, 283, 806, 318, 539, 318, 4160, 285]
        );
    }

    #[test]
    fn truncation_keeps_end_token() {
        let t = global();
        let long = "cat ".repeat(200);
        let ids = t.tokenize(&long);
        assert_eq!(ids[0], 49406);
        assert_eq!(ids[CONTEXT_LENGTH - 1], 49407);
        assert!(ids[1..CONTEXT_LENGTH - 1].iter().all(|&x| x == 2368));
        // exactly 75 tokens fit without truncation, 76 are cut
        let ids75 = t.tokenize(&"cat ".repeat(75));
        assert_eq!(ids75[75], 2368);
        assert_eq!(ids75[76], 49407);
        let ids76 = t.tokenize(&"cat ".repeat(76));
        assert_eq!(ids76, ids75);
    }

    #[test]
    fn clean_is_the_cleaners_output() {
        // the cleaning itself is tested in clean.rs; this checks the public entry point
        let t = global();
        assert_eq!(t.clean("  A  Photo\tof\n\nA CAT  "), "a photo of a cat");
        assert_eq!(t.clean("&amp;lt;b&amp;gt;"), "<b>");
    }

    #[test]
    fn heap_bpe_matches_simple_bpe() {
        let t = global();
        // deterministic xorshift so the test needs no extra crate
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabets: [&[&str]; 4] = [
            &["a", "b", "e", "r", "s", "t", "n", "o", "i"],
            &["a", "aa", "b"],
            &["é", "ß", "ж", "猫", "😀", "ا"],
            &["x", "y", "z", "q", "k", "j", "ü"],
        ];
        for round in 0..3000 {
            let alpha = alphabets[round % alphabets.len()];
            let len = 1 + (rnd() % 120) as usize;
            let word: String = (0..len)
                .map(|_| alpha[(rnd() % alpha.len() as u64) as usize])
                .collect();
            let mut simple = Vec::new();
            let mut heap = Vec::new();
            for (v, heap_mode) in [(&mut simple, false), (&mut heap, true)] {
                v.extend(word.bytes().map(|b| t.byte_ids[b as usize]));
                *v.last_mut().unwrap() += 256;
                if heap_mode {
                    t.bpe_merge_heap(v, 0);
                } else {
                    t.bpe_merge_simple(v, 0);
                }
            }
            assert_eq!(simple, heap, "word {word:?}");
        }
    }

    #[test]
    fn long_words_are_fast() {
        let t = global();
        let word: String = (0..200_000u32)
            .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
            .collect();
        let start = std::time::Instant::now();
        let ids = t.encode(&word);
        assert!(!ids.is_empty());
        assert!(
            start.elapsed().as_secs_f64() < 5.0,
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn global_is_shared() {
        assert!(std::ptr::eq(global(), global()));
    }

    struct Row {
        text: String,
        ids: Vec<i64>,
    }

    fn parse_row(line: &str) -> Row {
        let v: serde_json::Value = serde_json::from_str(line).expect("golden row is JSON");
        Row {
            text: v["text"].as_str().expect("text").to_string(),
            ids: v["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|x| x.as_i64().expect("id"))
                .collect(),
        }
    }

    #[test]
    fn golden_parity_with_open_clip() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/golden/tokens.jsonl");
        let data = std::fs::read_to_string(path).expect("read tests/golden/tokens.jsonl");
        let t = global();
        let mut total = 0;
        let mut bad = Vec::new();
        for (lineno, line) in data.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row = parse_row(line);
            assert_eq!(row.ids.len(), CONTEXT_LENGTH);
            total += 1;
            let got = t.tokenize(&row.text);
            if got[..] != row.ids[..] {
                bad.push((lineno + 1, row, got));
            }
        }
        for (lineno, row, got) in bad.iter().take(15) {
            let n = |v: &[i64]| v.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
            eprintln!(
                "line {lineno}: text={:?}\n  cleaned={:?}\n  expected={:?}\n  got     ={:?}",
                row.text,
                t.clean(&row.text),
                &row.ids[..n(&row.ids)],
                &got[..n(got)]
            );
        }
        eprintln!("golden parity: {}/{} identical", total - bad.len(), total);
        assert!(total >= 2000, "golden file too small: {total}");
        assert!(
            bad.is_empty(),
            "{} of {} golden rows differ",
            bad.len(),
            total
        );
    }
}
