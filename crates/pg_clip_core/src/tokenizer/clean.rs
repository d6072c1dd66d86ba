//! Text cleaning of open_clip's `clean='lower'`: `whitespace_clean(basic_clean(text)).lower()`,
//! i.e. a port of `ftfy.fix_text` (ftfy 6.3.1, default config), Python's `html.unescape`, and
//! Python `str.split()` / `str.isspace()` / `str.lower()` / NFC with Python's Unicode version.
//! See the parent module's docs for what exactly is reproduced.

use std::collections::HashMap;

use regex::bytes::Regex as BytesRegex;
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::{checkpoint, tables};

/// ftfy's `max_decode_length`.
const FTFY_MAX_SEGMENT_CHARS: usize = 1_000_000;

/// Safety bound on ftfy's fixed-point loops (real text converges in 1-3 rounds).
const FTFY_MAX_ROUNDS: usize = 64;

pub(super) struct Cleaner {
    html_charref: Regex,
    ftfy_entity: Regex,
    ftfy_entities: HashMap<String, String>,
    ansi: Regex,
    badness: Regex,
    /// UTF8_DETECTOR_RE anchored at the start of the haystack
    utf8_detector: Regex,
    utf8_first: Regex,
    utf8_lookbehind: Regex,
    altered_utf8: BytesRegex,
    lossy_utf8: BytesRegex,
    /// ftfy.chardata.CHARMAP_ENCODINGS: decode tables for bytes 0x80..=0xFF and reverse maps
    charmaps: Vec<Charmap>,
    /// ftfy's WIDTH_MAP for U+FF01..=U+FFEF (index = cp - 0xFF01)
    width_map: Vec<Option<String>>,
}

struct Charmap {
    name: &'static str,
    sloppy: bool,
    high: Vec<char>,
    encode: HashMap<char, u8>,
}

impl Charmap {
    fn can_encode(&self, c: char) -> bool {
        match c as u32 {
            0x1A => !self.sloppy,
            0..=0x7F => true,
            _ => self.encode.contains_key(&c),
        }
    }
    fn encode_char(&self, c: char) -> u8 {
        match c as u32 {
            0x1A if !self.sloppy => 0x1A,
            x @ 0..=0x7F if x != 0x1A => x as u8,
            _ => self.encode[&c],
        }
    }
    fn decode_byte(&self, b: u8) -> char {
        match b {
            0x1A if self.sloppy => '\u{FFFD}',
            0..=0x7F => b as char,
            _ => self.high[b as usize - 0x80],
        }
    }
}

fn html5_lookup(name: &str) -> Option<&'static str> {
    tables::HTML5_ENTITIES
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| tables::HTML5_ENTITIES[i].1)
}

