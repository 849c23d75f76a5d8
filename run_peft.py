# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""The LoRA adapter of run_xnlu.py's --use_peft (PEFT): put on the encoder with the new heads trained in full, saved
on its own in <output_dir>/adapter and merged into the model the run scores and saves, and described for results.json
and the model card. PEFT is an optional extra: it is imported only here, when --use_peft asks for it."""

from __future__ import annotations

from pathlib import Path

from modeling_crossaligner import XLMRobertaForJointXNLU
from push_to_hub import ADAPTER_DIR
from run_arguments import ScriptArguments, UsageError
from trainer_crossaligner import CrossAlignerTrainer


def with_lora_adapter(model: XLMRobertaForJointXNLU, script_args: ScriptArguments):
    """`model` as a PEFT model with a LoRA adapter on the encoder's `--lora_target_modules`: the encoder's own weights
    stay fixed, the new heads (the model's `head_module_names`) train in full."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=script_args.lora_r,
        lora_alpha=script_args.lora_alpha,
        lora_dropout=script_args.lora_dropout,
        target_modules=list(script_args.lora_target_modules),
        modules_to_save=list(model.head_module_names),
    )
    try:
        return get_peft_model(model, config)
    except ValueError as error:  # PEFT's message for target modules the encoder does not have
        raise UsageError(
            f"--lora_target_modules {' '.join(script_args.lora_target_modules)}: {str(error).splitlines()[0]}"
        ) from None


def save_and_merge_adapter(trainer: CrossAlignerTrainer, output_dir: Path) -> None:
    """The trained PEFT adapter alone in <output_dir>/adapter, then merged into the model that the trainer scores and
    saves, so that output_dir holds a complete model that loads without PEFT, as any run's does."""
    if trainer.args.should_save:
        trainer.model.save_pretrained(output_dir / ADAPTER_DIR)
    trainer.model = trainer.model.merge_and_unload()


def lora_settings(model, script_args: ScriptArguments) -> dict:
    """What results.json and the model card say about a LoRA run."""
    trainable, total = model.get_nb_trainable_parameters()
    return {
        "r": script_args.lora_r,
        "alpha": script_args.lora_alpha,
        "dropout": script_args.lora_dropout,
        "target_modules": list(script_args.lora_target_modules),
        "trained_in_full": list(XLMRobertaForJointXNLU.head_module_names),
        "trainable_parameters": trainable,
        "parameters": total,
        "adapter": ADAPTER_DIR,
    }
