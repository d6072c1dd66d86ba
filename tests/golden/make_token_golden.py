#!/usr/bin/env python3
"""Generate tests/golden/tokens.jsonl: golden token ids from open_clip.

Each output line is one JSON object {"text": str, "ids": [77 ints]} where
"ids" is ``open_clip.tokenize([text])[0]`` (open_clip's SimpleTokenizer with
the default ``clean='lower'`` used by ViT-B-32, context length 77).

The strings are deterministic: hand-written edge cases plus families of
generated strings drawn from a seeded ``random.Random``. Re-running the script
with the same package versions produces a byte-identical file. Versions are
written to tests/golden/tokens.meta.json.

Usage (needs open_clip_torch, ftfy, regex, torch):
    python tests/golden/make_token_golden.py [--out-dir tests/golden]

The same script also regenerates crates/pg_clip_core/src/tokenizer/tables.rs, the data tables of the
Rust tokenizer (Python's HTML5 entity table, ftfy's single-byte codecs and
mojibake regexes, the `regex` module's letter and number sets, the code points
Python's unicodedata lacks); it rewrites that whole file (needs ftfy, regex):
    python tests/golden/make_token_golden.py --rust-tables [crates/pg_clip_core/src/tokenizer/tables.rs]
"""
import argparse
import hashlib
import html.entities
import json
import os
import platform
import random
import re
import sys
import unicodedata

SEED = 20240607
CONTEXT_LENGTH = 77

# --------------------------------------------------------------------------
# Vocabulary for generated strings
# --------------------------------------------------------------------------

SUBJECTS = [
    "a cat", "a dog", "two dogs", "a man", "a woman", "a child", "an old man",
    "a group of people", "a red car", "a bicycle", "a horse", "a bird",
    "the Eiffel Tower", "a pizza", "a bowl of soup", "a laptop", "an airplane",
    "a giraffe", "three elephants", "a skateboarder", "a surfer", "a train",
    "a yellow taxi", "a teddy bear", "a pair of scissors", "a clock tower",
    "a plate of sushi", "a golden retriever", "an astronaut", "a robot",
    "a sailboat", "a snowboarder", "a baseball player", "a chef", "a zebra",
]
VERBS = [
    "sitting on", "standing next to", "riding", "eating", "holding",
    "looking at", "jumping over", "lying on", "walking along", "flying over",
    "parked in front of", "playing with", "sleeping under", "running through",
    "hiding behind", "painted on", "reflected in",
]
OBJECTS = [
    "a wooden bench", "the beach", "a busy street", "a snowy mountain",
    "a kitchen table", "a green field", "the ocean", "a brick wall",
    "a city skyline at night", "a frisbee", "a red umbrella", "a couch",
    "the moon", "a pile of books", "a lake", "a crowded market",
    "a birthday cake", "an old barn", "a neon sign", "a glass window",
]
ADJECTIVES = [
    "beautiful", "blurry", "vintage", "high-resolution", "black and white",
    "close-up", "aerial", "minimalist", "colorful", "dark", "cinematic",
    "watercolor", "pixel-art", "8k", "HDR", "low-poly", "isometric",
]
TEMPLATES = [
    "{adj} photo of {subj} {verb} {obj}",
    "A {adj} picture of {subj} {verb} {obj}.",
    "{subj} {verb} {obj}",
    "{Subj} {verb} {obj}!",
    "a photo of {subj}",
    "an image of {subj}, {adj}",
    "This is {subj} {verb} {obj}; it's {adj}.",
    "{SUBJ} {VERB} {OBJ}",
    "{subj}   {verb}\t{obj}\n",
    "  {adj}  {subj}  ",
    "{subj} ({adj}) {verb} {obj} -- #{tag} @{user}",
    "\"{subj}\" {verb} '{obj}'",
]
TAGS = ["photography", "nature", "CatsOfInstagram", "travel", "NoFilter", "art", "2024"]
USERS = ["john_doe", "Alice99", "photo.bot", "x"]

