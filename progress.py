# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""The console progress of a run: one bar per phase, named by what it does ("training", "scoring de")."""

from __future__ import annotations

from tqdm.auto import tqdm
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import has_length


class PhaseProgressCallback(ProgressCallback):
    """transformers' `ProgressCallback` with a name on each bar. The training bar shows the latest loss instead of
    printing every log entry (they stay in trainer_state.json and go to the `report_to` integrations); a scoring
    bar is named by `describe` (the trainer calls it before each language)."""

    def __init__(self):
        super().__init__()
        self.description = "scoring"

    def describe(self, description: str) -> None:
        self.description = description

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar = tqdm(total=state.max_steps, desc="training", dynamic_ncols=True)
        self.current_step = 0

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if state.is_world_process_zero and self.prediction_bar is None and has_length(eval_dataloader):
            self.prediction_bar = tqdm(
                total=len(eval_dataloader), desc=self.description, leave=self.training_bar is None, dynamic_ncols=True
            )
        super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and "loss" in (logs or {}):
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)