/// Python `str.isspace()`.
fn py_isspace(c: char) -> bool {
    matches!(c,
        '\t'..='\r' | '\u{1C}'..='\u{20}' | '\u{85}' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}'
        | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// Whether Python's `unicodedata` (the reference Python's Unicode version) has `c` unassigned
/// although newer Unicode (Rust's `std` / `unicode-normalization`) assigns it.
fn py_unassigned(c: char) -> bool {
    let cp = c as u32;
    if cp < tables::PY_UNASSIGNED[0].0 {
        return false;
    }
    tables::PY_UNASSIGNED
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// tables::PY_UNASSIGNED as the inside of a regex character class.
fn py_unassigned_class() -> String {
    tables::PY_UNASSIGNED
        .iter()
        .map(|&(lo, hi)| format!(r"\x{{{lo:x}}}-\x{{{hi:x}}}"))
        .collect()
}

/// Python `str.lower()`: full lowercase mappings (`İ` -> `i̇`) and CPython's final-sigma rule,
/// which is also Rust's. Characters unassigned in Python's Unicode version stay unchanged and
/// count as neither cased nor case-ignorable for the final-sigma context, as in CPython.
fn py_lower(s: &str) -> String {
    if !s.chars().any(py_unassigned) {
        return s.to_lowercase();
    }
    // Lowercase a copy in which those characters are replaced by '0' (neither cased nor
    // case-ignorable), then splice the originals back. Per-character lowercase lengths do not
    // depend on context (σ and ς are both 2 bytes), so offsets line up.
    let masked: String = s
        .chars()
        .map(|c| if py_unassigned(c) { '0' } else { c })
        .collect();
    let lowered = masked.to_lowercase();
    let mut out = String::with_capacity(lowered.len() + 16);
    let mut o = 0;
    for c in s.chars() {
        if py_unassigned(c) {
            out.push(c);
            o += 1;
        } else {
            let l: usize = c.to_lowercase().map(char::len_utf8).sum();
            out.push_str(&lowered[o..o + l]);
            o += l;
        }
    }
    out
}

/// `unicodedata.normalize("NFC", s)` with Python's Unicode version: characters Python does not
/// know are starters that never compose, so normalise the runs between them separately.
fn py_nfc(s: &str) -> String {
    if !s.chars().any(py_unassigned) {
        return s.nfc().collect();
    }
    let mut out = String::with_capacity(s.len());
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if py_unassigned(c) {
            out.extend(s[start..i].nfc());
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    out.extend(s[start..].nfc());
    out
}

impl Cleaner {
    pub(super) fn new() -> Cleaner {
        let charmaps: Vec<Charmap> = tables::CHARMAPS
            .iter()
            .map(|&(name, high)| {
                let high: Vec<char> = high.chars().collect();
                assert_eq!(high.len(), 128);
                let sloppy = name.starts_with("sloppy");
                let mut encode = HashMap::with_capacity(130);
                for (i, &c) in high.iter().enumerate() {
                    encode.insert(c, 0x80 + i as u8);
                }
                if sloppy {
                    encode.insert('\u{FFFD}', 0x1A);
                }
                Charmap {
                    name,
                    sloppy,
                    high,
                    encode,
                }
            })
            .collect();
        let width_map = (0xFF01u32..0xFFF0)
            .map(|cp| {
                let c = char::from_u32(cp).unwrap();
                let alt: String = std::iter::once(c).nfkc().collect();
                (alt != c.to_string()).then_some(alt)
            })
            .collect();
        let mut cleaner = Cleaner {
            html_charref: Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0C <&#;]{1,32};?)")
                .unwrap(),
            ftfy_entity: Regex::new(r"&#?[0-9A-Za-z]{1,24};").unwrap(),
            ftfy_entities: HashMap::new(),
            // Python `re` \d: decimal digits of Python's Unicode version
            ansi: Regex::new(&format!(
                r"\x1B\[(?:[\p{{Nd}}--[{}]]|;)*[a-zA-Z]",
                py_unassigned_class()
            ))
            .unwrap(),
            badness: Regex::new(tables::BADNESS_RE).expect("badness regex"),
            utf8_detector: Regex::new(&format!("^(?:{})", tables::UTF8_DETECTOR_RE))
                .expect("utf8 detector regex"),
            utf8_first: Regex::new(tables::UTF8_DETECTOR_FIRST).unwrap(),
            utf8_lookbehind: Regex::new(tables::UTF8_DETECTOR_LOOKBEHIND).unwrap(),
            altered_utf8: BytesRegex::new(
                r"(?-u)[\xc2\xc3\xc5\xce\xd0\xd9][ ]|[\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]|[\xf0][ ][\x80-\xbf][\x80-\xbf]|[\xf0][\x80-\xbf][ ][\x80-\xbf]|[\xf0][\x80-\xbf][\x80-\xbf][ ]",
            )
            .unwrap(),
            lossy_utf8: BytesRegex::new(
                r"(?-u)[\xc2-\xdf][\x1a]|[\xc2-\xc3][?]|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]|\x1a",
            )
            .unwrap(),
            charmaps,
            width_map,
        };
        // ftfy.chardata.HTML_ENTITIES: html5 names ending in ';', plus ALL-CAPS variants of the
        // all-lowercase names when Python's html.unescape does not already know the variant.
        let mut ents = HashMap::with_capacity(2200);
        for &(name, value) in tables::HTML5_ENTITIES {
            if !name.ends_with(';') {
                continue;
            }
            ents.insert(format!("&{name}"), value.to_string());
            if name == py_lower(name) {
                let upper = format!("&{}", name.to_uppercase());
                if cleaner.html_unescape(&upper) == upper {
                    ents.insert(upper, value.to_uppercase());
                }
            }
        }
        cleaner.ftfy_entities = ents;
        cleaner
    }

    /// open_clip `_clean_lower`.
    pub(super) fn clean_lower(&self, text: &str) -> String {
        let t = self.ftfy_fix_text(text);
        checkpoint();
        let t = self.html_unescape(&t);
        checkpoint();
        let t = self.html_unescape(&t);
        checkpoint();
        // basic_clean's .strip() is subsumed by " ".join(t.split())
        let mut joined = String::with_capacity(t.len());
        for word in t.split(py_isspace).filter(|w| !w.is_empty()) {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(word);
        }
        py_lower(&joined)
    }

    // ----- Python html.unescape ---------------------------------------------------------------

    fn html_unescape(&self, s: &str) -> String {
        if !s.contains('&') {
            return s.to_string();
        }
        self.html_charref
            .replace_all(s, |caps: &regex::Captures| replace_charref(&caps[1]))
            .into_owned()
    }

    // ----- ftfy.fix_text ----------------------------------------------------------------------

    fn ftfy_fix_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut unescape = true; // "auto" until a segment contains '<', then False for good
        let mut pos = 0;
        while pos < text.len() {
            let rest = &text[pos..];
            let mut end = rest.find('\n').map_or(rest.len(), |i| i + 1);
            if let Some((i, _)) = rest[..end].char_indices().nth(FTFY_MAX_SEGMENT_CHARS) {
                end = i;
            }
            let segment = &rest[..end];
            if unescape && segment.contains('<') {
                unescape = false;
            }
            out.push_str(&self.fix_segment(segment, unescape));
            pos += end;
            checkpoint();
        }
        out
    }

    /// ftfy.fix_and_explain with the default config.
    fn fix_segment(&self, text: &str, unescape: bool) -> String {
        let mut text = text.to_string();
        // ftfy loops until nothing changes and has no bound; the cap only matters for an input
        // on which Python would never return, and keeps a backend from spinning on one.
        for _ in 0..FTFY_MAX_ROUNDS {
            let orig = text.clone();
            if unescape {
                text = self.ftfy_unescape_html(&text);
            }
            // A checkpoint between steps: each is one linear pass over a segment of up to 1M chars.
            text = self.fix_encoding(&text);
            checkpoint();
            text = fix_c1_controls(&self.charmaps[1], &text);
            text = fix_latin_ligatures(&text);
            text = self.fix_character_width(&text);
            checkpoint();
            text = uncurl_quotes(&text);
            text = fix_line_breaks(&text);
            text = self.ansi.replace_all(&text, "").into_owned();
            checkpoint();
            text = remove_control_chars(&text);
            text = py_nfc(&text);
            checkpoint();
            if text == orig {
                return text;
            }
        }
        text
    }

    fn ftfy_unescape_html(&self, text: &str) -> String {
        if !text.contains('&') {
            return text.to_string();
        }
        self.ftfy_entity
            .replace_all(text, |caps: &regex::Captures| {
                let m = &caps[0];
                if let Some(v) = self.ftfy_entities.get(m) {
                    v.clone()
                } else if m.starts_with("&#") {
                    let u = self.html_unescape(m);
                    if u.contains(';') {
                        m.to_string()
                    } else {
                        u
                    }
                } else {
                    m.to_string()
                }
            })
            .into_owned()
    }

    fn fix_character_width(&self, text: &str) -> String {
        if !text
            .chars()
            .any(|c| c == '\u{3000}' || ('\u{FF01}'..='\u{FFEF}').contains(&c))
        {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c as u32 {
                0x3000 => out.push(' '),
                cp @ 0xFF01..=0xFFEF => match &self.width_map[(cp - 0xFF01) as usize] {
                    Some(s) => out.push_str(s),
                    None => out.push(c),
                },
                _ => out.push(c),
            }
        }
        out
    }

    fn is_bad(&self, text: &str) -> bool {
        self.badness.is_match(text)
    }

    /// ftfy.fix_encoding
    fn fix_encoding(&self, text: &str) -> String {
        let mut text = text.to_string();
        for _ in 0..FTFY_MAX_ROUNDS {
            let fixed = self.fix_encoding_one_step(&text);
            if fixed == text {
                break;
            }
            text = fixed;
        }
        text
    }

    fn fix_encoding_one_step(&self, text: &str) -> String {
        if text.is_empty() || text.is_ascii() || !self.is_bad(text) {
            return text.to_string();
        }
        let mut possible_latin1 = false;
        let mut possible_1252 = false;
        for cm in &self.charmaps {
            if !text.chars().all(|c| cm.can_encode(c)) {
                continue;
            }
            match cm.name {
                "latin-1" => possible_latin1 = true,
                "sloppy-windows-1252" => possible_1252 = true,
                _ => {}
            }
            let mut bytes: Vec<u8> = text.chars().map(|c| cm.encode_char(c)).collect();
            if cm.name != "macroman" && self.altered_utf8.is_match(&bytes) {
                bytes = self.restore_byte_a0(&bytes);
            }
            if cm.sloppy {
                bytes = self
                    .lossy_utf8
                    .replace_all(&bytes, "\u{FFFD}".as_bytes())
                    .into_owned();
            }
            let decoded = if bytes.contains(&0xED) || bytes.contains(&0xC0) {
                decode_utf8_variants(&bytes)
            } else {
                String::from_utf8(bytes).ok()
            };
            if let Some(fixed) = decoded {
                return fixed;
            }
        }
        if self.utf8_detector_find(text, 0).is_some() {
            let fixed = self.decode_inconsistent_utf8(text);
            if fixed != text {
                return fixed;
            }
        }
        if possible_latin1 {
            if possible_1252 {
                return text.to_string();
            }
            // text.encode("latin-1").decode("windows-1252") (strict)
            let mut fixed = String::with_capacity(text.len());
            let mut ok = true;
            for c in text.chars() {
                match c as u32 {
                    0x81 | 0x8D | 0x8F | 0x90 | 0x9D => {
                        ok = false;
                        break;
                    }
                    cp @ 0x80..=0x9F => fixed.push(self.charmaps[1].decode_byte(cp as u8)),
                    _ => fixed.push(c),
                }
            }
            if ok && fixed != text {
                return fixed;
            }
        }
        if text.chars().any(|c| ('\u{80}'..='\u{9F}').contains(&c)) {
            return fix_c1_controls(&self.charmaps[1], text);
        }
        text.to_string()
    }

    /// Next match of ftfy's UTF8_DETECTOR_RE at or after byte `from`, honouring its
    /// `(?<! [utf8_continuation_strict])` lookbehind. Candidate starts are checked against the
    /// lookbehind before matching, so rejected positions cost O(1) as in Python's engine.
    fn utf8_detector_find(&self, text: &str, mut from: usize) -> Option<(usize, usize)> {
        loop {
            let p = self.utf8_first.find_at(text, from)?.start();
            let lookbehind_ok = match text[..p].chars().next_back() {
                Some(prev) => !self.utf8_lookbehind.is_match(prev.encode_utf8(&mut [0; 4])),
                None => true,
            };
            if lookbehind_ok {
                if let Some(m) = self.utf8_detector.find(&text[p..]) {
                    return Some((p, p + m.end()));
                }
            }
            from = p + text[p..].chars().next().unwrap().len_utf8();
        }
    }

    fn decode_inconsistent_utf8(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut from = 0;
        while let Some((s, e)) = self.utf8_detector_find(text, from) {
            out.push_str(&text[last..s]);
            let sub = &text[s..e];
            if sub.len() < text.len() && self.is_bad(sub) {
                out.push_str(&self.fix_encoding(sub));
            } else {
                out.push_str(sub);
            }
            last = e;
            from = e;
            if from >= text.len() {
                break;
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// ftfy.fixes.restore_byte_a0
    fn restore_byte_a0(&self, b: &[u8]) -> Vec<u8> {
        // A_GRAVE_WORD_RE = b"\xc3 (?! |quele|quela|quilo|s )" -> b"\xc3\xa0 "
        let mut v = Vec::with_capacity(b.len() + 8);
        let mut i = 0;
        while i < b.len() {
            if b[i] == 0xC3 && i + 1 < b.len() && b[i + 1] == b' ' {
                let rest = &b[i + 2..];
                let blocked = [&b" "[..], b"quele", b"quela", b"quilo", b"s "]
                    .iter()
                    .any(|p| rest.starts_with(p));
                if !blocked {
                    v.extend_from_slice(b"\xc3\xa0 ");
                    i += 2;
                    continue;
                }
            }
            v.push(b[i]);
            i += 1;
        }
        self.altered_utf8
            .replace_all(&v, |caps: &regex::bytes::Captures| {
                caps[0]
                    .iter()
                    .map(|&x| if x == b' ' { 0xA0 } else { x })
                    .collect::<Vec<u8>>()
            })
            .into_owned()
    }
}

/// html._replace_charref (the part after '&').
fn replace_charref(s: &str) -> String {
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(h) => (h, 16),
            None => (num, 10),
        };
        let digits = digits.trim_end_matches(';');
        let mut n: u64 = 0;
        for d in digits.chars() {
            n = n
                .saturating_mul(radix)
                .saturating_add(d.to_digit(radix as u32).unwrap() as u64);
        }
        return match n {
            0 => "\u{FFFD}".to_string(),
            0x0D => "\r".to_string(),
            0x80..=0x9F => {
                // html._invalid_charrefs: the Windows-1252 reading (undefined bytes stay C1)
                let c = tables::CHARMAPS[1]
                    .1
                    .chars()
                    .nth(n as usize - 0x80)
                    .unwrap();
                c.to_string()
            }
            0xD800..=0xDFFF => "\u{FFFD}".to_string(),
            n if n > 0x10FFFF => "\u{FFFD}".to_string(),
            0x1..=0x8 | 0xB | 0xE..=0x1F | 0x7F | 0xFDD0..=0xFDEF => String::new(),
            n if n & 0xFFFE == 0xFFFE => String::new(),
            n => char::from_u32(n as u32).unwrap().to_string(),
        };
    }
    if let Some(v) = html5_lookup(s) {
        return v.to_string();
    }
    // longest prefix (of at least 2 characters) that is an entity name
    let idx: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    for x in (2..idx.len()).rev() {
        if let Some(v) = html5_lookup(&s[..idx[x]]) {
            return format!("{v}{}", &s[idx[x]..]);
        }
    }
    format!("&{s}")
}

/// ftfy.fixes.fix_c1_controls (C1 characters read as sloppy Windows-1252).
fn fix_c1_controls(cp1252: &Charmap, text: &str) -> String {
    if !text.chars().any(|c| ('\u{80}'..='\u{9F}').contains(&c)) {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c as u32 {
            cp @ 0x80..=0x9F => cp1252.decode_byte(cp as u8),
            _ => c,
        })
        .collect()
}

fn fix_latin_ligatures(text: &str) -> String {
    let lig = |c: char| -> Option<&'static str> {
        Some(match c {
            'Ĳ' => "IJ",
            'ĳ' => "ij",
            'ŉ' => "ʼn",
            'Ǳ' => "DZ",
            'ǲ' => "Dz",
            'ǳ' => "dz",
            'Ǆ' => "DŽ",
            'ǅ' => "Dž",
            'ǆ' => "dž",
            'Ǉ' => "LJ",
            'ǈ' => "Lj",
            'ǉ' => "lj",
            'Ǌ' => "NJ",
            'ǋ' => "Nj",
            'ǌ' => "nj",
            'ﬀ' => "ff",
            'ﬁ' => "fi",
            'ﬂ' => "fl",
            'ﬃ' => "ffi",
            'ﬄ' => "ffl",
            'ﬅ' => "ſt",
            'ﬆ' => "st",
            _ => return None,
        })
    };
    if !text.chars().any(|c| lig(c).is_some()) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match lig(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    out
}

fn uncurl_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2BC}' | '\u{2018}'..='\u{201B}' => '\'',
            '\u{201C}'..='\u{201F}' => '"',
            _ => c,
        })
        .collect()
}

