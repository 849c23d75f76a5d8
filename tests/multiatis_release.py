"""A MultiATIS++ release in the layout and sizes of the CrossAligner release, written by the tests: every file a real
run meets, with the real files' quirks (the text itself is generated from a few ATIS-like templates).

    python tests/multiatis_release.py OUT_DIR      # write one, e.g. to try run_xnlu.py --dataset m_atis on it

Sizes (train / dev / test): English 4,488 / 490 / 893; de, es, fr, ja, pt, zh 4,488 / 490 / 893; hi 1,440 / 160 /
893; tr 578 / 60 / 715; every target language's train.tsv has 4,488 lines (one translation per English training
example). Quirks: tokens holding a non-breaking space (Spanish and French "D.<NBSP>C.": one token, one tag) in about
80 Spanish and 100 French test lines and 60 French training lines; an empty tag (two spaces in a row) on one line of
the Spanish labelled training file; CRLF line ends (Spanish, Turkish), a UTF-8 byte-order mark (French, Hindi), a
trailing tab after the intent (German); multi-label intents joined with '#'.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

NBSP = "\u00a0"
HEADER = "id\tutterance\tslot_labels\tintent"
SIZES = {
    "en": (4488, 490, 893),
    "de": (4488, 490, 893),
    "es": (4488, 490, 893),
    "fr": (4488, 490, 893),
    "hi": (1440, 160, 893),
    "ja": (4488, 490, 893),
    "pt": (4488, 490, 893),
    "tr": (578, 60, 715),
    "zh": (4488, 490, 893),
}
TRAIN_TRANSLATIONS = 4488
CITIES = {
    "en": ["boston", "denver", "new york", "washington D.C."],
    "de": ["boston", "denver", "new york", "washington"],
    "es": ["boston", "denver", "nueva york", f"washington D.{NBSP}C."],
    "fr": ["boston", "denver", "new york", f"washington D.{NBSP}C."],
    "hi": ["बोस्टन", "डेनवर", "न्यूयॉर्क", "वाशिंगटन"],
    "ja": ["ボストン", "デンバー", "ニューヨーク", "ワシントン"],
    "pt": ["boston", "denver", "nova york", "washington"],
    "tr": ["boston", "denver", "new york", "washington"],
    "zh": ["波士顿", "丹佛", "纽约", "华盛顿"],
}
FRAMES = {  # (words before the origin, words between origin and destination)
    "en": (["show", "flights", "from"], ["to"]),
    "de": (["flüge", "von"], ["nach"]),
    "es": (["vuelos", "de"], ["a"]),
    "fr": (["vols", "de"], ["à"]),
    "hi": (["उड़ानें"], ["से"]),
    "ja": (["フライト"], ["から"]),
    "pt": (["voos", "de"], ["para"]),
    "tr": (["uçuşlar"], ["den"]),
    "zh": (["航班"], ["到"]),
}
INTENTS = ["atis_flight", "atis_flight#atis_airfare", "atis_airfare", "atis_ground_service"]


def utterance(language: str, rng: random.Random, with_nbsp: bool) -> tuple[list[str], list[str], str]:
    before, between = FRAMES[language]
    cities = CITIES[language]
    origin = rng.choice(cities[:3])
    destination = cities[3] if with_nbsp else rng.choice(cities[:3])
    words, tags = list(before), ["O"] * len(before)
    for city, slot in ((origin, "fromloc.city_name"), (None, None), (destination, "toloc.city_name")):
        if city is None:
            words += between
            tags += ["O"] * len(between)
            continue
        parts = city.split(" ")  # a non-breaking space stays inside its token
        words += parts
        tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(parts) - 1)
    return words, tags, rng.choice(INTENTS)


def write_split(
    path: Path,
    language: str,
    count: int,
    rng: random.Random,
    nbsp_lines: int = 0,
    empty_tag_line: int | None = None,
    crlf: bool = False,
    bom: bool = False,
    trailing_tab: bool = False,
) -> None:
    lines = [HEADER]
    with_nbsp = set(rng.sample(range(count), nbsp_lines))
    for index in range(count):
        words, tags, intent = utterance(language, rng, index in with_nbsp)
        tag_column = " ".join(tags)
        if index == empty_tag_line:
            tag_column = tag_column.replace(" ", "  ", 1)  # an empty tag: two spaces in a row
        lines.append(f"{index}\t{' '.join(words)}\t{tag_column}\t{intent}" + ("\t" if trailing_tab else ""))
    end = "\r\n" if crlf else "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (end.join(lines) + end).encode("utf-8"))


def write_release(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    rng = random.Random(seed)
    quirks = {
        "es": dict(crlf=True),
        "tr": dict(crlf=True),
        "fr": dict(bom=True),
        "hi": dict(bom=True),
        "de": dict(trailing_tab=True),
    }
    for language, (train, dev, test) in SIZES.items():
        folder = root / language
        folder.mkdir(parents=True, exist_ok=True)
        options = quirks.get(language, {})
        nbsp = {"es": {"test": 80}, "fr": {"test": 100, "train": 60}}.get(language, {})
        write_split(
            folder / "train.txt",
            language,
            train,
            rng,
            nbsp.get("train", 0),
            empty_tag_line=109 if language == "es" else None,
            **options,
        )
        write_split(folder / "dev.txt", language, dev, rng, **options)
        write_split(folder / "test.txt", language, test, rng, nbsp.get("test", 0), **options)
        if language != "en":
            texts = [" ".join(utterance(language, rng, False)[0]) for _ in range(TRAIN_TRANSLATIONS)]
            end = "\r\n" if options.get("crlf") else "\n"
            (folder / "train.tsv").write_bytes((end.join(texts) + end).encode("utf-8"))
    return root


if __name__ == "__main__":
    print(write_release(sys.argv[1]))
