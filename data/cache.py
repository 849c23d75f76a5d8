"""The on-disk cache of parsed datasets: a reader runs once per file and code version, later runs load its Arrow files
(with the malformed examples it skipped), and the cache keys that make edited files or code re-read."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import Features
from datasets.exceptions import DatasetGenerationError

from modeling_crossaligner import bio_to_io

from . import corpus, reading, spans
from .corpus import EXAMPLE_FEATURES, DataFormatError
from .reading import SkippedExamples

# The data modules every reader builds on besides its own: an edit to any of them may change what a reader returns.
_SHARED_SOURCES = (corpus.__file__, reading.__file__, spans.__file__, __file__)


def cached_dataset(
    generator: Callable[..., Iterator[dict]],
    sources: Iterable[str | os.PathLike],
    features: Features,
    cache_dir: str | None = None,
    skipped: SkippedExamples | None = None,
    **gen_kwargs,
) -> datasets.Dataset:
    """Build a Dataset from ``generator(**gen_kwargs)`` once, then reuse it from the cache.

    The dataset is written to Arrow cache files under ``cache_dir`` (default: the datasets cache). Its cache key
    hashes the generator's source, ``gen_kwargs`` and the signature of the ``sources`` files, so a second run with
    unchanged files skips the reading, and because the result is backed by a cache file, later ``.map`` calls
    (the encoding) are cached too. ``gen_kwargs`` must not hold lists: datasets would take them for shards.

    ``skipped`` (``skip_malformed``): the generator is called with ``skipped=`` too and skips its malformed examples
    (see :func:`malformed`); they are kept beside the cache file, so that a run that loads the dataset from the
    cache reports them too, and added to ``skipped`` either way. Without it a malformed example is an error.
    """
    sources = list(sources)
    if not sources:
        raise ValueError("cached_dataset needs at least one source file")
    run = _ReaderRun(SkippedExamples() if skipped is not None else None)
    try:
        dataset = datasets.Dataset.from_generator(
            _generate,
            features=features,
            cache_dir=cache_dir,
            gen_kwargs={
                "generator": generator,
                "kwargs": gen_kwargs,
                "run": run,
                "signature": f"{file_signature(sources)}|{code_signature(generator)}",
            },
        )
    except DatasetGenerationError as error:
        # datasets wraps the reader's error in a generic one; surface the message that names file and line.
        if isinstance(error.__cause__, DataFormatError):
            raise error.__cause__ from None
        raise
    sidecar = Path(dataset.cache_files[0]["filename"] + ".skipped.json") if dataset.cache_files else None
    if run.ran:
        records = run.skipped.records if run.skipped is not None else []
        if sidecar is not None:
            sidecar.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        if skipped is not None:
            skipped.records.extend(records)
    elif skipped is not None and sidecar is not None and sidecar.is_file():
        # Loaded from the cache: the examples skipped when the reader ran were kept beside it.
        for record in json.loads(sidecar.read_text(encoding="utf-8")):
            skipped.add(DataFormatError(record["path"], record["line"], record["reason"]))
    return dataset


@dataclass
class _ReaderRun:
    """One call of cached_dataset's generator, handed to it through datasets (which runs it in this process), so
    that what it skipped comes back, and whether it ran at all (not when the dataset came from the cache)."""

    skipped: SkippedExamples | None  # None: a malformed example is an error
    ran: bool = False


def _generate(
    generator: Callable[..., Iterator[dict]], kwargs: dict, run: _ReaderRun, signature: str
) -> Iterator[dict]:
    # ``signature`` is unused here on purpose: it only enters the cache key that datasets derives from gen_kwargs.
    run.ran = True
    if run.skipped is not None:
        kwargs = {**kwargs, "skipped": run.skipped}
    yield from generator(**kwargs)


def labelled_splits(
    reader: Callable[..., Iterator[dict]],
    paths: Mapping[str, Path],
    language: str,
    cache_dir: str | None,
    skipped: SkippedExamples | None,
) -> datasets.DatasetDict:
    """The labelled examples of each split file of one language, ``reader(path=..., language=..., split=...)``,
    through the cache (:func:`cached_dataset`)."""
    return datasets.DatasetDict(
        {
            split: cached_dataset(
                reader,
                [path],
                EXAMPLE_FEATURES,
                cache_dir,
                skipped,
                path=str(path),
                language=language,
                split=split,
            )  # fmt: skip
            for split, path in paths.items()
        }
    )


@functools.cache
def code_signature(function: Callable) -> str:
    """Hash of the source files behind ``function``'s output: its module, the data modules readers share and the
    BIO helpers.

    datasets fingerprints an importable function by its name only, so without this an edited reader or
    encoder would keep serving results cached by the old code.
    """
    digest = hashlib.sha256()
    for path in sorted({inspect.getsourcefile(function), *_SHARED_SOURCES, inspect.getsourcefile(bio_to_io)}):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def file_signature(paths: Iterable[str | os.PathLike]) -> str:
    """Path, size and modification time of each file: part of a dataset's cache key, so edited files are re-read."""
    parts = []
    for path in paths:
        stat = Path(path).stat()
        parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)
