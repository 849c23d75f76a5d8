# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Which data one model's run reads, and how: the `RunPlan` (target, training and scored languages; the splits to
open), the target languages checked against the data, and the encoded training and scoring sets."""

from __future__ import annotations

from dataclasses import dataclass

import datasets

import data
from crossaligner_config import CrossAlignerTrainingArguments
from run_arguments import TARGET, ScriptArguments, UsageError, closest


@dataclass
class RunPlan:
    """What one model's run reads and does."""

    targets: list[str]  # target languages: aligned to, and evaluated on
    train_languages: list[str]  # languages whose labelled training data is read
    eval_languages: list[str]  # languages scored (train languages first)
    aligned: bool

    def splits(self, training_args: CrossAlignerTrainingArguments, source: str) -> dict[str, list[str]]:
        """Language -> the splits this run opens: labelled training data only of the training languages."""
        splits: dict[str, list[str]] = {}
        if training_args.do_train:
            for language in self.train_languages:
                splits.setdefault(language, []).append("train")
            if training_args.eval_strategy != "no":
                splits.setdefault(source, []).append("dev")
            if self.aligned:
                splits.setdefault(source, []).append("train")
        for action, split in ((training_args.do_eval, "dev"), (training_args.do_predict, "test")):
            if action:
                for language in self.eval_languages:
                    splits.setdefault(language, []).append(split)
        return {language: sorted(set(parts)) for language, parts in splits.items()}


def make_plan(
    script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments, targets: list[str], source: str
) -> RunPlan:
    train_languages = list(targets) if script_args.train_languages == [TARGET] else list(script_args.train_languages)
    aligned = bool(training_args.alignment) and training_args.do_train
    if aligned and train_languages != [source]:
        raise ValueError(f"aligned training uses the {source} labelled data only: use --train_languages {source}")
    scored = [*train_languages, *(language for language in targets if language not in train_languages)]
    return RunPlan(targets=list(targets), train_languages=train_languages, eval_languages=scored, aligned=aligned)


def target_languages(script_args: ScriptArguments) -> list[str]:
    """The requested target languages (each must be in the data), or every language of the data but English."""
    available = data.available_languages(script_args.dataset, script_args.data_dir)
    if not script_args.target_languages:
        return [language for language in available if language != "en"]
    for language in script_args.target_languages:
        # A reader may take a longer form of its codes (MASSIVE: de-DE for de).
        if not {language, language.lower(), language.split("-")[0].lower()} & set(available):
            where = f" in {script_args.data_dir}" if script_args.data_dir else ""
            raise UsageError(
                f"--target_languages {language}: {script_args.dataset}{where} has no language {language!r}; it has "
                f"{', '.join(available)}{closest(language, available)}"
            )
    return list(dict.fromkeys(script_args.target_languages))


def sample(rows: datasets.Dataset, count: int | None, seed: int) -> datasets.Dataset:
    """A seeded random sample of `count` rows (all rows when `count` is None or larger). The same seed and row count
    give the same rows, so aligned and zero-shot runs sample the same English examples."""
    if count is None or count >= len(rows):
        return rows
    return rows.shuffle(seed=seed).select(range(count))


def first(rows: datasets.Dataset, count: int | None) -> datasets.Dataset:
    return rows if count is None else rows.select(range(min(count, len(rows))))


def build_training_set(
    corpus: data.XNLUCorpus, plan: RunPlan, encode: dict, script_args: ScriptArguments, seed: int
) -> datasets.Dataset:
    """Aligned: every (sampled) English example with its translation into each target language (data.encode_pairs;
    which pairs an epoch uses is the trainer's PairSampler). Otherwise the labelled training sets."""
    if plan.aligned:
        missing = [language for language in plan.targets if language not in corpus.translations]
        if missing:
            raise ValueError(
                f"alignment needs translations of the English training data into every target language; "
                f"{script_args.dataset} has none for {missing}. Choose --target_languages or --alignment none."
            )
        english = sample(corpus.labelled[corpus.source_language]["train"], script_args.max_train_samples, seed)
        return data.encode_pairs(english, corpus.translations, target_languages=plan.targets, **encode)
    return datasets.concatenate_datasets(
        [
            sample(
                data.encode_labelled(corpus.labelled[language]["train"], **encode), script_args.max_train_samples, seed
            )
            for language in plan.train_languages
        ]
    )


def scoring_sets(
    corpus: data.XNLUCorpus, plan: RunPlan, split: str, count: int | None, encode: dict, script_args: ScriptArguments
) -> dict[str, datasets.Dataset]:
    sets = {}
    for language in plan.eval_languages:
        if split not in corpus.labelled[language]:
            raise ValueError(f"{script_args.dataset}: language {language!r} has no {split} split")
        sets[language] = data.encode_labelled(first(corpus.labelled[language][split], count), **encode)
    return sets