fn fix_line_breaks(text: &str) -> String {
    if !text.contains(['\r', '\u{2028}', '\u{2029}', '\u{85}']) {
        return text.to_string();
    }
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

fn remove_control_chars(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !matches!(c as u32,
                0x00..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFC)
        })
        .collect()
}

/// Decoding with ftfy's "utf-8-variants" codec: UTF-8 plus CESU-8 surrogate pairs and the
/// Java-style NUL (C0 80). `None` where Python raises UnicodeDecodeError.
fn decode_utf8_variants(b: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.len() >= 2 && rest[0] == 0xC0 && rest[1] == 0x80 {
            out.push('\0');
            i += 2;
            continue;
        }
        if rest.len() >= 6
            && rest[0] == 0xED
            && (0xA0..=0xAF).contains(&rest[1])
            && (0x80..=0xBF).contains(&rest[2])
            && rest[3] == 0xED
            && (0xB0..=0xBF).contains(&rest[4])
            && (0x80..=0xBF).contains(&rest[5])
        {
            let cp = (((rest[1] & 0x0F) as u32) << 16)
                + (((rest[2] & 0x3F) as u32) << 10)
                + (((rest[4] & 0x0F) as u32) << 6)
                + ((rest[5] & 0x3F) as u32)
                + 0x10000;
            out.push(char::from_u32(cp)?);
            i += 6;
            continue;
        }
        let len = match rest[0] {
            0x00..=0x7F => 1,
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        let s = std::str::from_utf8(rest.get(..len)?).ok()?;
        out.push_str(s);
        i += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_matches_python() {
        let c = Cleaner::new();
        assert_eq!(
            c.clean_lower("  A  Photo\tof\n\nA CAT  "),
            "a photo of a cat"
        );
        assert_eq!(c.clean_lower("&amp;lt;b&amp;gt;"), "<b>");
        assert_eq!(
            c.clean_lower("&copy 2024 &notit; &#128; &#x9f;"),
            "© 2024 ¬it; € ÿ"
        );
        assert_eq!(c.clean_lower("ΟΔΥΣΣΕΥΣ"), "οδυσσευς");
        assert_eq!(c.clean_lower("İ"), "i\u{307}");
        assert_eq!(c.clean_lower("ＬＯＵＤ　ＮＯＩＳＥＳ"), "loud noises");
        assert_eq!(c.clean_lower("“curly” it’s ﬁne"), "\"curly\" it's fine");
        assert_eq!(c.clean_lower("cafe\u{301}"), "café");
        assert_eq!(c.clean_lower("\u{1b}[36;44mblue\u{1b}[0m"), "blue");
        assert_eq!(c.clean_lower("âœ” No problems"), "✔ no problems");
        assert_eq!(
            c.clean_lower("The Mona Lisa doesnâ€™t have eyebrows."),
            "the mona lisa doesn't have eyebrows."
        );
        assert_eq!(c.clean_lower("a\u{1c}b"), "ab"); // ftfy removes U+001C
    }
}
