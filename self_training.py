# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Self-training on the translations (beyond the paper): a teacher labels every translation of the training set with
its own slot tags and intent, and a student trains on those labels.

Round k: the teacher (round 1: a model trained with the run's alignment losses, or a given trained model; round
k > 1: round k-1's student) predicts, for every (English example, translation) pair, the slot label of each
translation unit and the translation's intent, each with its probability; the English tags are also projected onto
the translation with the teacher's own hidden states (projection.py). A filter chooses what the student trains on:

- `none`: every predicted label;
- `confidence`: the unit labels and intents predicted with probability at least `min_confidence`;
- `agreement`: the unit labels equal to the projection's (a unit the projection leaves unlabelled stays unlabelled)
  and the intents equal to the English example's.

Labels filtered out are -100 (no loss), never O. The student, a new model from the run's encoder, trains with the
run's alignment losses plus `projection` and `translate_intent` on the teacher's labels (in place of the projected
tags and the English intent) beside the English loss. No target-language label is read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from transformers import set_seed
from transformers.trainer_utils import TrainOutput

from crossaligner_config import CrossAlignerTrainingArguments, parse_alignment
from modeling_crossaligner import IGNORE_INDEX, XLMRobertaForJointXNLU
from projection import bio_with_gaps, projected_records
from trainer_crossaligner import CrossAlignerTrainer

logger = logging.getLogger(__name__)

FILTERS = ("none", "confidence", "agreement")
# The dataset column of the teacher's intents (-100: filtered out); its slot labels take `projected_slot_labels`.
TEACHER_INTENT_COLUMN = "teacher_intent_labels"


@dataclass
class TeacherLabels:
    """A teacher's predictions on the translations of a set of pairs, one entry per pair: the slot label id and
    probability of each translation unit, the projection's label id of each unit (-100: unlabelled), the intent id
    and its probability."""

    unit_labels: list[list[int]] = field(default_factory=list)
    unit_confidences: list[list[float]] = field(default_factory=list)
    projected_labels: list[list[int]] = field(default_factory=list)
    intents: list[int] = field(default_factory=list)
    intent_confidences: list[float] = field(default_factory=list)


@dataclass
class SelfTraining:
    """The settings of self-training: the filter (FILTERS), its confidence threshold and the number of rounds."""

    filter: str = "agreement"
    min_confidence: float = 0.9
    rounds: int = 1

    def __post_init__(self):
        if self.filter not in FILTERS:
            raise ValueError(f"unknown teacher filter {self.filter!r}; valid: {', '.join(FILTERS)}")
        if not 0.0 < self.min_confidence <= 1.0:
            raise ValueError(f"teacher confidence must be in (0, 1], got {self.min_confidence}")
        if self.rounds < 1:
            raise ValueError(f"self-training needs at least 1 round, got {self.rounds}")


@dataclass
class SelfTrainingRun:
    """What self-training produced: the last round's student (its trainer), the labels each teacher wrote (per target
    language, every round's records in order) and, per round, the fractions of unit labels and intents kept."""

    student: CrossAlignerTrainer
    train_output: TrainOutput
    records: dict[str, list[dict]]
    kept: list[dict[str, float]]

    def summary(self, settings: SelfTraining, teacher: str) -> dict:
        """For results.json: the first teacher (in words), the filter, the rounds, the student's losses and what each
        round's filter kept."""
        return {
            "teacher": teacher,
            "filter": settings.filter,
            "min_confidence": settings.min_confidence if settings.filter == "confidence" else None,
            "rounds": settings.rounds,
            "student_alignment": list(self.student.args.alignment),
            "kept": self.kept,
        }


def filter_labels(
    teacher: TeacherLabels, english_intents: Sequence[int], filter: str, min_confidence: float
) -> tuple[list[list[int]], list[int]]:
    """The unit labels and intents the student trains on (-100 where the filter drops the teacher's label)."""
    if filter not in FILTERS:
        raise ValueError(f"unknown teacher filter {filter!r}; valid: {', '.join(FILTERS)}")
    if filter == "none":
        return [list(units) for units in teacher.unit_labels], list(teacher.intents)
    if filter == "confidence":
        units = [
            [
                label if confidence >= min_confidence else IGNORE_INDEX
                for label, confidence in zip(labels, confidences, strict=True)
            ]
            for labels, confidences in zip(teacher.unit_labels, teacher.unit_confidences, strict=True)
        ]
        intents = [
            intent if confidence >= min_confidence else IGNORE_INDEX
            for intent, confidence in zip(teacher.intents, teacher.intent_confidences, strict=True)
        ]
        return units, intents
    units = [
        [label if label == projected else IGNORE_INDEX for label, projected in zip(labels, projection, strict=True)]
        for labels, projection in zip(teacher.unit_labels, teacher.projected_labels, strict=True)
    ]
    intents = [
        intent if intent == english else IGNORE_INDEX
        for intent, english in zip(teacher.intents, english_intents, strict=True)
    ]
    return units, intents


def label_translations(labelling: CrossAlignerTrainer, dataset: datasets.Dataset) -> TeacherLabels:
    """The teacher's predictions on every translation of `dataset` (data.encode_pairs rows), and the English tags
    projected with its hidden states; `labelling` is a trainer of the teacher whose alignment includes projection."""
    model = labelling.accelerator.unwrap_model(labelling.model)
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=labelling.args.per_device_eval_batch_size, collate_fn=labelling.data_collator
    )
    labels = TeacherLabels()
    training = model.training
    model.eval()
    # In the run's precision (bf16 autocast where chosen), as training aligns and predicts.
    with torch.no_grad(), labelling.autocast_smart_context_manager():
        for batch in loader:
            batch = {name: value.to(device) for name, value in batch.items()}
            pairs = labelling.forward_pairs(model, batch)
            projected, _ = labelling.project_pairs(pairs, batch)
            slot_probabilities = pairs.outputs.slot_logits[pairs.translation].float().softmax(dim=-1)
            intent_confidences, intents = pairs.outputs.intent_logits[pairs.translation].float().softmax(dim=-1).max(-1)
            for row, heads in enumerate(batch["translation_unit_heads"]):
                heads = heads[heads >= 0]
                confidences, units = slot_probabilities[row, heads].max(dim=-1)
                labels.unit_labels.append(units.tolist())
                labels.unit_confidences.append(confidences.tolist())
                labels.projected_labels.append(projected[row, heads].tolist())
            labels.intents += intents.tolist()
            labels.intent_confidences += intent_confidences.tolist()
    model.train(training)
    return labels


