"""LoRA adapters (PEFT) on the joint model: the trainer's learning rates per parameter, the saved adapter reloaded,
the model's refusal of a generic `labels`, and run_xnlu.py's --use_peft end to end on a tiny encoder."""

import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from test_run_xnlu import cli, write_mtod
from trainer_helpers import pair_dataset, tiny_model
from transformers import AutoTokenizer

import run_arguments
import run_xnlu
from crossaligner_config import CrossAlignerTrainingArguments
from modeling_crossaligner import XLMRobertaForJointXNLU
from run_arguments import UsageError
from trainer_crossaligner import CrossAlignerTrainer
from xnlu_batching import XNLUDataCollator

ENCODER_RATE, HEAD_RATE = 1e-3, 5e-3


def lora_config():
    return LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules=["query", "value"],
        modules_to_save=list(XLMRobertaForJointXNLU.head_module_names),
    )


@pytest.fixture(scope="module")
def lora_trainer(tiny_tokenizer, tmp_path_factory):
    """Three CrossAligner steps on the tiny model with a LoRA adapter, through CrossAlignerTrainer; and the tiny
    model's parameters before training."""
    args = CrossAlignerTrainingArguments(
        output_dir=str(tmp_path_factory.mktemp("lora")),
        alignment=["crossaligner"],
        learning_rate=ENCODER_RATE,
        head_learning_rate=HEAD_RATE,
        per_device_train_batch_size=4,
        max_steps=3,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = CrossAlignerTrainer(
        model=get_peft_model(tiny_model(tiny_tokenizer, seed=0), lora_config()),
        args=args,
        processing_class=tiny_tokenizer,
        train_dataset=pair_dataset(tiny_tokenizer),
    )
    trainer.train()
    return trainer, dict(tiny_model(tiny_tokenizer, seed=0).named_parameters())


def rate_of(trainer) -> dict[int, float]:
    """Each optimised parameter's learning rate (the scheduler's starting value: training has decayed `lr`)."""
    groups = trainer.optimizer.param_groups
    return {id(parameter): group["initial_lr"] for group in groups for parameter in group["params"]}


def test_heads_train_at_the_head_rate_and_the_adapters_at_the_encoder_rate(lora_trainer):
    trainer, _ = lora_trainer
    rates = rate_of(trainer)
    trainable = {name: parameter for name, parameter in trainer.model.named_parameters() if parameter.requires_grad}
    # Every trainable parameter is in the optimiser exactly once; the frozen encoder weights are not in it.
    assert sum(len(group["params"]) for group in trainer.optimizer.param_groups) == len(trainable) == len(rates)
    lora = {name for name in trainable if ".lora_A." in name or ".lora_B." in name}
    heads = {name for name in trainable if ".modules_to_save." in name}
    assert lora and heads and lora | heads == set(trainable)
    # Every name starts with base_model.model.: a split by name prefix would put the adapters at the head rate.
    assert all(name.startswith("base_model.model.") for name in trainable)
    assert {rates[id(trainable[name])] for name in lora} == {ENCODER_RATE}
    assert {rates[id(trainable[name])] for name in heads} == {HEAD_RATE}
    head_names = {name.split(".modules_to_save.")[0].removeprefix("base_model.model.") for name in heads}
    assert head_names == set(XLMRobertaForJointXNLU.head_module_names)


def test_only_the_adapters_and_heads_change(lora_trainer):
    trainer, start = lora_trainer
    base = trainer.model.get_base_model()
    for name, value in base.named_parameters():
        if ".lora_" in name or ".modules_to_save." in name:
            continue
        original = name.replace(".base_layer.", ".").replace(".original_module.", ".")
        torch.testing.assert_close(value, start[original], rtol=0, atol=0, msg=name)
    lora_b = [value for name, value in base.named_parameters() if ".lora_B." in name]
    assert lora_b and all(value.abs().sum() > 0 for value in lora_b)  # LoRA's B starts at zero: it was trained
    trained_head = base.intent_classifier.modules_to_save["default"].weight
    assert not torch.equal(trained_head, start["intent_classifier.weight"])


def predictions(model, inputs):
    model.eval()
    with torch.no_grad():
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    return outputs.intent_logits, outputs.slot_logits


def test_the_saved_adapter_reloads_and_predicts_the_same(lora_trainer, tiny_tokenizer, tmp_path):
    trainer, _ = lora_trainer
    inputs = XNLUDataCollator(tiny_tokenizer)([row for row in pair_dataset(tiny_tokenizer, count=6, seed=9)])
    expected = predictions(trainer.model, inputs)
    trainer.save_model(str(tmp_path))
    saved = load_file(tmp_path / "adapter_model.safetensors")
    assert any("lora_A" in name for name in saved) and any("intent_classifier" in name for name in saved)
    # A fresh base model: the seed that built the trained one, its heads to be replaced by the adapter's.
    reloaded = PeftModel.from_pretrained(tiny_model(tiny_tokenizer, seed=0), tmp_path)
    for got, want in zip(predictions(reloaded, inputs), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # Without the adapter's heads the predictions differ: the check above is not vacuous.
    untrained = predictions(tiny_model(tiny_tokenizer, seed=0), inputs)
    assert not torch.allclose(untrained[0], expected[0], atol=1e-4)


def test_a_generic_labels_argument_is_an_error_not_ignored(tiny_tokenizer):
    model = tiny_model(tiny_tokenizer)
    inputs = tiny_tokenizer(["wake me up at nine am"], return_tensors="pt")
    with pytest.raises(TypeError, match="takes intent_labels .* and slot_labels .*, not labels"):
        model(**inputs, labels=torch.tensor([0]))


# -- run_xnlu.py --use_peft ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_run(tiny_encoder, tmp_path_factory):
    data_dir = write_mtod(tmp_path_factory.mktemp("mtod_like"))
    output_dir = tmp_path_factory.mktemp("runs") / "lora"
    arguments = cli(tiny_encoder, data_dir, output_dir, "--alignment", "crossaligner", "--num_train_epochs", "1")
    results = run_xnlu.main(
        [*arguments, "--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "query"]
    )
    return output_dir, results


def test_a_lora_run_writes_the_merged_model_and_the_adapter(lora_run, tiny_encoder):
    output_dir, results = lora_run
    assert results.lora["r"] == 4 and results.lora["target_modules"] == ["query"]
    assert 0 < results.lora["trainable_parameters"] < results.lora["parameters"]
    assert json.loads((output_dir / "results.json").read_text())["lora"] == results.lora
    assert results.frozen == "every encoder weight (LoRA adapters on query train)"
    adapter_config = json.loads((output_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["r"] == 4 and adapter_config["target_modules"] == ["query"]
    # The top-level model is complete and has no adapter weights left: the adapter is merged in.
    merged = XLMRobertaForJointXNLU.from_pretrained(output_dir)
    assert not any("lora" in name for name in load_file(output_dir / "model.safetensors"))
    # The adapter on a joint model built from the encoder (as the card says) predicts what the merged model does.
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    base = XLMRobertaForJointXNLU.from_encoder(
        str(tiny_encoder), merged.config.intent_labels, merged.config.slot_labels, max_seq_length=16
    )
    adapter = PeftModel.from_pretrained(base, output_dir, subfolder="adapter")
    inputs = tokenizer(["wake me up at seven am", "el tiempo en boston"], padding=True, return_tensors="pt")
    for got, want in zip(predictions(adapter, inputs), predictions(merged, inputs)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    card = (output_dir / "README.md").read_text()
    assert "LoRA (PEFT)" in card and 'subfolder="adapter"' in card


def test_unknown_lora_target_modules_are_a_one_line_usage_error(tiny_encoder, tmp_path):
    data_dir = write_mtod(tmp_path / "data", copies=1)
    arguments = cli(tiny_encoder, data_dir, tmp_path / "out", "--use_peft", "true", "--lora_target_modules", "qkv")
    with pytest.raises(UsageError, match="--lora_target_modules qkv: ") as error:
        run_xnlu.main(arguments)
    assert "\n" not in str(error.value)


def test_use_peft_without_peft_is_a_one_line_error_before_loading(tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(run_arguments, "is_peft_available", lambda: False)
    with pytest.raises(UsageError, match=r'^--use_peft needs PEFT: pip install -e "\.\[peft\]"$'):
        run_xnlu.main(cli(tiny_encoder, tmp_path, tmp_path / "out", "--use_peft", "true"))


@pytest.mark.parametrize(
    "options, message",
    [
        (["--freeze_lower_layers", "1"], "--freeze_lower_layers does not apply with --use_peft"),
        (["--do_predict", "true"], "--use_peft trains an adapter: add --do_train"),
    ],
)
def test_lora_options_that_cannot_apply_are_refused_before_loading(tiny_encoder, tmp_path, options, message):
    with pytest.raises(UsageError, match=message):
        run_xnlu.main(cli(tiny_encoder, tmp_path, tmp_path / "out", "--use_peft", "true", *options))


def test_lora_on_the_embedded_encoder_freezes_no_layers_of_its_recipe(tmp_path):
    """The embedded encoder's recipe keeps its lowest layers fixed; with LoRA every encoder weight is fixed already
    and every layer gets adapters, so the recipe's layer freezing does not apply."""
    script_args, _ = run_arguments.parse_arguments(["--output_dir", str(tmp_path), "--use_peft", "true"])
    assert script_args.use_peft and script_args.freeze_lower_layers == 0
    script_args, _ = run_arguments.parse_arguments(["--output_dir", str(tmp_path)])
    assert script_args.freeze_lower_layers == run_arguments.EMBEDDED_ENCODER_RECIPE["freeze_lower_layers"]
