"""Which pairs an epoch trains on and in what order: pairings, grouping by length, and evaluation order."""

import numpy as np
import pytest
from trainer_helpers import labelled_dataset, make_trainer, pair_dataset

from xnlu_batching import PairSampler

BATCH = 8


def synthetic_pairs(examples: int = 200, languages=("de", "es", "th"), seed: int = 0):
    """Row ids, languages and lengths of `examples` English examples each paired with every language."""
    rng = np.random.default_rng(seed)
    ids = [f"en-{index}" for index in range(examples) for _ in languages]
    row_languages = [language for _ in range(examples) for language in languages]
    lengths = [int(length) for length in rng.integers(4, 40, size=len(ids))]
    return ids, row_languages, lengths


def padded_tokens(rows: list[int], lengths: list[int]) -> int:
    return sum(
        max(lengths[row] for row in rows[start : start + BATCH]) * len(rows[start : start + BATCH])
        for start in range(0, len(rows), BATCH)
    )


@pytest.mark.parametrize("pairing", ["rotate", "all"])
def test_grouping_by_length_trains_each_epoch_on_the_same_pairs_with_less_padding(pairing):
    ids, languages, lengths = synthetic_pairs()
    shuffled = PairSampler(ids, languages, pairing, seed=3)
    grouped = PairSampler(ids, languages, pairing, seed=3, lengths=lengths, batch_size=BATCH)
    for epoch in range(4):
        random_rows, grouped_rows = shuffled.epoch_rows(epoch), grouped.epoch_rows(epoch)
        assert sorted(grouped_rows) == sorted(random_rows)  # the same pairs, in another order
        assert grouped_rows != random_rows
        assert padded_tokens(grouped_rows, lengths) < 0.8 * padded_tokens(random_rows, lengths)
        # Deterministic (every process draws the same order) and new each epoch.
        assert grouped_rows == PairSampler(ids, languages, pairing, 3, lengths, BATCH).epoch_rows(epoch)
        assert grouped_rows != grouped.epoch_rows(epoch + 1)
    assert grouped.pairs_seen(3) == shuffled.pairs_seen(3)


def test_grouping_needs_a_length_per_row_and_a_batch_size():
    ids, languages, lengths = synthetic_pairs(10)
    with pytest.raises(ValueError, match="a length per row"):
        PairSampler(ids, languages, lengths=lengths[:-1], batch_size=BATCH)
    with pytest.raises(ValueError, match="a batch size"):
        PairSampler(ids, languages, lengths=lengths)


def test_the_trainer_groups_pairs_by_the_longer_side_when_asked(tmp_path, tiny_tokenizer):
    pairs = pair_dataset(tiny_tokenizer, count=40)
    trainer = make_trainer(
        tmp_path, pairs, tiny_tokenizer, train_sampling_strategy="group_by_length", per_device_train_batch_size=4
    )
    sampler = trainer._get_train_sampler()
    expected = [max(len(a), len(b)) for a, b in zip(pairs["input_ids"], pairs["translation_input_ids"])]
    assert sampler.lengths == expected and sampler.batch_size == 4
    assert make_trainer(tmp_path, pairs, tiny_tokenizer)._get_train_sampler().lengths is None  # random: as before
    with pytest.raises(ValueError, match="'sequential' is not available for training on pairs"):
        make_trainer(tmp_path, pairs, tiny_tokenizer, train_sampling_strategy="sequential")._get_train_sampler()


def test_evaluation_keeps_the_dataset_order_when_training_groups_by_length(tmp_path, tiny_tokenizer):
    """transformers would group (and shuffle) evaluation sets too; predictions are scored row by row against the
    dataset, so the scores must not depend on the training sampler."""
    spanish = labelled_dataset(tiny_tokenizer, count=40, language="es", seed=4)
    results = [
        make_trainer(
            tmp_path / strategy,
            tokenizer=tiny_tokenizer,
            train_sampling_strategy=strategy,
            per_device_eval_batch_size=8,
        ).evaluate_languages({"es": spanish})
        for strategy in ("random", "group_by_length")
    ]
    random_order, grouped = results
    assert grouped.predictions == random_order.predictions
    assert grouped.scores == random_order.scores


def test_a_few_batches_sorted_together_keep_batches_mixed_and_still_pad_less():
    ids, languages, lengths = synthetic_pairs()
    shuffled = PairSampler(ids, languages, "all", seed=3).epoch_rows(0)
    default = PairSampler(ids, languages, "all", seed=3, lengths=lengths, batch_size=BATCH).epoch_rows(0)
    small = PairSampler(ids, languages, "all", seed=3, lengths=lengths, batch_size=BATCH, group_batches=2)
    rows = small.epoch_rows(0)
    assert sorted(rows) == sorted(shuffled)
    # Each mega-batch of 2 batches is sorted longest first (transformers then swaps the longest row of all to the
    # very front, which only touches the first row of two mega-batches).
    for start in range(0, len(rows), 2 * BATCH):
        group = [lengths[row] for row in rows[start : start + 2 * BATCH]][1:]
        assert group == sorted(group, reverse=True)
    assert padded_tokens(default, lengths) < padded_tokens(rows, lengths) < padded_tokens(shuffled, lengths)


def test_the_trainer_passes_how_many_batches_are_sorted_together(tmp_path, tiny_tokenizer):
    pairs = pair_dataset(tiny_tokenizer, count=40)
    sampler = make_trainer(
        tmp_path, pairs, tiny_tokenizer, train_sampling_strategy="group_by_length", length_group_batches=3
    )._get_train_sampler()
    assert sampler.group_batches == 3


def test_scoring_in_length_order_returns_the_rows_in_the_dataset_order(tmp_path, tiny_tokenizer):
    """Scoring predicts the shortest examples first (less padding) and puts the rows back: the predictions are those
    of one example at a time, in the dataset's order."""
    spanish = labelled_dataset(tiny_tokenizer, count=30, language="es", seed=5)
    assert len({len(ids) for ids in spanish["input_ids"]}) > 1
    trainer = make_trainer(
        tmp_path,
        labelled_dataset(tiny_tokenizer, count=40, language="en"),
        tiny_tokenizer,
        max_steps=30,
        learning_rate=3e-2,
        alignment=["none"],
    )
    trainer.train()
    by_batch_size = {}
    for size in (8, 1):
        trainer.args.per_device_eval_batch_size = size
        by_batch_size[size] = trainer.evaluate_languages({"es": spanish}).predictions["es"]
    batched = by_batch_size[8]
    assert len({(p["intent"], tuple(p["tags"])) for p in batched}) > 3  # a model whose predictions tell rows apart
    assert [prediction["id"] for prediction in batched] == list(spanish["id"])
    assert batched == by_batch_size[1]
