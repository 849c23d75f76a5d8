"""Dataset readers and encoding of CrossAligner XNLU.

An application package: not installed, imported as ``data`` from the repository root. ``load_corpus`` reads one of
the formats (described in ``data/FORMATS.md``) into an ``XNLUCorpus`` (``corpus.py``: the container, the example
schema and ``DataFormatError``), each with its module: ``mtod.py``, ``multiatis.py``, ``mtop.py``, ``massive.py`` (with
``massive_hub.py``), ``jsonl.py``, ``xsid.py``; ``home_assistant.py`` generates the default corpus (with
``home_assistant_grammar.py`` and ``home_assistant_values.py``). The readers share ``reading.py`` (lines, records,
malformed examples), ``spans.py`` (spans to BIO tags), ``cache.py`` (the on-disk cache of parsed datasets) and
``translations.py`` (translations and their English rows); ``encoding.py`` turns the datasets into model inputs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from datasets import DatasetDict

from .corpus import EXAMPLE_FEATURES, SPLITS, TRANSLATION_FEATURES, DataFormatError, XNLUCorpus
from .encoding import encode_labelled, encode_pairs, first_text_piece_index
from .reading import SkippedExamples, language_dirs
from .translations import translation_targets

# Format name -> (module, loader). Modules are imported on first use, so a reader's own dependencies
# (and the Home Assistant reader, maintained separately) cost nothing until that format is loaded.
_READERS = {
    "home_assistant": (".home_assistant", "load_home_assistant"),
    "mtod": (".mtod", "load_mtod"),
    "m_atis": (".multiatis", "load_multiatis"),
    "mtop": (".mtop", "load_mtop"),
    "massive": (".massive_hub", "load_massive"),  # the Hub export or the raw release
    "jsonl": (".jsonl", "load_jsonl"),
    "xsid": (".xsid", "load_xsid"),
}
FORMATS = tuple(_READERS)


def load_corpus(
    name: str,
    data_dir: str | None = None,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    *,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skip_malformed: bool = False,
) -> XNLUCorpus:
    """Read a corpus in one of the supported formats (``FORMATS``).

    Args:
        name: format name: home_assistant, mtod, m_atis, mtop, massive, jsonl or xsid.
        data_dir: the distribution's folder (required except for home_assistant, which has a default).
        languages: language codes to load (default: every language found).
        cache_dir: where the parsed datasets are cached (default: the datasets cache).
        splits: language -> the splits to read of it ("train", "dev", "test"); when given, exactly these files
            are opened (and ``languages`` defaults to its keys and ``translation_languages``). Default: every split
            of every language.
        translation_languages: the languages whose translations of the English training data are read (default:
            every loaded language but English, when the English training split is loaded; ``[]`` reads none).
        skip_malformed: skip a malformed example (logged with file, line and reason; listed in
            ``corpus.skipped``) instead of stopping with a ``DataFormatError``.
    """
    if name not in _READERS:
        raise ValueError(f"unknown data format {name!r}: expected one of {', '.join(FORMATS)}")
    if splits is not None:
        # A language only translated into (no split of its own read) is loaded too, for its translations.
        languages = languages or list(dict.fromkeys([*splits, *(translation_languages or ())]))
        unknown = sorted({split for parts in splits.values() for split in parts} - set(SPLITS))
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}: expected any of {list(SPLITS)}")
    module_name, loader_name = _READERS[name]
    loader = getattr(importlib.import_module(module_name, __name__), loader_name)
    if name == "home_assistant":
        # Generated, not read: nothing to skip; the requested parts are taken from the whole generated corpus.
        return _select(loader(data_dir=data_dir, languages=languages), splits, translation_languages)
    if data_dir is None:
        raise ValueError(f"data format {name!r} needs data_dir: the folder of the distribution")
    skipped = SkippedExamples() if skip_malformed else None
    corpus = loader(
        data_dir,
        languages=languages,
        cache_dir=cache_dir,
        splits=splits,
        translation_languages=translation_languages,
        skipped=skipped,
    )
    corpus.skipped = skipped.records if skipped is not None else []
    return corpus


def available_languages(name: str, data_dir: str | None = None) -> list[str]:
    """The language codes a corpus has: its language folders (MASSIVE: its locale files, or the locales of its Hub
    export, whose locale column only is read; xSID: its file names); home_assistant: the languages it generates by
    default."""
    if name not in _READERS:
        raise ValueError(f"unknown data format {name!r}: expected one of {', '.join(FORMATS)}")
    if name == "home_assistant":
        from .home_assistant import DEFAULT_LANGUAGES

        return list(DEFAULT_LANGUAGES)
    if data_dir is None:
        raise ValueError(f"data format {name!r} needs data_dir: the folder of the distribution")
    if name == "massive":
        from .massive_hub import massive_languages

        return massive_languages(data_dir)
    if name == "xsid":
        from .xsid import split_files

        return list(split_files(Path(data_dir), None))
    return list(language_dirs(data_dir, None))


def _select(corpus: XNLUCorpus, splits, translation_languages) -> XNLUCorpus:
    if splits is not None:
        corpus.labelled = {
            lang: DatasetDict({split: dataset for split, dataset in parts.items() if split in splits.get(lang, ())})
            for lang, parts in corpus.labelled.items()
        }
    if translation_languages is not None:
        wanted = set(translation_targets(corpus.labelled, corpus.source_language, translation_languages))
        corpus.translations = {lang: data for lang, data in corpus.translations.items() if lang in wanted}
    return corpus


__all__ = [
    "EXAMPLE_FEATURES",
    "FORMATS",
    "TRANSLATION_FEATURES",
    "DataFormatError",
    "XNLUCorpus",
    "available_languages",
    "encode_labelled",
    "encode_pairs",
    "first_text_piece_index",
    "load_corpus",
]
