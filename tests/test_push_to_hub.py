"""push_to_hub.py with the real huggingface_hub client against a local Hub server (tests/hub_server.py): what
arrives in the repo, loading it back in a fresh process, and every way publishing can fail."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hub_server import HubServer
from huggingface_hub import HfApi, ModelCard
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import RepositoryNotFoundError
from test_modeling import FRESH_PROCESS_PRELUDE
from test_run_xnlu import cli, write_mtod
from transformers import AutoTokenizer, pipeline

import push_to_hub
import run_xnlu
from modeling_crossaligner import XLMRobertaForJointXNLU
from push_to_hub import PublishError, check_publish_arguments, publish, select_files

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_test_token"
REPO_ID = "test-user/crossaligner-tiny"
TEXTS = ["wake me up at seven am", "el tiempo en boston", "cancel my alarm"]
# What a published run_xnlu.py output directory holds on the Hub: model, code, tokenizer, card and results.
EXPECTED_FILES = {
    "README.md",
    "config.json",
    "model.safetensors",
    "modeling_crossaligner.py",
    "tokenizer.json",
    "tokenizer_config.json",
    "results.json",
    "results.md",
    "results.png",
    "predictions_en.jsonl",
    "predictions_es.jsonl",
    "predictions_de.jsonl",
    "all_results.json",
    "train_results.json",
    "predict_results.json",
    "trainer_state.json",
}


def tree_hash(folder: Path) -> str:
    """Hash of every file's relative path and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def allow_network(monkeypatch) -> None:
    # CI sets HF_HUB_OFFLINE=1 (no internet); the loopback server is the only endpoint these tests reach.
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch, tmp_path):
    """Neither the developer's HF_TOKEN nor a saved login may leak into the tests."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    allow_network(monkeypatch)


@pytest.fixture(scope="module")
def hub():
    with HubServer(tokens=(TOKEN,), lifetime=600) as server:
        yield server


@pytest.fixture(scope="module")
def output_dir(tiny_encoder, tmp_path_factory):
    """A real run_xnlu.py output directory (checkpoint folder, training_args.bin and all) plus a stray file."""
    data_dir = write_mtod(tmp_path_factory.mktemp("mtod_like"))
    output_dir = tmp_path_factory.mktemp("runs") / "crossaligner"
    run_xnlu.main(cli(tiny_encoder, data_dir, output_dir, "--alignment", "crossaligner", "--num_train_epochs", "1"))
    (output_dir / "notes.txt").write_text("kept local\n")
    return output_dir


@pytest.fixture(scope="module")
def published(hub, output_dir):
    before = tree_hash(output_dir)
    with pytest.MonkeyPatch.context() as monkeypatch:
        allow_network(monkeypatch)
        commit = publish(output_dir, REPO_ID, token=TOKEN, commit_message="First model", endpoint=hub.url)
    assert tree_hash(output_dir) == before
    return commit


# -- what arrives --------------------------------------------------------------------------------------------------


def test_publish_uploads_model_code_tokenizer_card_and_results(published, hub, output_dir):
    files = hub.files(REPO_ID)
    assert set(files) == EXPECTED_FILES
    assert published.oid == hub.repos[REPO_ID].head.oid and hub.repos[REPO_ID].head.message == "First model"
    assert len(hub.repos[REPO_ID].commits) == 2  # the repo's start and ONE commit with every file
    assert not hub.repos[REPO_ID].private
    for name in EXPECTED_FILES - {"README.md"}:
        assert files[name] == (output_dir / name).read_bytes(), name
    config = json.loads(files["config.json"])
    assert config["auto_map"]["AutoModel"] == "modeling_crossaligner.XLMRobertaForJointXNLU"
    assert config["custom_pipelines"]["xnlu"]["impl"] == "modeling_crossaligner.XNLUPipeline"


def test_checkpoints_pickles_and_stray_files_stay_local(output_dir):
    uploaded, skipped = select_files(output_dir)
    assert set(uploaded) == EXPECTED_FILES
    checkpoints = [name for name in skipped if name.startswith("checkpoint-")]
    assert checkpoints and all(name.endswith("/") for name in checkpoints)
    assert {"training_args.bin", "notes.txt"} <= set(skipped)


def test_published_card_has_valid_hub_metadata(published, hub, output_dir):
    card = ModelCard(hub.files(REPO_ID)["README.md"].decode())
    results = {(result.dataset_config, result.metric_type): result.metric_value for result in card.data.eval_results}
    local = json.loads((output_dir / "results.json").read_text())["languages"]["es"]
    assert results[("es", "accuracy")] == round(local["intent_accuracy"], 4)
    assert results[("es", "f1")] == round(local["slot_f1"], 4)
    assert card.data.language == ["en", "de", "es"] and card.data.license == "cc-by-sa-4.0"
    # Rendered for the output folder's name; on the Hub it names the repo, as the usage code must.
    assert card.data.model_name == REPO_ID
    assert f'pipeline("xnlu", model="{REPO_ID}", trust_remote_code=True)' in card.text
    # The encoder was a local folder: not a Hub model id, so not `base_model` metadata.
    assert card.data.base_model is None


def test_model_loads_from_the_hub_in_a_fresh_process(published, hub, output_dir, tmp_path):
    """AutoModel and the xnlu pipeline from the server only: a new process that cannot import the project, an
    empty cache, HF_ENDPOINT set before huggingface_hub is imported."""
    code = f"""