CONTRACTIONS = [
    "it's", "don't", "we're", "they've", "I'm", "we'll", "she'd", "IT'S",
    "DON'T", "We'Re", "You'VE", "I'M", "They'LL", "He'D", "o'clock", "rock'n'roll",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''s", "'''", "cats'",
    "y'all'd've", "isn't'nt", "'S'T'RE",
]

MULTILINGUAL = [
    # CJK
    "一只猫坐在桌子上", "猫が机の上に座っている", "고양이가 책상 위에 앉아 있다",
    "東京タワーの夜景", "北京烤鸭和啤酒", "ひらがなとカタカナ", "漢字かな交じり文",
    "中文，标点。符号！", "「括弧」『二重括弧』【隅付き】",
    # Arabic / Hebrew / Persian
    "قطة تجلس على الطاولة", "مرحبا بالعالم", "القاهرة ٢٠٢٤", "שלום עולם",
    "חתול יושב על השולחן", "سلام دنیا", "كتابٌ جميلٌ",
    # Cyrillic / Greek
    "Кошка сидит на столе", "ПРИВЕТ МИР", "Москва — столица России", "Ёжик в тумане",
    "Γάτα κάθεται στο τραπέζι", "ΟΔΥΣΣΕΥΣ", "ΣΊΣΥΦΟΣ", "Ὀδυσσεύς", "λόγος ΛΌΓΟΣ",
    # Indic / SE Asian
    "बिल्ली मेज पर बैठी है", "नमस्ते दुनिया", "வணக்கம் உலகம்", "สวัสดีชาวโลก",
    "ສະບາຍດີ", "မင်္ဂလာပါ", "ជំរាបសួរ", "Xin chào thế giới", "Tiếng Việt có dấu",
    # Latin with diacritics
    "Crème brûlée à la française", "Ærøskøbing", "Straße STRASSE", "İstanbul ILIK ılık",
    "Łódź Gdańsk Kraków", "Þingvellir", "Ñandú", "façade naïve coöperate",
    "Donaudampfschifffahrtsgesellschaftskapitänsmütze",
    # other scripts
    "Բարեւ աշխարհ", "გამარჯობა მსოფლიო", "ሰላም ልዑል", "ᐊᐃᑦ", "ꯃꯤꯇꯩ", "𐌰𐌱𐌲",
]

EMOJI = [
    "😀", "🐱", "❤️", "👍🏽", "👋🏿", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🏴‍☠️", "🇺🇸", "🇯🇵🇰🇷",
    "🏴󠁧󠁢󠁷󠁬󠁳󠁿", "1️⃣", "#️⃣", "🧑🏻‍🤝‍🧑🏾", "👁️‍🗨️", "🐈‍⬛", "☕", "✨✨✨", "🔥",
    "😂😂😂", "🙏🏼", "🤷‍♀️", "🧔🏽‍♂️", "💇🏻‍♀️", "🫶🏾", "🫠", "©️", "™", "®",
]

PUNCT = [
    "!!!", "???", "?!?!", "...", "…", "—", "–", "--", "***", "~~~", "<<>>", "(((", ")))",
    "[]", "{}", "\\", "//", "||", "@@", "##", "$$$", "%%", "^^", "&&", "__", "++", "==",
    ";;", "::", ",,", "``", "\"\"", "''", "«»", "„“", "‘’", "¿¡", "·•◦", "★☆", "→←↑↓",
    "±×÷", "°C", "№", "§¶", "©®™", "<start_of_text>", "<end_of_text>",
]

URLS = [
    "https://example.com/path/to/image.jpg?size=large&id=42#frag",
    "http://www.Google.com", "www.example.org/index.html", "ftp://files.example.net/a_b-c.tar.gz",
    "user.name+tag@example.co.uk", "https://t.co/AbC123xYz", "C:\\Users\\Admin\\Pictures\\cat.png",
    "/usr/local/bin/python3.11", "file:///tmp/x%20y.txt", "https://日本.jp/パス?q=猫",
    "mailto:someone@example.com?subject=Hi%20there",
]

NUMBERS = [
    "0", "42", "3.14159", "1,000,000", "-273.15", "1e10", "0x1F", "2024-06-07", "12:30:45",
    "$19.99", "€5,50", "¥1000", "50%", "1/2", "½ ¾ ⅓", "²³¹", "①②③", "Ⅻ ⅻ", "٠١٢٣٤٥٦٧٨٩",
    "१२३", "一二三", "123456789012345678901234567890", "+1 (555) 123-4567", "v1.2.3-beta.4",
    "10^6", "3×4=12", "𝟘𝟙𝟚", "９８７", "1st 2nd 3rd 4th",
]

ENTITY_NAMES = sorted(html.entities.html5.keys())


# --------------------------------------------------------------------------
# Hand-written edge cases
# --------------------------------------------------------------------------

def edge_cases():
    long_caption = " ".join(["a photo of a very fluffy orange cat sitting on a windowsill"] * 12)
    cases = [
        "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r\f\v ", "\u00a0", "\u3000", "\u2028\u2029",
        "\x1c\x1d\x1e\x1f", "a\x1cb\x1dc", "\x85", "a\x85b", "\u200b", "a\u200bb", "\ufeffhello",
        "\u180e", "a\u2003b\u2009c\u202fd", "\u0000", "a\u0000b", "\x7f", "\u206a\u206f", "\ufff9\ufffc",
        "a photo of a cat", "A photo of a cat.", "A PHOTO OF A CAT", "a photo of a dog",
        "Hi there", "hello world!!!", "i've seen it", "Hello Båstad",
        "A person riding a motorcycle", "donaudampfschifffahrtsgesellschaftskapitänsmütze",
        "<start_of_text>Hi<start_of_text>instant labs<end_of_text>",
        "<start_of_text>Hi!<end_of_text>", "<START_OF_TEXT>", "<ſtart_of_text>x", "'ſ 'S 'ſt",
        "<end_of_text><end_of_text>", "<start_of_text", "start_of_text>",
        long_caption, "a " * 100, "a" * 300, "supercalifragilisticexpialidocious " * 10,
        "😀" * 80, "!" * 500, "1" * 100, "猫" * 100, " ".join(["x"] * 76), " ".join(["x"] * 75),
        " ".join(["x"] * 74),
        # lowercase specials
        "İ", "İstanbul", "I\u0307", "ΣΑΣ", "ΌΣΟΣ Σ", "ΑΣ.", "Σ", "aΣ", "ΑΣ\u0345", "ΑΣ'Σ", "ΣΣ ΣΣΣ",
        "ẞ", "ß", "ǅ ǈ ǋ ǲ", "ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ", "Ĳ ĳ ŉ", "K Å Ω", "ΐ ΰ", "ᾼ ῼ ᾈ", "ﬓ ﬔ",
        "\u0345", "a\u0345b", "x\u0345", "Ⅰ Ⅱ Ⅲ ⅰ", "Ⓐ ⓐ 🅐", "𝐀𝐁𝐂 𝒜", "ℌ ℍ ℕ", "ǰ", "ŉ",
        # width / quotes / ligatures
        "ＬＯＵＤ　ＮＯＩＳＥＳ", "Ｕﾀｰﾝ", "ｶﾞｷﾞ", "ﾊﾟﾝ", "“curly” ‘quotes’ ‛x‟ ʼn",
        "‹single› «double»", "it’s a cat’s toy", "don’t won’t can’t",
        # control / terminal escapes
        "\x1b[36;44mI'm blue\x1b[0m", "\x1b[\u0661\u0662mArabic-Indic digits", "\x1b[\U00011f50mKawi digit (Unicode 15)", "\x1b[1mbold\x1b[22m", "\x1b]0;title\x07", "a\x08b", "tab\tsep\tvalues",
        "line1\nline2\nline3", "line1\r\nline2\rline3", "trailing space   ", "   leading space",
        "multiple     spaces", "\n\n\nnewlines\n\n\n",
        # combining
        "e\u0301", "cafe\u0301", "A\u030a", "n\u0303", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "\u0301abc", "a\u0300\u0301\u0302\u0303",
        "한\u1100\u1161", "\u1100\u1161\u11a8", "\u0915\u094d\u0937", "ก\u0e31\u0e49",
        # entities
        "&amp;", "&amp", "&AMP;", "&lt;b&gt;bold&lt;/b&gt;", "&amp;lt;", "&amp;amp;lt;", "&amp;amp;amp;",
        "&#39;", "&#x27;", "&#X27;", "&#128;", "&#x80;", "&#150;", "&#x9f;", "&#0;", "&#x0;", "&#13;",
        "&#xD800;", "&#x110000;", "&#1114111;", "&#99999999999999999999;", "&#65", "&#x41", "&#x41g",
        "&notit;", "&notin;", "&noti", "this&not that", "&copy 2024", "&copy2024", "&eacute;", "&EACUTE;",
        "P&EACUTE;REZ", "BUNDESSTRA&SZLIG;E", "&ntilde; &Ntilde; &NTILDE; &nTILDE;", "&Jscr;ohn &HilbertSpace;ancock",
        "&checkmark;", "&hellip;", "Broken text&hellip; it&#x2019;s ﬂubberiﬁc!", "&macr;\\_(ã\x83\x84)_/&macr;",
        "&nbsp;&nbsp;", "a&nbsp;b", "&NotNestedGreaterGreater;", "&acE;", "&fjlig;", "&ThickSpace;",
        "&unknownentity;", "&;", "&#;", "&#x;", "& amp;", "&&amp;&", "<b>&amp;</b>", "<&amp;>",
        "x < y &amp; y > z", "a&amp;b\n<p>&amp;</p>\n&amp;", "&lt;&lt;\n&gt;", "&ltxyz", "&gtgt;",
        "&AElig &AElig; &aelig", "&amp;#39;", "&#38;#39;", "&#x26;amp;", "&#12ab;", "&#abc;",
        "&#x1F600;", "&#128512;", "&#x0001F600;", "&#000065;", "&LT;&GT;", "&Tab;&NewLine;",
        # mojibake (ftfy fix_encoding)
        "âœ” No problems", "sÃ³", "voilÃ le travail", "Ã©tÃ©", "cafÃ©", "The Mona Lisa doesnâ€™t have eyebrows.",
        "â€œquotedâ€\x9d", "â€œ like this â€�", "Ã¢â‚¬Å“doubleÃ¢â‚¬\x9d", "Ð¼Ð¾Ñ€Ð¾Ð¶ÐµÐ½Ð¾Ðµ",
        "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "í•œêµ\xadì–´", "æ—¥æœ¬èªž", "Ã¼ber", "Ã\xa0 la", "Ã la carte", "Ã  la",
        "ÃƒÂ©", "I'm Â£5 short", "Â¡Hola!", "\x80\x81\x82\x83", "price: \x80100", "dash \x96 here",
        "Ã\x81rvore", "Ä\x8d", "Ä‡", "Å¡koda", "Ã‡a va", "Iâ€™m", "â€“", "â€”", "â€¦", "Ã—Ã·",
        "Ð\xa0Ð¾ÑÑÐ¸Ñ", "ÐÐ¾ÑÑÐ¸Ñ", "ÃÂ", "â\x80\x9c", "\xe2\x80\x9c", "ð\x9f\x98\x80", "ðŸ˜€",
        "ðŸ‘\x8d", "Ã¥", "Ã…", "Ã˜", "Ã¸", "Ã¦", "Ã†", "l'Ã©tÃ© dernier", "Ã¢â‚¬Å“", "Ã\xadndice",
        "íŒŒì\x9dŒ", "Ã¨", "Ã\x89tÃ\xa9", "\xc3\xa9", "Ã©\nÃ©\n<b>Ã©</b>", "â™¥", "Ã¦Ã¸Ã¥",
        "wÄ…sy", "ÄŒeskÃ½", "Å¼Ã³Å‚w", "Ã–sterreich", "â€žZitatâ€œ", "Â½ Â¼", "Â°C", "Â©2024",
        "├┤╗", "│┌┐┘├┤┬┼", "ÂÃÎÐ", "×²", "à²", "√±", "≈°", "вЂ™", "ГўВЂВ™a", "β€™", "ā€",
        "ÃƒÆ’Ã‚Â©", "Ã\x83Â©", "CÃ´te d'Ivoire", "SÃ£o Paulo", "MÃ¼nchen", "ZÃ¼rich",
        "Ãºnico", "seÃ±or", "aÃ±o", "Ã±", "naÃ¯ve", "Ã\xa0", "Ã\x80", "Ã\x9f",
        "Ã\x83\x1a", "Ã\x1a", "Ã?", "â€\x1a", "\x1a", "a\x1ab",
        # surrounding strip/split
        "\u00a0\u00a0a\u00a0\u00a0", "\u2003a\u2003", "a\u00a0\u00a0b", "\u200ba\u200b",
    ]
    return cases


# --------------------------------------------------------------------------
# Generated families
# --------------------------------------------------------------------------

def gen_captions(rng, n):
    out = []
    for _ in range(n):
        t = rng.choice(TEMPLATES)
        subj, verb, obj, adj = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(ADJECTIVES)
        s = t.format(
            subj=subj, Subj=subj[:1].upper() + subj[1:], SUBJ=subj.upper(), verb=verb, VERB=verb.upper(),
            obj=obj, OBJ=obj.upper(), adj=adj, tag=rng.choice(TAGS), user=rng.choice(USERS),
        )
        r = rng.random()
        if r < 0.15:
            s = "".join(c.upper() if rng.random() < 0.5 else c for c in s)  # random mixed case
        elif r < 0.25:
            s = s.replace(" ", rng.choice(["\t", "\n", "  ", " \t ", "\r\n", "\u00a0", "\u3000"]))
        out.append(s)
    return out


def gen_contractions(rng, n):
    out = []
    for _ in range(n):
        words = [rng.choice(CONTRACTIONS) for _ in range(rng.randint(1, 6))]
        words += [rng.choice(SUBJECTS) for _ in range(rng.randint(0, 2))]
        rng.shuffle(words)
        s = rng.choice([" ", "", "  ", "\t", "'"]).join(words)
        if rng.random() < 0.3:
            s = s.replace("'", rng.choice(["\u2019", "\u2018", "\u02bc", "`", "\u201b"]))
        out.append(s)
    return out


def gen_multilingual(rng, n):
    out = []
    for _ in range(n):
        parts = [rng.choice(MULTILINGUAL) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.5:
            parts.insert(rng.randint(0, len(parts)), rng.choice(SUBJECTS))
        if rng.random() < 0.3:
            parts.append(rng.choice(EMOJI))
        s = rng.choice([" ", "", ", ", " - ", "\n"]).join(parts)
        if rng.random() < 0.2:
            s = s.upper()
        if rng.random() < 0.15:
            s = unicodedata.normalize(rng.choice(["NFD", "NFKD", "NFKC"]), s)
        out.append(s)
    return out


def gen_emoji(rng, n):
    out = []
    skin = ["", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
    people = ["\U0001F469", "\U0001F468", "\U0001F9D1", "\U0001F466", "\U0001F467", "\U0001F44B", "\U0001F44D"]
    zwj_tail = ["\U0001F4BB", "\U0001F52C", "\U0001F680", "\u2695\ufe0f", "\U0001F33E", "\U0001F373", "\u2764\ufe0f"]
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 5)):
            r = rng.random()
            if r < 0.3:
                parts.append(rng.choice(EMOJI))
            elif r < 0.6:
                parts.append(rng.choice(people) + rng.choice(skin))
            elif r < 0.85:
                parts.append(rng.choice(people) + rng.choice(skin) + "\u200d" + rng.choice(zwj_tail))
            else:
                parts.append(chr(rng.randint(0x1F300, 0x1FAFF)))
        s = rng.choice(["", " ", "!"]).join(parts)
        if rng.random() < 0.5:
            s = rng.choice(SUBJECTS) + " " + s
        out.append(s)
    return out


def gen_combining(rng, n):
    out = []
    marks = [chr(c) for c in range(0x300, 0x370) if c != 0x345] + ["\u0345", "\u20d7", "\u1ab0", "\u0e31", "\u093c"]
    for _ in range(n):
        base = rng.choice(["cafe", "naive", "resume", "Zalgo text", "AEIOU", "a cat", "Ελλάδα", "Москва", "ﬁsh"])
        s = "".join(c + "".join(rng.choice(marks) for _ in range(rng.randint(0, 3)) if rng.random() < 0.5) for c in base)
        out.append(s)
    return out


def gen_punct_numbers_urls(rng, n):
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 6)):
            pool = rng.choice([PUNCT, NUMBERS, URLS, SUBJECTS])
            parts.append(rng.choice(pool))
        out.append(rng.choice([" ", "", "-", "/", "_"]).join(parts))
    return out


def gen_entities(rng, n):
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.45:
                name = rng.choice(ENTITY_NAMES)
                if rng.random() < 0.2:
                    name = name.rstrip(";")
                if rng.random() < 0.15:
                    name = name.upper()
                parts.append("&" + name)
            elif r < 0.65:
                parts.append("&#%d%s" % (rng.choice([rng.randint(0, 300), rng.randint(0, 0x10FFFF), rng.randint(0xD7F0, 0xE010)]), rng.choice([";", ";", ""])))
            elif r < 0.8:
                parts.append("&#%s%x%s" % (rng.choice("xX"), rng.choice([rng.randint(0x80, 0x9F), rng.randint(0, 0x2FFFF), 0xFFFE]), rng.choice([";", ";", ""])))
            elif r < 0.9:
                parts.append("&amp;" + rng.choice(["lt;", "gt;", "amp;", "quot;", "#39;", "nbsp;", "eacute;"]))
            else:
                parts.append(rng.choice(["<b>", "</i>", "<", ">", "&", ";", "&&"]))
            if rng.random() < 0.6:
                parts.append(rng.choice(["a", "cat", " ", "x", "1", "é", ""]))
        out.append("".join(parts))
    return out


def _mojibake(s, rng):
    enc = rng.choice(["latin-1", "cp1252", "cp1252", "cp1251", "cp1250", "cp1253", "cp1254", "cp1257", "iso-8859-2", "mac-roman", "cp437"])
    b = s.encode("utf-8")
    try:
        return b.decode(enc)
    except UnicodeDecodeError:
        return b.decode(enc, errors="replace")


def gen_mojibake(rng, n):
    src = ["café", "naïve résumé", "Crème brûlée", "über Straße", "“quoted” text", "it’s", "— dash",
           "Кошка", "日本語", "😀 emoji", "señor año", "Ærø", "€100", "ÀÉÎÕÜ", "Łódź", "Ελλάδα", "…"]
    out = []
    for _ in range(n):
        s = rng.choice(src)
        m = _mojibake(s, rng)
        if rng.random() < 0.3:
            m = _mojibake(m, rng) if all(ord(c) < 0x10000 for c in m) else m
        if rng.random() < 0.5:
            m = rng.choice(SUBJECTS) + " " + m + " " + rng.choice(OBJECTS)
        out.append(m)
    return out


_ASSIGNED = None


def _assigned_chars():
    global _ASSIGNED
    if _ASSIGNED is None:
        _ASSIGNED = [
            c for c in range(0x20, 0x30000)
            if not (0xD800 <= c < 0xE000) and unicodedata.category(chr(c)) not in ("Cn", "Co", "Cs")
        ]
    return _ASSIGNED


def gen_unicode_soup(rng, n):
    """Random code points assigned in Python's Unicode database (incl. BMP+SMP+SIP)."""
    chars = _assigned_chars()
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        s = "".join(chr(rng.choice(chars)) if rng.random() < 0.7 else rng.choice(" abcXYZ019'&;#") for _ in range(k))
        out.append(s)
    return out


_NEW_CHARS = None


def _new_chars():
    """Code points the `regex` module knows as assigned but Python's unicodedata does not
    (assigned after the Python's Unicode version), plus all code points whose lowercase
    mapping differs between the two."""
    global _NEW_CHARS
    if _NEW_CHARS is None:
        import regex as pyregex
        assigned = pyregex.compile(r"\p{Assigned}")
        cwl = pyregex.compile(r"\p{Changes_When_Lowercased}")
        _NEW_CHARS = [
            c for c in range(0x110000)
            if not (0xD800 <= c < 0xE000)
            and ((unicodedata.category(chr(c)) == "Cn" and assigned.match(chr(c)))
                 or (cwl.match(chr(c)) and chr(c).lower() == chr(c)))
        ]
    return _NEW_CHARS


def gen_unicode_versions(rng, n):
    """Characters assigned after the reference Python's Unicode version, mixed with old ones."""
    new = _new_chars()
    old = _assigned_chars()
    out = []
    for _ in range(n):
        k = rng.randint(1, 16)
        s = "".join(
            chr(rng.choice(new)) if rng.random() < 0.5
            else (chr(rng.choice(old)) if rng.random() < 0.5 else rng.choice(" aZ9'\u0301\u03a3"))
            for _ in range(k)
        )
        out.append(s)
    return out


def gen_long(rng, n):
    out = []
    for _ in range(n):
        k = rng.randint(20, 80)
        words = [rng.choice(SUBJECTS + VERBS + OBJECTS + ADJECTIVES + MULTILINGUAL[:10] + EMOJI[:10]) for _ in range(k)]
        out.append(" ".join(words))
    return out


def gen_whitespace(rng, n):
    ws = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u00a0", "\u1680",
          "\u2000", "\u2005", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff", "\u180e"]
    out = []
    for _ in range(n):
        s = "".join(rng.choice(ws) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.6:
            s = s + rng.choice(["a", "cat", "A B", "x.y"]) + "".join(rng.choice(ws) for _ in range(rng.randint(0, 4)))
        out.append(s)
    return out


def all_texts():
    rng = random.Random(SEED)
    texts = list(edge_cases())
    texts += gen_captions(rng, 500)
    texts += gen_contractions(rng, 150)
    texts += gen_multilingual(rng, 250)
    texts += gen_emoji(rng, 150)
    texts += gen_combining(rng, 100)
    texts += gen_punct_numbers_urls(rng, 200)
    texts += gen_entities(rng, 300)
    texts += gen_mojibake(rng, 150)
    texts += gen_unicode_soup(rng, 250)
    texts += gen_long(rng, 80)
    texts += gen_whitespace(rng, 80)
    texts += gen_unicode_versions(rng, 150)
    # de-duplicate, keeping first occurrence (stable order)
    seen = set()
    uniq = []
    for t in texts:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq


# --------------------------------------------------------------------------
# Rust tables: crates/pg_clip_core/src/tokenizer/tables.rs (python make_token_golden.py --rust-tables)
# --------------------------------------------------------------------------

def _rust_char(cp):
    return "\\u{%x}" % cp


def _rust_str(s):
    return '"' + "".join(
        c if (0x20 <= ord(c) < 0x7F and c not in '"\\') else _rust_char(ord(c)) for c in s
    ) + '"'


def _rust_raw(s):
    assert all(0x20 <= ord(c) < 0x7F for c in s) and '"#' not in s
    return 'r#"' + s + '"#'


def _py_class_items(pat, i):
    """Parse a Python `re` character class starting after '[' at pat[i].

    Returns (negated, [(lo, hi), ...], [special escapes], index after ']').
    """
    negated = False
    if pat[i] == "^":
        negated = True
        i += 1
    items, specials = [], []
    first = True

    def read_atom(i):
        c = pat[i]
        if c == "\\":
            e = pat[i + 1]
            if e == "x":
                return int(pat[i + 2:i + 4], 16), i + 4
            if e == "u":
                return int(pat[i + 2:i + 6], 16), i + 6
            if e in "sSwWdD":
                return ("special", e), i + 2
            if e == "n":
                return 10, i + 2
            if e == "t":
                return 9, i + 2
            return ord(e), i + 2
        return ord(c), i + 1

    while True:
        if pat[i] == "]" and not first:
            return negated, items, specials, i + 1
        first = False
        a, i = read_atom(i)
        if isinstance(a, tuple):
            specials.append(a[1])
            continue
        if pat[i] == "-" and pat[i + 1] != "]":
            b, i = read_atom(i + 1)
            assert not isinstance(b, tuple)
            items.append((a, b))
        else:
            items.append((a, a))


def _rust_class(negated, items, specials):
    out = "[^" if negated else "["
    for lo, hi in items:
        out += "\\x{%x}" % lo if lo == hi else "\\x{%x}-\\x{%x}" % (lo, hi)
    for s in specials:
        out += {"s": PY_RE_SPACE, "w": "\\p{L}\\p{N}_", "d": "\\p{Nd}"}[s]
    return out + "]"


# Python `re` (str pattern) \s == str.isspace()
PY_RE_SPACE = "".join("\\x{%x}" % c for c in range(0x110000) if not (0xD800 <= c < 0xE000) and chr(c).isspace())


def _code_point_ranges(pred):
    out, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        if pred(chr(cp)):
            if start is None:
                start = cp
            elif cp != prev + 1:
                out.append((start, prev))
                start = cp
            prev = cp
    if start is not None:
        out.append((start, prev))
    return out


def _ranges_class(ranges):
    return "".join("\\x{%x}" % lo if lo == hi else "\\x{%x}-\\x{%x}" % (lo, hi) for lo, hi in ranges)


_PY_NEWER = None


def _py_newer_ranges():
    """Code points unassigned in Python's unicodedata but assigned in the `regex` module's
    (newer) Unicode tables."""
    global _PY_NEWER
    if _PY_NEWER is None:
        import regex as pyregex
        assigned = pyregex.compile(r"\p{Assigned}")
        _PY_NEWER = _code_point_ranges(lambda c: unicodedata.category(c) == "Cn" and assigned.match(c))
    return _PY_NEWER


def py_verbose_to_rust(pat):
    """Translate a Python re.VERBOSE pattern (as used by ftfy) into Rust `regex` syntax."""
    out = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if c in " \t\n\r\f\v":
            i += 1
        elif c == "#":
            while i < len(pat) and pat[i] != "\n":
                i += 1
        elif c == "[":
            neg, items, specials, i = _py_class_items(pat, i + 1)
            out.append(_rust_class(neg, items, specials))
        elif c == "\\":
            e = pat[i + 1]
            if e == "s":
                out.append("[" + PY_RE_SPACE + "]")
                i += 2
            elif e == "w":
                # Python `re` \w = str.isalnum() or "_" with Python's (older) Unicode tables
                out.append("[\\p{L}\\p{N}_--[%s]]" % _ranges_class(_py_newer_ranges()))
                i += 2
            elif e == "x":
                out.append("\\x{%x}" % int(pat[i + 2:i + 4], 16))
                i += 4
            else:
                raise ValueError("unsupported escape %r" % pat[i:i + 2])
        elif c in "|()?+*^$.{}":
            out.append(c)
            i += 1
        elif c.isalnum() and ord(c) < 0x80:
            out.append(c)
            i += 1
        else:
            out.append("\\x{%x}" % ord(c))
            i += 1
    return "".join(out)


def rust_tables():
    import ftfy.badness
    import ftfy.chardata

    lines = []
    w = lines.append
    w("//! Data tables of the tokenizer, generated from Python. Do not edit by hand.")
    w("//!")
    w("//! Regenerate the whole file from the repository root (needs ftfy and regex) with")
    w("//!")
    w("//! ```text")
    w("//! python tests/golden/make_token_golden.py --rust-tables crates/pg_clip_core/src/tokenizer/tables.rs")
    w("//! ```")
    w("//!")
    w("//! then run the golden parity test (`tests/golden/tokens.jsonl`).")
    w("")
    w("// Generated by tests/golden/make_token_golden.py --rust-tables from Python %s" % platform.python_version())
    import regex as pyregex
    w("// (html.entities, unicodedata %s), ftfy %s and regex %s. Do not edit by hand."
      % (unicodedata.unidata_version, ftfy.__version__, pyregex.__version__))
    w("")
    w("/// Python `html.entities.html5`, sorted by name (byte order).")
    w("pub(crate) static HTML5_ENTITIES: &[(&str, &str)] = &[")
    for name in sorted(html.entities.html5):
        w("    (%s, %s)," % (_rust_str(name), _rust_str(html.entities.html5[name])))
    w("];")
    w("")
    w("/// ftfy.chardata.CHARMAP_ENCODINGS in order: (name, decoding of bytes 0x80..=0xFF).")
    w("/// Bytes 0x00..=0x7F decode to themselves, except 0x1A -> U+FFFD in the sloppy codecs.")
    w("pub(crate) static CHARMAPS: &[(&str, &str)] = &[")
    for enc in ftfy.chardata.CHARMAP_ENCODINGS:
        table = bytes(range(256)).decode(enc)
        low = bytes(range(128)).decode("latin-1")
        if enc.startswith("sloppy"):
            low = low.replace("\x1a", "\ufffd")
        assert table[:128] == low, enc
        assert len(set(table)) == 256, enc
        w("    (%s, %s)," % (_rust_str(enc), _rust_str(table[128:])))
    w("];")
    w("")
    w("/// ftfy.badness.BADNESS_RE translated to Rust regex syntax.")
    w("pub(crate) static BADNESS_RE: &str = %s;" % _rust_raw(py_verbose_to_rust(ftfy.badness.BADNESS_RE.pattern)))
    det = ftfy.chardata.UTF8_DETECTOR_RE.pattern
    m = re.match(r"\s*\(\?<!\s*\[", det)
    assert m, det[:40]
    neg, items, specials, end = _py_class_items(det, m.end())
    assert not neg and not specials
    rest = det[end:].lstrip()
    assert rest.startswith(")")
    w("/// Lookbehind class of ftfy.chardata.UTF8_DETECTOR_RE (`(?<! [...])`), applied by hand.")
    w("pub(crate) static UTF8_DETECTOR_LOOKBEHIND: &str = %s;" % _rust_raw(_rust_class(False, items, [])))
    w("/// ftfy.chardata.UTF8_DETECTOR_RE without its leading lookbehind.")
    w("pub(crate) static UTF8_DETECTOR_RE: &str = %s;" % _rust_raw(py_verbose_to_rust(rest[1:])))
    clues = ftfy.chardata.UTF8_CLUES
    first = "[" + clues["utf8_first_of_2"] + clues["utf8_first_of_3"] + clues["utf8_first_of_4"] + "]"
    assert rest[1:].lstrip().startswith("(")
    neg, items, specials, _ = _py_class_items(first, 1)
    w("/// The characters a UTF8_DETECTOR_RE match can start with (utf8_first_of_2/3/4).")
    w("pub(crate) static UTF8_DETECTOR_FIRST: &str = %s;" % _rust_raw(_rust_class(neg, items, specials)))
    w("")
    pl, pn = pyregex.compile(r"\p{L}"), pyregex.compile(r"\p{N}")
    w("/// `\\p{L}` of the Python `regex` module %s (its own Unicode tables), as class ranges." % pyregex.__version__)
    w("pub(crate) static PY_REGEX_L: &str = %s;" % _rust_raw(_ranges_class(_code_point_ranges(pl.match))))
    w("/// `\\p{N}` of the Python `regex` module %s, as class ranges." % pyregex.__version__)
    w("pub(crate) static PY_REGEX_N: &str = %s;" % _rust_raw(_ranges_class(_code_point_ranges(pn.match))))
    w("/// Code points unassigned in Python %s's unicodedata (Unicode %s) but assigned in the"
      % (platform.python_version(), unicodedata.unidata_version))
    w("/// `regex` module's Unicode tables: `str.lower()`, NFC and `re` treat them as unassigned.")
    w("pub(crate) static PY_UNASSIGNED: &[(u32, u32)] = &[")
    for lo, hi in _py_newer_ranges():
        w("    (0x%X, 0x%X)," % (lo, hi))
    w("];")
    return "\n".join(lines) + "\n"


DEFAULT_TABLES_RS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "crates", "pg_clip_core", "src", "tokenizer", "tables.rs",
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument(
        "--rust-tables", metavar="TABLES_RS", nargs="?", const=DEFAULT_TABLES_RS,
        help="instead of the golden file, regenerate the Rust tokenizer's data tables: "
             "(over)write this whole file (default: crates/pg_clip_core/src/tokenizer/tables.rs of this repository)",
    )
    args = ap.parse_args()

    if args.rust_tables:
        tables = rust_tables()
        with open(args.rust_tables, "w", encoding="utf-8", newline="\n") as f:
            f.write(tables)
        print(f"wrote {args.rust_tables}", file=sys.stderr)
        return

    import ftfy
    import open_clip
    import regex
    import torch
    from importlib import metadata
    from open_clip import tokenizer as oc_tok

    texts = all_texts()
    ids = open_clip.tokenize(texts, context_length=CONTEXT_LENGTH)
    assert ids.shape == (len(texts), CONTEXT_LENGTH)
    out_path = os.path.join(args.out_dir, "tokens.jsonl")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for text, row in zip(texts, ids.tolist()):
            f.write(json.dumps({"text": text, "ids": row}, ensure_ascii=False) + "\n")

    with open(oc_tok.default_bpe(), "rb") as vf:
        vocab_sha = hashlib.sha256(vf.read()).hexdigest()
    with open(out_path, "rb") as gf:
        golden_sha = hashlib.sha256(gf.read()).hexdigest()
    meta = {
        "generator": "tests/golden/make_token_golden.py",
        "seed": SEED,
        "count": len(texts),
        "context_length": CONTEXT_LENGTH,
        "reference": "open_clip.tokenize (SimpleTokenizer, clean='lower', as used by ViT-B-32)",
        "python": platform.python_version(),
        "unicodedata_unidata_version": unicodedata.unidata_version,
        "open_clip_torch": metadata.version("open_clip_torch"),
        "ftfy": ftfy.__version__,
        "regex": regex.__version__,
        "torch": torch.__version__,
        "bpe_simple_vocab_16e6.txt.gz_sha256": vocab_sha,
        "tokens.jsonl_sha256": golden_sha,
    }
    with open(os.path.join(args.out_dir, "tokens.meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(texts)} rows to {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
