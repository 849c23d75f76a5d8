"""Dataset readers and encoding of CrossAligner XNLU.

An application package: not installed, imported as ``data`` from the repository root. Every reader returns an
``XNLUCorpus`` (see ``data/corpus.py``); ``data/encoding.py`` turns its datasets into model inputs. The formats
are described in ``data/FORMATS.md``.
"""

from __future__ import annotations

import importlib

from .corpus import EXAMPLE_FEATURES, TRANSLATION_FEATURES, DataFormatError, XNLUCorpus
from .encoding import encode_labelled, encode_pairs, first_text_piece_index

# Format name -> (module, loader). Modules are imported on first use, so a reader's own dependencies
# (and the Home Assistant reader, maintained separately) cost nothing until that format is loaded.
_READERS = {
    "home_assistant": (".home_assistant", "load_home_assistant"),
    "mtod": (".mtod", "load_mtod"),
    "m_atis": (".multiatis", "load_multiatis"),
    "mtop": (".mtop", "load_mtop"),
    "massive": (".massive", "load_massive"),
    "jsonl": (".jsonl", "load_jsonl"),
}
FORMATS = tuple(_READERS)


def load_corpus(
    name: str, data_dir: str | None = None, languages: list[str] | None = None, cache_dir: str | None = None
) -> XNLUCorpus:
    """Read a corpus in one of the supported formats (``FORMATS``).

    Args:
        name: format name: home_assistant, mtod, m_atis, mtop, massive or jsonl.
        data_dir: the distribution's folder (required except for home_assistant, which has a default).
        languages: language codes to load (default: every language found). Translations are loaded for the
            requested target languages when the source language ("en") is loaded too.
        cache_dir: where the parsed datasets are cached (default: the datasets cache).
    """
    if name not in _READERS:
        raise ValueError(f"unknown data format {name!r}: expected one of {', '.join(FORMATS)}")
    module_name, loader_name = _READERS[name]
    loader = getattr(importlib.import_module(module_name, __name__), loader_name)
    if name == "home_assistant":
        return loader(data_dir=data_dir, languages=languages)
    if data_dir is None:
        raise ValueError(f"data format {name!r} needs data_dir: the folder of the distribution")
    return loader(data_dir, languages=languages, cache_dir=cache_dir)


__all__ = [
    "EXAMPLE_FEATURES",
    "FORMATS",
    "TRANSLATION_FEATURES",
    "DataFormatError",
    "XNLUCorpus",
    "encode_labelled",
    "encode_pairs",
    "first_text_piece_index",
    "load_corpus",
]
