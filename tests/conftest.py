import os
from pathlib import Path

import pytest
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model, build_tiny_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
MTOD_DIR = REPO_ROOT.parent / "shared" / "data" / "mtod"


@pytest.fixture(scope="session", autouse=True)
def cpu_without_native_bf16():
    """Every test (and every fixture's run) sees a CPU without native bf16, so that runs choose fp32 on any machine
    and their precision (and numbers) do not depend on where the suite runs; tests of the choice set it themselves."""
    import run_device

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_device, "cpu_multiplies_bf16", lambda: False)
        yield


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    return build_tiny_model(tiny_tokenizer, INTENTS, SLOT_LABELS)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_model, tiny_tokenizer):
    """A saved joint model + tokenizer: what a training run writes, minus the model card."""
    path = tmp_path_factory.mktemp("tiny_joint_model")
    tiny_model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory, tiny_tokenizer):
    """A saved tiny XLM-R encoder and its tokenizer: what --model_name_or_path points at in the run_xnlu tests."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    path = tmp_path_factory.mktemp("tiny_encoder")
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,
        type_vocab_size=1,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    XLMRobertaModel(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def embedded_encoder(tmp_path_factory):
    """The session's one conversion of the embedded encoder (multilingual-e5-small, XLM-R's 250k-piece tokenizer),
    into a cache of its own: {"path", "cache"}."""
    from embedded_encoder import embedded_encoder_path

    cache = tmp_path_factory.mktemp("xnlu_cache")
    return {"path": embedded_encoder_path(cache_dir=cache), "cache": cache}


@pytest.fixture(scope="session")
def mtod_dir():
    """The real MTOD release beside the repository; absent, its tests skip, unless XNLU_REQUIRE_REAL_DATA=1 (as in
    .ci/run) makes that an error."""
    if not MTOD_DIR.is_dir():
        message = f"real MTOD data not found at {MTOD_DIR}"
        if os.environ.get("XNLU_REQUIRE_REAL_DATA") == "1":
            pytest.fail(f"{message} (XNLU_REQUIRE_REAL_DATA=1: the real-data tests must run)")
        pytest.skip(message)
    return MTOD_DIR