import json
import torch
from transformers import AutoModel, AutoTokenizer, pipeline
model = AutoModel.from_pretrained({REPO_ID!r}, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained({REPO_ID!r})
with torch.no_grad():
    logits = model(**tokenizer({TEXTS!r}, padding=True, return_tensors="pt")).intent_logits
xnlu = pipeline("xnlu", model={REPO_ID!r}, trust_remote_code=True)
print(json.dumps({{"module": type(model).__module__, "pipeline": type(xnlu).__module__,
                  "logits": logits.tolist(), "results": xnlu({TEXTS!r}, batch_size=2)}}))
"""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
    }
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_PRELUDE + code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    remote = json.loads(completed.stdout.strip().splitlines()[-1])
    assert remote["module"].startswith("transformers_modules.")
    assert remote["pipeline"].startswith("transformers_modules.")
    assert ("GET", f"/{REPO_ID}/resolve/{published.oid}/model.safetensors") in hub.requests

    model = XLMRobertaForJointXNLU.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        local_logits = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).intent_logits
    torch.testing.assert_close(torch.tensor(remote["logits"]), local_logits, rtol=1e-5, atol=1e-5)
    local = pipeline("xnlu", model=str(output_dir), trust_remote_code=True)(TEXTS)
    for there, here in zip(remote["results"], local):
        assert there["intent"] == here["intent"] and there["score"] == pytest.approx(here["score"], abs=1e-5)
        assert [(s["entity_group"], s["start"], s["end"]) for s in there["slots"]] == [
            (s["entity_group"], s["start"], s["end"]) for s in here["slots"]
        ]


def test_files_are_copied_where_links_cannot_be_made(hub, output_dir, monkeypatch):
    def no_links(self, target):
        raise OSError("A required privilege is not held by the client")

    monkeypatch.setattr(Path, "symlink_to", no_links)
    before = tree_hash(output_dir)
    publish(output_dir, "test-user/copied", token=TOKEN, endpoint=hub.url)
    files = hub.files("test-user/copied")
    assert set(files) == EXPECTED_FILES and len(hub.repos["test-user/copied"].commits) == 2
    for name in EXPECTED_FILES - {"README.md"}:
        assert files[name] == (output_dir / name).read_bytes(), name
    assert ModelCard(files["README.md"].decode()).data.model_name == "test-user/copied"
    assert tree_hash(output_dir) == before


def test_tensorboard_logs_and_a_lora_adapter_are_published_with_the_model(hub, output_dir, tmp_path):
    """runs/ (TensorBoard's event files, as Trainer's own push uploads them) at any depth; of adapter/ the adapter's
    config and weights, not PEFT's generic README.md; with create_pr too, which commits file by file."""
    from torch.utils.tensorboard import SummaryWriter

    folder = tmp_path / "with_logs"
    shutil.copytree(output_dir, folder)
    with SummaryWriter(log_dir=folder / "runs" / "Dec02_06-00-00_host") as writer:
        writer.add_scalar("train/loss", 1.5, 1)
    (events,) = (folder / "runs").rglob("events.out.tfevents.*")
    (folder / "adapter").mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md"):
        (folder / "adapter" / name).write_text(f"{name}\n")
    logs = events.relative_to(folder).as_posix()
    uploaded, skipped = select_files(folder)
    assert logs in uploaded and "adapter/README.md" in skipped
    for create_pr in (False, True):
        repo = f"test-user/with-logs-{create_pr}"
        publish(folder, repo, token=TOKEN, endpoint=hub.url, create_pr=create_pr)
        files = hub.files(repo, revision="refs/pr/1" if create_pr else "main")
        added = {logs, "adapter/adapter_config.json", "adapter/adapter_model.safetensors"}
        assert set(files) == EXPECTED_FILES | added, create_pr
        assert files[logs] == events.read_bytes()


def test_publishing_unchanged_files_again_makes_no_commit(published, hub, output_dir):
    commits = len(hub.repos[REPO_ID].commits)
    again = publish(output_dir, REPO_ID, token=TOKEN, endpoint=hub.url)
    assert again.oid == published.oid and len(hub.repos[REPO_ID].commits) == commits


def test_command_line_publishes_a_private_repo(hub, output_dir, tmp_path):
    before = tree_hash(output_dir)
    completed = run_command(
        hub, tmp_path, str(output_dir), "--hub_model_id", "test-user/private-run", "--private", "--token", TOKEN
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Published" in completed.stdout and "not uploaded (kept local)" in completed.stderr
    assert hub.repos["test-user/private-run"].private and set(hub.files("test-user/private-run")) == EXPECTED_FILES
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).model_info("test-user/private-run")
    assert tree_hash(output_dir) == before


def test_publish_to_a_branch_or_as_a_pull_request(hub, output_dir, tmp_path):
    repo_id = "test-user/reviewed"
    publish(output_dir, repo_id, token=TOKEN, endpoint=hub.url, commit_message="main")
    (tmp_path / "changed").mkdir()
    for name in EXPECTED_FILES:
        (tmp_path / "changed" / name).write_bytes((output_dir / name).read_bytes())
    (tmp_path / "changed" / "results.md").write_text("changed\n")
    main_before = hub.repos[repo_id].head.oid
    branch = publish(tmp_path / "changed", repo_id, token=TOKEN, endpoint=hub.url, revision="experiment")
    assert hub.files(repo_id, "experiment")["results.md"] == b"changed\n" and branch.pr_url is None
    assert hub.repos[repo_id].head.oid == main_before  # main is untouched
    pull_request = publish(tmp_path / "changed", repo_id, token=TOKEN, endpoint=hub.url, create_pr=True)
    assert pull_request.pr_url.endswith("/discussions/1")
    assert hub.files(repo_id, "refs/pr/1")["results.md"] == b"changed\n" and hub.repos[repo_id].head.oid == main_before
    completed = run_command(
        hub, tmp_path, str(tmp_path / "changed"), "--hub_model_id", repo_id, "--token", TOKEN, "--create_pr"
    )
    assert completed.returncode == 0 and "/discussions/2" in completed.stdout, completed.stderr[-2000:]


def test_pull_request_against_a_branch(hub, output_dir, tmp_path):
    repo_id = "test-user/reviewed-branch"
    publish(output_dir, repo_id, token=TOKEN, endpoint=hub.url, revision="dev")
    repo = hub.repos[repo_id]
    dev_head = repo.refs["dev"][-1]
    (tmp_path / "changed").mkdir()
    for name in EXPECTED_FILES:
        (tmp_path / "changed" / name).write_bytes((output_dir / name).read_bytes())
    (tmp_path / "changed" / "results.md").write_text("changed\n")
    pull_request = publish(tmp_path / "changed", repo_id, token=TOKEN, endpoint=hub.url, revision="dev", create_pr=True)
    assert pull_request.pr_url.endswith("/discussions/1")
    # Opened against dev (main has no files): the change on top of dev's files; dev and main untouched.
    assert repo.refs["refs/pr/1"][0] is dev_head and len(repo.refs["refs/pr/1"]) == 2
    assert set(hub.files(repo_id, "refs/pr/1")) == EXPECTED_FILES
    assert hub.files(repo_id, "refs/pr/1")["results.md"] == b"changed\n"
    assert repo.refs["dev"][-1] is dev_head and repo.head.files == {}


def test_run_xnlu_publishes_at_the_end_to_the_requested_revision(hub, tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(hub_constants, "ENDPOINT", hub.url)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    data_dir = write_mtod(tmp_path / "mtod_like")
    repo_id = "test-user/from-run"
    run_xnlu.main(
        cli(
            tiny_encoder,
            data_dir,
            tmp_path / "run",
            "--alignment",
            "none",
            "--num_train_epochs",
            "1",
            "--target_languages",
            "es",
            "--push_to_hub",
            "--hub_model_id",
            repo_id,
            "--hub_token",
            TOKEN,
            "--hub_private_repo",
            "true",
            "--hub_revision",
            "v1",
        )
    )
    repo = hub.repos[repo_id]
    assert repo.private and repo.head.files == {}  # nothing on main
    published = hub.files(repo_id, "v1")
    assert "model.safetensors" in published and "checkpoint-5/model.safetensors" not in published
    assert len(repo.refs["v1"]) == 2  # the branch's start and ONE commit: no pushes during training


def test_command_line_without_token_fails_clearly(hub, output_dir, tmp_path):
    completed = run_command(hub, tmp_path, str(output_dir), "--hub_model_id", "test-user/no-token")
    assert completed.returncode == 1
    assert "no Hugging Face token" in completed.stderr and "Traceback" not in completed.stderr
    assert "test-user/no-token" not in hub.repos


def run_command(hub, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "HF_ENDPOINT": hub.url,
    }
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "push_to_hub.py"), *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- bad input: a clear error, nothing sent (where it can be known locally), the output directory untouched ---------


@pytest.mark.parametrize(
    "repo_id", ["no-namespace", "a/b/c", "user/bad name", "user/two--dashes", "user/name.", "user/" + "x" * 100, ""]
)
def test_invalid_repo_id_is_rejected_before_any_request(hub, output_dir, repo_id):
    sent = len(hub.requests)
    with pytest.raises(ValueError, match="hub_model_id"):
        publish(output_dir, repo_id, token=TOKEN, endpoint=hub.url)
    assert len(hub.requests) == sent


def test_missing_token_is_rejected_before_any_request(hub, output_dir):
    sent, before = len(hub.requests), tree_hash(output_dir)
    with pytest.raises(ValueError, match="no Hugging Face token.*HF_TOKEN"):
        publish(output_dir, "test-user/no-token", endpoint=hub.url)
    assert len(hub.requests) == sent and tree_hash(output_dir) == before


def test_token_comes_from_hf_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_environment")
    assert check_publish_arguments("user/name") == "hf_from_environment"
    assert check_publish_arguments("user/name", "hf_explicit") == "hf_explicit"
    with pytest.raises(ValueError, match="--hub_model_id user/name"):
        check_publish_arguments(None)


def test_offline_mode_is_a_clear_error(output_dir, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE"):
        publish(output_dir, "test-user/offline", token=TOKEN)


def test_unreachable_endpoint(output_dir):
    closed = HubServer()  # bound, never started, then closed: nothing listens on its port
    closed.stop()
    before = tree_hash(output_dir)
    with pytest.raises(PublishError, match="could not reach the Hub at http://127.0.0.1.*is unchanged"):
        publish(output_dir, "test-user/unreachable", token=TOKEN, endpoint=closed.url)
    assert tree_hash(output_dir) == before


@pytest.mark.parametrize(
    "route, status, message",
    [("create", 403, "write access"), ("preupload", 403, "HTTP 403"), ("commit", 500, "HTTP 500")],
)
def test_refused_push(hub, output_dir, route, status, message):
    # upload_folder retries a commit answered 5xx (about 20 s of backoff) before the error is reported.
    repo_id = f"test-user/refused-{route}"
    before = tree_hash(output_dir)
    hub.fail(route, status)
    try:
        with pytest.raises(PublishError, match=f"refused to publish {repo_id}.*{message}"):
            publish(output_dir, repo_id, token=TOKEN, endpoint=hub.url)
    finally:
        hub.clear_failures()
    assert tree_hash(output_dir) == before
    assert repo_id not in hub.repos or hub.files(repo_id) == {}


def test_wrong_token_is_refused(hub, output_dir):
    with pytest.raises(PublishError, match="HTTP 401.*write access"):
        publish(output_dir, "test-user/wrong-token", token="hf_not_valid", endpoint=hub.url)
    assert "test-user/wrong-token" not in hub.repos


def test_incomplete_directory_is_rejected_before_any_request(hub, output_dir, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in EXPECTED_FILES - {"model.safetensors", "tokenizer.json"}:
        (partial / name).write_bytes((output_dir / name).read_bytes())
    sent = len(hub.requests)
    with pytest.raises(FileNotFoundError, match="missing model.safetensors, tokenizer files"):
        publish(partial, "test-user/partial", token=TOKEN, endpoint=hub.url)
    assert len(hub.requests) == sent


def test_card_without_results_is_rejected(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n# A model\n")
    with pytest.raises(ValueError, match="no model-index results"):
        push_to_hub.hub_model_card(readme, REPO_ID)
