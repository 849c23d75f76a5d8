"""MultiATIS++ (Xu et al. 2020) in the layout of the CrossAligner release.

One folder per language with ``train.txt``, ``dev.txt``, ``test.txt``: tab-separated, header row
``id	utterance	slot_labels	intent``, utterance tokens and BIO tags separated by spaces (one tag per token),
multi-label intents joined with ``#`` (kept as one intent string). ``train.tsv`` (no header) holds one
translation per English training example, line i translating example i.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets import DatasetDict

from .corpus import (
    EXAMPLE_FEATURES,
    SPLITS,
    DataFormatError,
    XNLUCorpus,
    cached_dataset,
    ensure_not_empty,
    folder_translations,
    language_dirs,
    make_example,
    require_file,
)

HEADER = ["id", "utterance", "slot_labels", "intent"]


def load_multiatis(
    data_dir: str | Path, languages: list[str] | None = None, cache_dir: str | None = None
) -> XNLUCorpus:
    folders = language_dirs(data_dir, languages)
    labelled = {}
    for lang, folder in folders.items():
        splits = {}
        for split in SPLITS:
            path = require_file(folder / f"{split}.txt", f"MultiATIS++ {split} split of {lang!r}")
            splits[split] = cached_dataset(read_tsv, [path], EXAMPLE_FEATURES, cache_dir, path=str(path), language=lang)
        labelled[lang] = DatasetDict(splits)
    return XNLUCorpus("m_atis", labelled, folder_translations(folders, labelled, "train.tsv", cache_dir=cache_dir))


def read_tsv(path: str, language: str) -> Iterator[dict]:
    """Examples of one MultiATIS++ split file, in file order."""
    count = 0
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            columns = line.rstrip("\r\n").split("\t")
            if line_number == 1:
                if columns != HEADER:
                    raise DataFormatError(path, 1, f"header {columns}: expected {HEADER} (tab-separated)")
                continue
            if not line.strip():
                continue
            if len(columns) != len(HEADER):
                raise DataFormatError(path, line_number, f"{len(columns)} columns: expected {len(HEADER)} ({', '.join(HEADER)})")
            example_id, utterance, tags, intent = columns
            yield make_example(path, line_number, example_id, language, utterance.split(), tags.split(), intent.strip())
            count += 1
    ensure_not_empty(path, count)
