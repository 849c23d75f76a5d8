from pathlib import Path

import pytest

from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model, build_tiny_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
MTOD_DIR = REPO_ROOT.parent / "shared" / "data" / "mtod"


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
def mtod_dir():
    if not MTOD_DIR.is_dir():
        pytest.skip(f"real MTOD data not found at {MTOD_DIR}")
    return MTOD_DIR
