"""Self-training (self_training.py): the teacher's label filters on hand-made labels, the labels placed on the
translation tokens, a teacher's labels against its own projection, rounds (round 2's teacher is round 1's student),
and run_xnlu.py end to end with its teacher_<lang>.jsonl."""

import json

import pytest
import torch
from test_run_xnlu import cli, write_mtod
from trainer_helpers import make_trainer, pair_dataset, tiny_model
from transformers import AutoTokenizer

import run_xnlu
from modeling_crossaligner import XLMRobertaForJointXNLU
from reporting import read_predictions
from self_training import (
    SelfTraining,
    TeacherLabels,
    filter_labels,
    label_translations,
    labelling_arguments,
    student_arguments,
    train_with_teacher,
    with_teacher_labels,
)
from trainer_crossaligner import CrossAlignerTrainer

OUT, DATETIME, LOCATION = 0, 1, 2  # slot label ids
X = -100

# Two translations: 4 and 3 units. The teacher's labels, their probabilities, the projection's labels, its intents.
TEACHER = TeacherLabels(
    unit_labels=[[OUT, DATETIME, DATETIME, LOCATION], [OUT, OUT, LOCATION]],
    unit_confidences=[[0.99, 0.95, 0.6, 0.91], [0.5, 0.97, 0.93]],
    projected_labels=[[OUT, DATETIME, OUT, X], [OUT, OUT, LOCATION]],
    intents=[1, 2],
    intent_confidences=[0.95, 0.7],
)
ENGLISH_INTENTS = [1, 0]


def test_no_filter_keeps_every_teacher_label():
    assert filter_labels(TEACHER, ENGLISH_INTENTS, "none", 0.9) == (TEACHER.unit_labels, TEACHER.intents)


def test_confidence_filter_unlabels_what_the_teacher_is_unsure_of():
    units, intents = filter_labels(TEACHER, ENGLISH_INTENTS, "confidence", 0.9)
    assert units == [[OUT, DATETIME, X, LOCATION], [X, OUT, LOCATION]]
    assert intents == [1, X]
    # The threshold is inclusive.
    assert filter_labels(TEACHER, ENGLISH_INTENTS, "confidence", 0.95)[0] == [[OUT, DATETIME, X, X], [X, OUT, X]]


def test_agreement_filter_keeps_the_labels_equal_to_the_projection_and_the_english_intent():
    units, intents = filter_labels(TEACHER, ENGLISH_INTENTS, "agreement", 0.9)
    # Unit 3 of pair 1: teacher DATETIME, projection O; unit 4: projection unlabelled, so no agreement.
    assert units == [[OUT, DATETIME, X, X], [OUT, OUT, LOCATION]]
    assert intents == [1, X]


def test_unknown_filter_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown teacher filter 'vote'"):
        filter_labels(TEACHER, ENGLISH_INTENTS, "vote", 0.9)
    with pytest.raises(ValueError, match=r"teacher confidence must be in \(0, 1\], got 1.5"):
        SelfTraining(filter="confidence", min_confidence=1.5)
    with pytest.raises(ValueError, match="at least 1 round"):
        SelfTraining(rounds=0)


def test_teacher_labels_go_on_the_unit_heads_of_the_translation_tokens(tiny_tokenizer):
    dataset = pair_dataset(tiny_tokenizer, count=2)
    units = [[DATETIME] * len(heads) for heads in dataset["translation_unit_heads"]]
    labelled = with_teacher_labels(dataset, units, [1, X])
    for row, heads in zip(labelled, dataset["translation_unit_heads"]):
        assert len(row["projected_slot_labels"]) == len(row["translation_input_ids"])
        assert [i for i, label in enumerate(row["projected_slot_labels"]) if label != X] == heads
    assert labelled["teacher_intent_labels"] == [1, X]
    # Applied again (a later round), the new labels replace the old ones.
    again = with_teacher_labels(labelled, [[OUT] * len(heads) for heads in dataset["translation_unit_heads"]], [0, 0])
    assert {label for row in again["projected_slot_labels"] for label in row} == {OUT, X}
    with pytest.raises(ValueError, match="teacher labels for a translation of"):
        with_teacher_labels(dataset, [[OUT], [OUT]], [0, 0])


def test_translate_intent_trains_on_the_teachers_intents_where_there_are_any(tmp_path, tiny_tokenizer):
    pairs_dataset = pair_dataset(tiny_tokenizer, count=4)
    outside = [[OUT] * len(heads) for heads in pairs_dataset["translation_unit_heads"]]
    trainer = make_trainer(
        tmp_path, train_dataset=pairs_dataset, tokenizer=tiny_tokenizer, alignment=["translate_intent"]
    )

    def loss(intents):
        dataset = with_teacher_labels(pairs_dataset, outside, intents)
        batch = trainer.data_collator([dataset[row] for row in range(len(dataset))])
        pairs = trainer.forward_pairs(trainer.model, batch)
        return trainer.alignment_loss("translate_intent", pairs, batch), pairs.outputs.intent_logits[pairs.translation]

    value, logits = loss([2, X, X, 0])
    expected = torch.nn.functional.cross_entropy(logits[[0, 3]], torch.tensor([2, 0]))
    torch.testing.assert_close(value, expected)
    value, _ = loss([X, X, X, X])  # nothing kept in the batch: no loss, still a graph to backpropagate
    assert value.item() == 0.0 and value.requires_grad