def with_teacher_labels(
    dataset: datasets.Dataset, unit_labels: Sequence[Sequence[int]], intents: Sequence[int]
) -> datasets.Dataset:
    """`dataset` with the teacher's labels as training targets: `projected_slot_labels` (per translation token;
    -100 except on unit heads) and `teacher_intent_labels`, replacing any earlier ones."""
    token_labels = []
    for input_ids, heads, units in zip(
        dataset["translation_input_ids"], dataset["translation_unit_heads"], unit_labels
    ):
        if len(heads) != len(units):
            raise ValueError(f"{len(units)} teacher labels for a translation of {len(heads)} units")
        row = [IGNORE_INDEX] * len(input_ids)
        for head, label in zip(heads, units):
            row[head] = label
        token_labels.append(row)
    replaced = [name for name in ("projected_slot_labels", TEACHER_INTENT_COLUMN) if name in dataset.column_names]
    dataset = dataset.remove_columns(replaced)
    return dataset.add_column("projected_slot_labels", token_labels).add_column(TEACHER_INTENT_COLUMN, list(intents))


def teacher_records(
    dataset: datasets.Dataset,
    teacher: TeacherLabels,
    unit_labels: Sequence[Sequence[int]],
    intents: Sequence[int],
    tokenizer,
    config,
    round_number: int,
) -> dict[str, list[dict]]:
    """Per target language, one record per pair for `teacher_<lang>.jsonl`: projection.py's record of what the
    student trains on (`words`, `tags`: None where filtered out, the English words and tags) plus the teacher's own
    tags and their probabilities, the projection's tags, and the intents."""
    trained = with_teacher_labels(dataset, unit_labels, intents)
    records = projected_records(trained, trained["projected_slot_labels"], tokenizer, config.slot_labels)
    english_intents = dataset["intent"]
    rows_by_language: dict[str, list[int]] = {}
    for row, language in enumerate(dataset["translation_language"]):
        rows_by_language.setdefault(language, []).append(row)

    def tags(labels: Sequence[int]) -> list[str | None]:
        return bio_with_gaps([None if label == IGNORE_INDEX else config.slot_labels[label] for label in labels])

    def intent_name(intent: int) -> str | None:
        return None if intent == IGNORE_INDEX else config.intent_labels[intent]

    for language, rows in rows_by_language.items():
        for record, row in zip(records[language], rows):
            record.update(
                round=round_number,
                teacher_tags=tags(teacher.unit_labels[row]),
                teacher_confidences=[round_probability(value) for value in teacher.unit_confidences[row]],
                projected_tags=tags(teacher.projected_labels[row]),
                english_intent=english_intents[row],
                teacher_intent=intent_name(teacher.intents[row]),
                teacher_intent_confidence=round_probability(teacher.intent_confidences[row]),
                intent=intent_name(intents[row]),
            )
    return records


