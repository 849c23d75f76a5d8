"""Tiny in-memory XNLU data and trainers for the trainer tests and tests/ddp_worker.py (nothing is downloaded)."""

from __future__ import annotations

import random

import datasets
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model, build_tiny_tokenizer

from crossaligner_config import CrossAlignerTrainingArguments
from data.encoding import encode_labelled, encode_pairs
from trainer_crossaligner import CrossAlignerTrainer

MAX_SEQ_LENGTH = 16
# (words, BIO tags, intent) templates; the random generator picks and varies them.
_TEMPLATES = [
    ("wake me up at nine am", "O O O O B-datetime I-datetime", "alarm/set_alarm"),
    ("set alarm seven tomorrow morning", "O O B-datetime I-datetime I-datetime", "alarm/set_alarm"),
    ("what is the weather in boston", "O O O B-weather/noun O B-location", "weather/find"),
    (
        "tell me the weather report for denver tomorrow",
        "O O O B-weather/noun O O B-location B-datetime",
        "weather/find",
    ),
    ("remind me to call mom tomorrow", "O O O O O B-datetime", "reminder/set_reminder"),
    ("remind me at seven pm", "O O O B-datetime I-datetime", "reminder/set_reminder"),
]
_TRANSLATION_WORDS = (
    "despierta alarma pon las siete mañana hoy tiempo en la el de madrid wetter berlin weck mich um".split()
)


def english_examples(count: int, seed: int = 0, language: str = "en") -> datasets.Dataset:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        words, tags, intent = rng.choice(_TEMPLATES)
        rows.append(
            {
                "id": f"{language}-{index}",
                "language": language,
                "words": words.split(),
                "tags": tags.split(),
                "intent": intent,
            }
        )
    return datasets.Dataset.from_list(rows)


def translations(english: datasets.Dataset, seed: int = 1) -> datasets.Dataset:
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(_TRANSLATION_WORDS, k=rng.randint(3, 9))) for _ in range(len(english))]
    return datasets.Dataset.from_dict({"id": english["id"], "text": texts})


def pair_dataset(tokenizer, count: int = 24, seed: int = 0) -> datasets.Dataset:
    english = english_examples(count, seed)
    return encode_pairs(
        english, {"es": translations(english, seed + 1)}, tokenizer, INTENTS, SLOT_LABELS, MAX_SEQ_LENGTH
    )


def labelled_dataset(tokenizer, count: int = 12, seed: int = 0, language: str = "es") -> datasets.Dataset:
    return encode_labelled(english_examples(count, seed, language), tokenizer, INTENTS, SLOT_LABELS, MAX_SEQ_LENGTH)


def tiny_model(tokenizer, seed: int = 0, **overrides):
    return build_tiny_model(tokenizer, INTENTS, SLOT_LABELS, seed=seed, max_seq_length=MAX_SEQ_LENGTH, **overrides)


def make_trainer(
    output_dir,
    train_dataset=None,
    tokenizer=None,
    seed: int = 0,
    callbacks=None,
    eval_dataset=None,
    trainer_class=CrossAlignerTrainer,
    model_overrides=None,
    **arguments,
):
    """A CrossAlignerTrainer (or subclass) on the tiny model (its config changed by `model_overrides`), CPU, no
    reporting; `arguments` override the training arguments."""
    tokenizer = tokenizer or build_tiny_tokenizer()
    settings = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_steps=4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
    )
    settings.update(arguments)
    args = CrossAlignerTrainingArguments(**settings)
    return trainer_class(
        model=tiny_model(tokenizer, seed, **(model_overrides or {})),
        args=args,
        processing_class=tokenizer,
        callbacks=callbacks,
        train_dataset=train_dataset if train_dataset is not None else pair_dataset(tokenizer),
        eval_dataset=eval_dataset,
    )