def test_a_teachers_labels_and_its_projection_cover_every_unit(tmp_path, tiny_tokenizer):
    dataset = pair_dataset(tiny_tokenizer, count=6)
    trainer = make_trainer(tmp_path, train_dataset=dataset, tokenizer=tiny_tokenizer, alignment=["projection"])
    labels = label_translations(trainer, dataset)
    units = [len(heads) for heads in dataset["translation_unit_heads"]]
    assert [len(row) for row in labels.unit_labels] == units
    assert [len(row) for row in labels.projected_labels] == units
    assert all(0 < value <= 1 for row in labels.unit_confidences for value in row)
    assert len(labels.intents) == len(dataset) and all(0 < value <= 1 for value in labels.intent_confidences)
    # The projection is the trainer's own (projection.py), taken at the unit heads.
    projected, _ = trainer.project_dataset(dataset)
    expected = [[row[head] for head in heads] for row, heads in zip(projected, dataset["translation_unit_heads"])]
    assert labels.projected_labels == expected


def test_a_student_trains_with_the_runs_losses_and_the_teachers_labels(tmp_path):
    args = make_trainer(tmp_path, alignment=["xeroalign"]).args
    student = student_arguments(args, tmp_path / "student")
    assert student.alignment == ["xeroalign", "translate_intent", "projection"]
    assert student.projection_refresh == "never" and student.output_dir == str(tmp_path / "student")
    assert labelling_arguments(args).alignment == ["projection"]


def test_round_two_is_taught_by_round_ones_student(tmp_path, tiny_tokenizer):
    dataset = pair_dataset(tiny_tokenizer, count=8)
    trainer = make_trainer(tmp_path, train_dataset=dataset, tokenizer=tiny_tokenizer, alignment=["xeroalign"])
    run = train_with_teacher(trainer, lambda: tiny_model(tiny_tokenizer, seed=1), SelfTraining(filter="none", rounds=2))
    assert (tmp_path / "teacher-1" / "model.safetensors").is_file()
    assert (tmp_path / "teacher-2" / "model.safetensors").is_file()
    assert run.student.args.output_dir == str(tmp_path) and len(run.kept) == 2
    assert run.kept[0] == {"units": 1.0, "intents": 1.0}  # no filter
    records = run.records["es"]
    assert [record["round"] for record in records] == [1] * len(dataset) + [2] * len(dataset)

    # Round 2's labels are those of round 1's student (saved as teacher-2), not of round 1's teacher.
    def teacher_tags(folder):
        model = XLMRobertaForJointXNLU.from_pretrained(folder)
        labelling = CrossAlignerTrainer(
            model=model, args=labelling_arguments(trainer.args), processing_class=tiny_tokenizer
        )
        labels = label_translations(labelling, dataset)
        return [[model.config.slot_labels[label] for label in row] for row in labels.unit_labels]

    def io(tags):
        return [tag[2:] if tag[:2] in ("B-", "I-") else tag for tag in tags]

    round_two = [io(record["teacher_tags"]) for record in records[len(dataset) :]]
    assert round_two == teacher_tags(tmp_path / "teacher-2")
    assert [io(record["teacher_tags"]) for record in records[: len(dataset)]] == teacher_tags(tmp_path / "teacher-1")
    # The last student trained on round 2's labels (no filter: every intent).
    intent_labels = run.student.model.config.intent_labels
    expected = [intent_labels.index(record["teacher_intent"]) for record in records[len(dataset) :]]
    assert run.student.train_dataset["teacher_intent_labels"] == expected


@pytest.fixture(scope="module")
def mtod_like(tmp_path_factory):
    return write_mtod(tmp_path_factory.mktemp("mtod_like"))