def round_probability(value: float) -> float:
    return round(value, 4)


def kept_fractions(unit_labels: Sequence[Sequence[int]], intents: Sequence[int]) -> dict[str, float]:
    """The fractions of translation units and of intents that keep a label after the filter."""
    units = [label for labels in unit_labels for label in labels]
    return {
        "units": sum(label != IGNORE_INDEX for label in units) / max(len(units), 1),
        "intents": sum(intent != IGNORE_INDEX for intent in intents) / max(len(intents), 1),
    }


def labelling_arguments(args: CrossAlignerTrainingArguments) -> CrossAlignerTrainingArguments:
    """The run's arguments for a teacher that labels: the projection alignment (its hidden states project the English
    tags, with the run's projection settings)."""
    return dataclasses.replace(args, alignment=["projection"], weighting="sum")


def student_arguments(args: CrossAlignerTrainingArguments, output_dir: Path) -> CrossAlignerTrainingArguments:
    """The run's arguments for a student: its alignment losses plus projection and translate_intent, which train on
    the teacher's fixed labels; saved in `output_dir`."""
    alignment = parse_alignment([*args.alignment, "projection", "translate_intent"])
    return dataclasses.replace(args, output_dir=str(output_dir), alignment=alignment, projection_refresh="never")


def train_with_teacher(
    trainer: CrossAlignerTrainer,
    new_model: Callable[[], XLMRobertaForJointXNLU],
    settings: SelfTraining,
    teacher: XLMRobertaForJointXNLU | None = None,
) -> SelfTrainingRun:
    """Self-training on `trainer`'s training pairs, with its arguments: round 1's teacher is `teacher`, or
    `trainer`'s model trained with the run's alignment losses (saved in <output_dir>/teacher-1); each round's student
    is `new_model()` (seeded with the run's seed) and the next round's teacher (saved in <output_dir>/teacher-<k+1>);
    the last round's student is trained for the run's output_dir and returned, not saved."""
    args, dataset, tokenizer = trainer.args, trainer.train_dataset, trainer.processing_class
    output_dir = Path(args.output_dir)
    if teacher is None:
        logger.info(
            "self-training: training the teacher (%s) in %s", " + ".join(args.alignment), output_dir / "teacher-1"
        )
        teacher_trainer = CrossAlignerTrainer(
            model=trainer.model,
            args=dataclasses.replace(args, output_dir=str(output_dir / "teacher-1")),
            train_dataset=dataset,
            eval_dataset=trainer.eval_dataset,
            processing_class=tokenizer,
        )
        teacher_trainer.train()
        teacher_trainer.save_model()
        teacher = teacher_trainer.accelerator.unwrap_model(teacher_trainer.model)
    records: dict[str, list[dict]] = {}
    kept = []
    for round_number in range(1, settings.rounds + 1):
        labelling = CrossAlignerTrainer(model=teacher, args=labelling_arguments(args), processing_class=tokenizer)
        labels = label_translations(labelling, dataset)
        unit_labels, intents = filter_labels(labels, dataset["intent_labels"], settings.filter, settings.min_confidence)
        kept.append(kept_fractions(unit_labels, intents))
        logger.info(
            "self-training round %d/%d: the teacher's labels kept by the %s filter: %.1f%% of the translation units, "
            "%.1f%% of the intents",
            round_number,
            settings.rounds,
            settings.filter,
            100 * kept[-1]["units"],
            100 * kept[-1]["intents"],
        )
        round_records = teacher_records(dataset, labels, unit_labels, intents, tokenizer, teacher.config, round_number)
        for language, language_records in round_records.items():
            records.setdefault(language, []).extend(language_records)
        last = round_number == settings.rounds
        set_seed(args.seed)  # every student starts from the same new heads
        student = CrossAlignerTrainer(
            model=new_model(),
            args=student_arguments(args, output_dir if last else output_dir / f"teacher-{round_number + 1}"),
            train_dataset=with_teacher_labels(dataset, unit_labels, intents),
            eval_dataset=trainer.eval_dataset,
            processing_class=tokenizer,
        )
        train_output = student.train()
        if not last:
            student.save_model()
            teacher = student.accelerator.unwrap_model(student.model)
    return SelfTrainingRun(student=student, train_output=train_output, records=records, kept=kept)
