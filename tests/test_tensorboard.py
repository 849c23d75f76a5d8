"""--report_to tensorboard: every loss and weight the trainer logs is in TensorBoard's event files, read back with
TensorBoard's own reader; a missing tensorboard package is a one-line error before anything is loaded."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_run_xnlu import cli
from trainer_helpers import make_trainer

import run_arguments
import run_xnlu
from run_arguments import UsageError

ALIGNMENT = ["crossaligner", "xeroalign"]


def test_every_logged_loss_and_weight_is_in_the_event_files(tmp_path, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path, tokenizer=tiny_tokenizer, alignment=ALIGNMENT, max_steps=3, report_to="tensorboard"
    )
    trainer.train()
    (run,) = (tmp_path / "runs").iterdir()  # Trainer's default logging folder, runs/<date>_<host>
    events = EventAccumulator(str(run))
    events.Reload()
    scalars = {tag: {event.step: event.value for event in events.Scalars(tag)} for tag in events.Tags()["scalars"]}
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert [entry["step"] for entry in logged] == [1, 2, 3]
    names = ["loss", "intent_loss", "slot_loss", *(f"{name}_loss" for name in ALIGNMENT)]
    names += [f"{name}_weight" for name in ALIGNMENT]
    for entry in logged:
        for name in names:
            # TensorBoard stores float32: equal to the logged value within its precision.
            assert scalars[f"train/{name}"][entry["step"]] == pytest.approx(entry[name], rel=1e-6), name
    assert len({scalars["train/crossaligner_loss"][step] for step in (1, 2, 3)}) == 3  # one value per step


def test_report_to_tensorboard_without_tensorboard_is_a_one_line_error(tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(run_arguments, "is_tensorboard_available", lambda: False)
    with pytest.raises(
        UsageError, match=r'--report_to tensorboard needs TensorBoard: pip install -e "\.\[tensorboard\]"'
    ):
        run_xnlu.main([*cli(tiny_encoder, tmp_path, tmp_path / "out"), "--report_to", "tensorboard"])