def test_self_training_run_writes_its_teacher_labels(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "run"
    options = ["--alignment", "projection", "--target_languages", "es", "--self_training", "true"]
    results = run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, *options, "--teacher_filter", "agreement"))

    assert "self-training (agreement filter, 1 round)" in results.describe()
    saved = json.loads((output_dir / "results.json").read_text())["self_training"]
    assert saved["teacher"] == "trained with projection" and saved["rounds"] == 1
    assert saved["student_alignment"] == ["translate_intent", "projection"]
    assert (output_dir / "teacher-1" / "model.safetensors").is_file() and (output_dir / "model.safetensors").is_file()
    assert not list(output_dir.glob("projected_*.jsonl"))  # the teacher's labels replace the projected tags

    records = read_predictions(output_dir / "teacher_es.jsonl")
    assert len(records) == 36  # every English training example's Spanish translation
    for record in records:
        assert (
            len(record["tags"]) == len(record["teacher_tags"]) == len(record["projected_tags"]) == len(record["words"])
        )
        assert len(record["teacher_confidences"]) == len(record["words"])
        # Agreement: a label is trained on only where teacher and projection agree.
        for tag, teacher, projected in zip(record["tags"], record["teacher_tags"], record["projected_tags"]):
            if tag is not None:
                assert teacher is not None and projected is not None and tag[2:] == teacher[2:] == projected[2:]
        assert record["intent"] in (None, record["english_intent"])
    units = sum(len(record["tags"]) for record in records)
    kept = sum(tag is not None for record in records for tag in record["tags"])
    assert saved["kept"][0]["units"] == pytest.approx(kept / units)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--teacher_filter", "none"], "--teacher_filter only applies with --self_training true"),
        (
            ["--self_training", "true", "--teacher_confidence", "0.8"],
            "--teacher_confidence only applies with --teacher_filter confidence, not agreement",
        ),
        (
            ["--self_training", "true", "--teacher_filter", "confidence", "--teacher_confidence", "0"],
            "--teacher_confidence 0.0: expected a probability in (0, 1]",
        ),
        (["--self_training", "true", "--self_training_rounds", "0"], "--self_training_rounds 0: expected at least 1"),
        (["--self_training", "true", "--teacher_filter", "vote"], "invalid choice: 'vote'"),
        (["--self_training", "true", "--alignment", "none"], "--self_training trains on the translations"),
        (["--self_training", "true", "--teacher_model", "./no/such/model"], "--teacher_model ./no/such/model: no such"),
    ],
)
def test_bad_self_training_options_say_what_is_expected(tiny_encoder, mtod_like, tmp_path, extra, message, capsys):
    with pytest.raises((ValueError, SystemExit)) as error:
        run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "out", "--alignment", "projection", *extra))
    assert message in str(error.value) + capsys.readouterr().err


def test_teacher_model_must_be_a_trained_joint_model(tiny_encoder, mtod_like, tmp_path):
    with pytest.raises(ValueError, match="--teacher_model .*: not a trained joint model"):
        run_xnlu.main(
            cli(
                tiny_encoder,
                mtod_like,
                tmp_path / "out",
                "--alignment",
                "projection",
                "--self_training",
                "true",
                "--teacher_model",
                str(tiny_encoder),
            )
        )


def test_a_one_model_per_language_run_teaches_each_language_its_own_model(tiny_encoder, mtod_like, tmp_path):
    per_language = ["--target_languages", "es", "de", "--one_model_per_language", "true"]
    run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "teacher", "--alignment", "projection", *per_language))
    results = run_xnlu.main(
        cli(
            tiny_encoder,
            mtod_like,
            tmp_path / "student",
            "--alignment",
            "projection",
            *per_language,
            "--self_training",
            "true",
            "--teacher_model",
            str(tmp_path / "teacher"),
            "--teacher_filter",
            "none",
        )
    )
    assert results.self_training["teacher"] == str(tmp_path / "teacher")
    for language in ("es", "de"):
        assert not (tmp_path / "student" / language / "teacher-1").exists()  # given, not trained
        records = read_predictions(tmp_path / "student" / language / f"teacher_{language}.jsonl")
        assert all(record["tags"] == record["teacher_tags"] for record in records)  # no filter: every label
        # The labels are that language's own teacher's: its intent probability on each translation.
        teacher = tmp_path / "teacher" / language
        model, tokenizer = XLMRobertaForJointXNLU.from_pretrained(teacher), AutoTokenizer.from_pretrained(teacher)
        for record in records[:5]:
            with torch.no_grad():
                logits = model(**tokenizer(" ".join(record["words"]), return_tensors="pt")).intent_logits
            probability, intent = logits.softmax(dim=-1).max(dim=-1)
            assert record["teacher_intent"] == model.config.intent_labels[int(intent)]
            assert record["teacher_intent_confidence"] == pytest.approx(float(probability), abs=1e-3)


def test_the_suite_runs_a_self_training_methods_teacher_first(tmp_path, capsys):
    from benchmarks import mtod_suite

    mtod_suite.run_suite(["--output_dir", str(tmp_path), "--methods", "self_training_agreement", "--print_commands"])
    commands = [line for line in capsys.readouterr().out.splitlines() if "run_xnlu.py" in line]
    assert len(commands) == 2
    assert str(tmp_path / "projection_xeroalign") in commands[0] and "--self_training" not in commands[0]
    assert f"--teacher_model {tmp_path / 'projection_xeroalign'}" in commands[1]
    assert "--self_training true --one_model_per_language true --teacher_filter agreement" in commands[1]
