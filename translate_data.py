#!/usr/bin/env python
# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Translate the English training utterances of a `jsonl` data folder with a sequence-to-sequence model, so that
`run_xnlu.py --dataset jsonl` can train aligned to the target languages.

    python translate_data.py my_data --languages de es th --model facebook/nllb-200-distilled-600M
    python translate_data.py my_data --languages de es --model "Helsinki-NLP/opus-mt-en-{lang}"
    python translate_data.py my_data --languages de ja --model Helsinki-NLP/opus-mt-en-de ja=Helsinki-NLP/opus-mt-en-jap

It reads `my_data/en/train.jsonl` and writes into each language's folder:

- `translations.jsonl`: one `{"id": <English training id>, "text": <translation>}` line per English example, in
  English order when done (the `jsonl` format's translation file);
- `translation_settings.json`: what produced it (English file's hash, model and pinned revision, the model's language
  codes, beams, maximum length, precision), written before the first line;
- `translation_report.json`: counts, speed, and the suspicious translations (empty, a copy of the source, or a length
  ratio far from the language's median), for a look before training.

Batches hold sentences of similar lengths (longest first), on a GPU when there is one, in bf16 where the device
computes it natively; beam search never samples, so a run is deterministic. Each batch is written as whole lines and
flushed: an interrupted run (Ctrl-C, a crash, a killed job) continues where it stopped when the same command runs
again, never translates a written line again, and cuts a line that an interruption left half-written. Only what the
same settings started is resumed: another model, revision, language code, beam size, maximum length or precision is
an error (`--overwrite` starts again). So are a model that is not a sequence-to-sequence model, a language it has no
code for and a `--max_new_tokens` beyond its positions, all found before any weights are loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers
from tqdm.auto import tqdm

from data import DataFormatError
from data.jsonl import TRANSLATION_FILE, read_utterances
from translation_model import (
    ModelInfo,
    TranslationDirection,
    TranslationSetupError,
    check_max_new_tokens,
    encode_sources,
    generate_translations,
    inspect_model,
    load_model,
    translation_direction,
    translation_dtype,
)

logger = logging.getLogger("translate_data")

SOURCE_LANGUAGE = "en"
SETTINGS_FILE = "translation_settings.json"
REPORT_FILE = "translation_report.json"
# Recorded, but free to change on resume: they change how fast, not what is translated.
UNCHECKED_SETTINGS = ("batch_size", "device", "transformers_version")
# A translation whose length ratio (characters of translation / of source) is more than this many times above or
# below the language's median ratio is reported (the median absorbs what a script's density does to lengths).
LENGTH_RATIO_FACTOR = 3.0
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*")


# --------------------------------------------------------------------------------------------------------------------
# What to translate, with what
# --------------------------------------------------------------------------------------------------------------------


def read_sources(data_dir: Path) -> dict[str, str]:
    """English training id -> utterance, in file order."""
    path = data_dir / SOURCE_LANGUAGE / "train.jsonl"
    if not path.is_file():
        raise TranslationSetupError(f"{path}: no such file; expected the English training data of a jsonl folder")
    sources: dict[str, str] = {}
    for example_id, text in read_utterances(path, SOURCE_LANGUAGE, "train"):
        if example_id in sources:
            raise DataFormatError(
                path, None, f"id {example_id!r} occurs twice: translations refer to English examples by id"
            )
        sources[example_id] = text
    return sources


def check_languages(languages: Iterable[str]) -> list[str]:
    languages = list(dict.fromkeys(language.lower() for language in languages))
    if not languages:
        raise TranslationSetupError("--languages: give at least one target language")
    for language in languages:
        if language == SOURCE_LANGUAGE:
            raise TranslationSetupError(f"--languages {language}: the source language; give target languages")
        if not LANGUAGE_CODE.fullmatch(language):
            raise TranslationSetupError(f"--languages {language}: expected a language code such as de or zh-tw")
    return languages


def models_per_language(specs: Sequence[str], languages: list[str]) -> dict[str, str]:
    """Language -> model name, from ``--model`` values: ``LANG=MODEL`` for one language, a plain ``MODEL`` for the
    others, where ``{lang}`` stands for the language code (a model per language pair)."""
    default, named = None, {}
    for spec in specs:
        language, separator, name = spec.partition("=")
        if separator and LANGUAGE_CODE.fullmatch(language):
            if language not in languages:
                raise TranslationSetupError(f"--model {spec}: {language} is not one of --languages")
            if language in named:
                raise TranslationSetupError(f"--model: two models for {language} ({named[language]}, {name})")
            named[language] = name
        elif default is None:
            default = spec
        else:
            raise TranslationSetupError(
                f"--model: two models for the same languages ({default}, {spec}); name the language of each: LANG=MODEL"
            )
    missing = [language for language in languages if language not in named and default is None]
    if missing:
        raise TranslationSetupError(f"--model: no model for {', '.join(missing)}; give MODEL or LANG=MODEL")
    return {language: named.get(language) or default.replace("{lang}", language) for language in languages}


def parse_language_codes(pairs: Iterable[str]) -> dict[str, str]:
    """``["th=tha_Thai", ...]`` -> ``{"th": "tha_Thai"}``."""
    mapping = {}
    for pair in pairs:
        language, separator, code = pair.partition("=")
        if not separator or not language or not code:
            raise TranslationSetupError(f"--language_codes {pair}: expected LANG=CODE, e.g. th=tha_Thai")
        mapping[language.lower()] = code
    return mapping


def resolve_device(device: str | None) -> torch.device:
    """``device``, or a GPU when there is one, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise TranslationSetupError(f"--device {device}: expected a torch device such as cpu, cuda or cuda:1") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TranslationSetupError(f"--device {device}: no GPU is available here")
    return resolved


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------------------------
# One language's files
# --------------------------------------------------------------------------------------------------------------------


def json_line(example_id: str, text: str) -> str:
    return json.dumps({"id": example_id, "text": text}, ensure_ascii=False) + "\n"


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` in one step (a new file renamed over it): a reader, or an interruption, never sees half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8", newline="\n")
    os.replace(partial, path)


def write_json(path: Path, content: object) -> None:
    replace_file(path, json.dumps(content, ensure_ascii=False, indent=2) + "\n")


class TranslationFile:
    """One language's ``translations.jsonl`` with its settings and report. Lines are appended whole and flushed; a
    run resumes only a file that the same settings started."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / TRANSLATION_FILE
        self.settings_path = folder / SETTINGS_FILE
        self.report_path = folder / REPORT_FILE

    def written(self) -> tuple[dict[str, str], int]:
        """(id -> translation of each complete line, the bytes those lines take). A last line without its line end
        was cut by an interruption: it does not count."""
        content = self.path.read_bytes() if self.path.exists() else b""
        complete = content[: content.rfind(b"\n") + 1]
        written: dict[str, str] = {}
        # Split at line feeds only: a translation may hold U+2028 and the like, which JSON writes as they are.
        for line_number, line in enumerate(complete.decode("utf-8").split("\n")[:-1], start=1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not (
                isinstance(record, dict) and isinstance(record.get("id"), str) and isinstance(record.get("text"), str)
            ):
                raise DataFormatError(
                    self.path, line_number, 'expected {"id": ..., "text": ...} as translate_data.py writes it'
                )
            if record["id"] in written:
                raise DataFormatError(self.path, line_number, f"id {record['id']!r} is written twice")
            written[record["id"]] = record["text"]
        return written, len(complete)

    def check_resumable(self, settings: Mapping, sources: Mapping[str, str], overwrite: bool) -> dict[str, str]:
        """The translations already written by a run with the same ``settings`` (id -> text); ``{}`` for a new file
        or with ``overwrite``. Another run's file is a TranslationSetupError. Reads only."""
        if overwrite or not self.path.exists():
            return {}
        again = "pass --overwrite to translate again"
        if not self.settings_path.is_file():
            raise TranslationSetupError(
                f"{self.path} exists without {SETTINGS_FILE}: not started by translate_data.py, so it cannot be "
                f"resumed; move it away, or {again}"
            )
        try:
            recorded = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise TranslationSetupError(f"{self.settings_path}: not JSON ({error}); {again}") from None
        changed = [
            f"{key} {recorded.get(key)!r} then, {value!r} now"
            for key, value in settings.items()
            if key not in UNCHECKED_SETTINGS and recorded.get(key) != value
        ]
        if changed:
            raise TranslationSetupError(
                f"{self.path} was started with other settings ({'; '.join(changed)}): a run resumes only what the "
                f"same settings started; give the same options, or {again}"
            )
        written, _ = self.written()
        unknown = [example_id for example_id in written if example_id not in sources]
        if unknown:
            raise TranslationSetupError(
                f"{self.path}: {len(unknown)} ids that the English training data does not have (first: "
                f"{unknown[0]!r}); {again}"
            )
        return written

    def start(self, settings: Mapping, overwrite: bool) -> None:
        """Before the first line: the settings of a new file written, an interrupted last line of a resumed one cut."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if overwrite or not self.path.exists():
            # In this order, an interruption never leaves lines beside settings that did not produce them.
            self.path.unlink(missing_ok=True)
            self.report_path.unlink(missing_ok=True)
            write_json(self.settings_path, dict(settings))
            self.path.write_bytes(b"")
            return
        _, complete = self.written()
        if complete < self.path.stat().st_size:
            logger.warning(
                "%s: a line cut off by an interruption is removed (its sentence is translated again)", self.path
            )
            with open(self.path, "r+b") as handle:
                handle.truncate(complete)

    @contextmanager
    def appending(self):
        """``append(rows)`` writes (id, translation) rows as whole lines, flushed to disk before it returns."""
        with open(self.path, "a", encoding="utf-8", newline="\n") as handle:

            def append(rows: Iterable[tuple[str, str]]) -> None:
                handle.write("".join(json_line(example_id, text) for example_id, text in rows))
                handle.flush()
                os.fsync(handle.fileno())

            yield append

    def finish(self, source_ids: Iterable[str]) -> dict[str, str]:
        """Put the lines in English order (replaced in one step) and return them (id -> translation)."""
        written, _ = self.written()
        ordered = "".join(json_line(example_id, written[example_id]) for example_id in source_ids)
        if self.path.read_text(encoding="utf-8") != ordered:
            replace_file(self.path, ordered)
        return written


# --------------------------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------------------------


def suspicious_translations(sources: Mapping[str, str], translations: Mapping[str, str]) -> tuple[list[dict], dict]:
    """The translations worth a look (``{"id", "reason", "source", "text"}`` each; reasons: ``empty``, ``copied
    source``, ``length ratio``) and the length-ratio statistics they were judged by."""
    ratios = {
        example_id: len(text) / len(sources[example_id])
        for example_id, text in translations.items()
        if text.strip() and sources[example_id].strip()
    }
    median = statistics.median(ratios.values()) if ratios else None
    bounds = (median / LENGTH_RATIO_FACTOR, median * LENGTH_RATIO_FACTOR) if median else None
    suspicious = []
    for example_id, text in translations.items():
        source = sources[example_id]
        if not text.strip():
            reason = "empty"
        elif text.strip().casefold() == source.strip().casefold():
            reason = "copied source"
        elif bounds and example_id in ratios and not bounds[0] <= ratios[example_id] <= bounds[1]:
            reason = "length ratio"
        else:
            continue
        suspicious.append({"id": example_id, "reason": reason, "source": source, "text": text})
    statistics_ = {
        "median_length_ratio": None if median is None else round(median, 4),
        "length_ratio_bounds": None if bounds is None else [round(bound, 4) for bound in bounds],
    }
    return suspicious, statistics_


@dataclass
class TranslationSummary:
    """What a run did for one language; ``translation_report.json`` holds it with the suspicious translations."""

    language: str
    path: str
    model: str
    english_examples: int
    translated_now: int
    written_before: int
    seconds: float
    suspicious_counts: dict[str, int] = field(default_factory=dict)

    @property
    def sentences_per_second(self) -> float | None:
        return round(self.translated_now / self.seconds, 2) if self.translated_now and self.seconds > 0 else None

    def to_json(self) -> dict:
        return {**asdict(self), "sentences_per_second": self.sentences_per_second}


# --------------------------------------------------------------------------------------------------------------------
# Translating
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class LanguageJob:
    language: str
    info: ModelInfo
    direction: TranslationDirection
    settings: dict
    output: TranslationFile
    written: dict[str, str]


def translate_data(
    data_dir: str | os.PathLike,
    languages: Iterable[str],
    model: str | Sequence[str],
    *,
    language_codes: Mapping[str, str] | None = None,
    revision: str | None = None,
    num_beams: int = 4,
    max_new_tokens: int = 128,
    batch_size: int = 32,
    device: str | None = None,
    bf16: bool | None = None,
    overwrite: bool = False,
) -> dict[str, TranslationSummary]:
    """Translate ``data_dir/en/train.jsonl`` into each of ``languages``, writing ``data_dir/<lang>/translations.jsonl``
    (with its settings and report); returns each language's summary.

    Args:
        data_dir: a ``jsonl`` data folder.
        languages: the target language codes (their folders are created if missing).
        model: a Hub id or folder of a sequence-to-sequence model, for every language; or several, ``LANG=MODEL`` for
            a language and a plain one for the others. ``{lang}`` in a name stands for the language code.
        language_codes: project language code -> the model's code, where the automatic mapping does not find it
            (``{"th": "tha_Thai"}``; the source language is ``en``).
        revision: the Hub revision (branch, tag or commit) of the models; recorded as the commit it resolves to.
        num_beams: beam size (1: greedy search).
        max_new_tokens: the most tokens generated for one translation.
        batch_size: sentences translated at once.
        device: a torch device; default a GPU when there is one, else the CPU.
        bf16: load the model in bf16; default where the device computes bf16 natively (a GPU with bf16, a CPU with
            AVX512-BF16 or AMX), fp32 elsewhere.
        overwrite: translate again, replacing existing translation files.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TranslationSetupError(f"{data_dir}: no such folder")
    for name, value in (("num_beams", num_beams), ("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if value < 1:
            raise TranslationSetupError(f"--{name} {value}: expected a positive number")
    languages = check_languages(languages)
    models = models_per_language([model] if isinstance(model, str) else list(model), languages)
    mapping = {language.lower(): code for language, code in (language_codes or {}).items()}
    resolved_device = resolve_device(device)
    dtype = translation_dtype(bf16, resolved_device)
    sources = read_sources(data_dir)
    source_digest = file_sha256(data_dir / SOURCE_LANGUAGE / "train.jsonl")

    shared_settings = {  # the same for every language
        "num_beams": num_beams,
        "max_new_tokens": max_new_tokens,
        "precision": "bf16" if dtype == torch.bfloat16 else "fp32",
        "batch_size": batch_size,
        "device": str(resolved_device),
        "transformers_version": transformers.__version__,
    }

    # Every check before any weights are loaded or any file is written.
    infos = {name: inspect_model(name, revision) for name in dict.fromkeys(models.values())}
    jobs = []
    for language in languages:
        info = infos[models[language]]
        served = [other for other in languages if infos[models[other]] is info]
        if info.codes.kind == "none" and len(served) > 1:
            raise TranslationSetupError(
                f"--model {models[language]}: it has no language codes, so it translates into one language, not "
                f"{' and '.join(served)}; give one model per language (LANG=MODEL, or a name with {{lang}})"
            )
        check_max_new_tokens(info, max_new_tokens)
        direction = translation_direction(info, SOURCE_LANGUAGE, language, mapping)
        settings = {
            "language": language,
            "source_file": f"{SOURCE_LANGUAGE}/train.jsonl",
            "source_sha256": source_digest,
            "model": info.name,
            "revision": info.revision,
            "source_code": direction.source_code,
            "target_code": direction.target_code,
            **shared_settings,
        }
        output = TranslationFile(data_dir / language)
        jobs.append(
            LanguageJob(
                language, info, direction, settings, output, output.check_resumable(settings, sources, overwrite)
            )
        )

    summaries = {}
    for info in infos.values():  # each model loaded once, for the languages it translates
        logger.info("loading %s (%s) on %s in %s", info.name, info.revision, resolved_device, dtype)
        loaded = load_model(info, resolved_device, dtype)
        for job in [job for job in jobs if job.info is info]:
            summaries[job.language] = translate_language(
                loaded,
                job,
                sources,
                num_beams=num_beams,
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
                overwrite=overwrite,
            )
        del loaded  # before the next model is loaded
    return {language: summaries[language] for language in languages}


def translate_language(
    model,
    job: LanguageJob,
    sources: Mapping[str, str],
    *,
    num_beams: int,
    max_new_tokens: int,
    batch_size: int,
    overwrite: bool,
) -> TranslationSummary:
    ids = list(sources)
    encoded = encode_sources(job.info, job.direction, list(sources.values()))
    # Sentences of similar lengths share a batch (less padding), longest first (memory runs out early if at all).
    # The batches are made from every sentence, so a resumed run translates each in the batch an uninterrupted run
    # would: a batch with some lines written is translated whole, and only its missing lines are written.
    order = sorted(range(len(ids)), key=lambda row: -len(encoded[row]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    written = dict(job.written)
    before = len(written)
    if before:
        resuming = ", resuming" if before < len(ids) else ""
        logger.info("%s: %d of %d already translated%s", job.language, before, len(ids), resuming)
    job.output.start(job.settings, overwrite)
    started = time.perf_counter()
    with (
        job.output.appending() as append,
        tqdm(
            total=len(ids), initial=before, desc=f"translating {job.language}", unit="sentence", dynamic_ncols=True
        ) as bar,
    ):
        for batch in batches:
            if all(ids[row] in written for row in batch):
                continue
            texts = generate_translations(
                model, job.info.tokenizer, job.direction, [encoded[row] for row in batch], num_beams, max_new_tokens
            )
            new = [(ids[row], text) for row, text in zip(batch, texts) if ids[row] not in written]
            append(new)
            written.update(new)
            bar.update(len(new))
    seconds = time.perf_counter() - started
    translations = job.output.finish(ids)
    suspicious, ratio_statistics = suspicious_translations(sources, translations)
    summary = TranslationSummary(
        language=job.language,
        path=str(job.output.path),
        model=job.info.name,
        english_examples=len(ids),
        translated_now=len(translations) - before,
        written_before=before,
        seconds=round(seconds, 3),
        suspicious_counts=dict(Counter(item["reason"] for item in suspicious)),
    )
    write_json(job.output.report_path, {**summary.to_json(), **ratio_statistics, "suspicious": suspicious})
    speed = f", {summary.sentences_per_second} sentences/s" if summary.sentences_per_second else ""
    logger.info(
        "%s: %d translations (%d now in %.1f s%s, %d before) in %s",
        job.language,
        len(translations),
        summary.translated_now,
        seconds,
        speed,
        before,
        job.output.path,
    )
    if suspicious:
        counts = ", ".join(f"{count} {reason}" for reason, count in summary.suspicious_counts.items())
        logger.warning(
            "%s: %d suspicious translations (%s): see %s", job.language, len(suspicious), counts, job.output.report_path
        )
    return summary


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="translate_data.py",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("data_dir", help="a jsonl data folder; its en/train.jsonl is translated")
    parser.add_argument("--languages", nargs="+", required=True, help="target language codes (the folders written)")
    parser.add_argument(
        "--model",
        nargs="+",
        required=True,
        metavar="MODEL|LANG=MODEL",
        help="a Hub id or folder of a sequence-to-sequence model for every language (multilingual, such as NLLB-200 "
        "or M2M100), or one per language: LANG=MODEL, or a name with {lang} (Helsinki-NLP/opus-mt-en-{lang})",
    )
    parser.add_argument(
        "--language_codes",
        nargs="+",
        default=[],
        metavar="LANG=CODE",
        help="the model's code of a language where the automatic mapping does not find it (th=tha_Thai)",
    )
    parser.add_argument("--revision", help="the Hub revision (branch, tag or commit) of the models (default: main)")
    parser.add_argument("--num_beams", type=positive_int, default=4, help="beam size; 1 is greedy search (default: 4)")
    parser.add_argument(
        "--max_new_tokens", type=positive_int, default=128, help="the longest translation, in tokens (default: 128)"
    )
    parser.add_argument(
        "--batch_size", type=positive_int, default=32, help="sentences translated at once (default: 32)"
    )
    parser.add_argument("--device", help="a torch device (default: a GPU when there is one, else the CPU)")
    parser.add_argument(
        "--bf16",
        choices=["true", "false"],
        help="load the model in bf16 (default: where the device computes bf16 natively, a GPU with bf16 or a CPU with "
        "AVX512-BF16 or AMX; fp32 elsewhere)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="translate again, replacing existing translations.jsonl files"
    )
    return parser


def main(argv: list[str] | None = None) -> dict[str, TranslationSummary]:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.set_verbosity_warning()
    transformers.utils.logging.disable_progress_bar()  # ours names the language; loading bars say nothing more
    return translate_data(
        args.data_dir,
        args.languages,
        args.model,
        language_codes=parse_language_codes(args.language_codes),
        revision=args.revision,
        num_beams=args.num_beams,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        device=args.device,
        bf16=None if args.bf16 is None else args.bf16 == "true",
        overwrite=args.overwrite,
    )


def cli(argv: list[str] | None = None) -> int:
    """A mistake in the options or the data is one line on stderr (exit code 2, or 1 for a malformed data file);
    an interruption says how to continue (exit code 130)."""
    try:
        main(argv)
    except TranslationSetupError as error:
        print(f"translate_data.py: error: {error}", file=sys.stderr)
        return 2
    except DataFormatError as error:
        print(f"translate_data.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("translate_data.py: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
