#!/usr/bin/env python
# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Publish a run_xnlu.py output directory as a Hugging Face Hub model repo.

    python push_to_hub.py OUTPUT_DIR --hub_model_id user/name [--private] [--revision BRANCH] [--create_pr]
        [--token hf_...]

The token comes from `--token`, else `HF_TOKEN`, else the one saved by `hf auth login`; `HF_ENDPOINT` selects
another Hub. Only the top-level files a user of the model needs, plus the run's results, are uploaded
(`UPLOADED_FILES`), with the TensorBoard logs in runs/, a LoRA run's adapter in adapter/ and the ONNX Runtime graphs
of export_onnx.py in onnx/ when there are some (`UPLOADED_FOLDERS`); checkpoint-* folders, training_args.bin (a
pickle) and any other file stay local. Files already in the repo are replaced or kept, never deleted. The output
directory itself is only read.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard, constants, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

try:  # the HTTP client of huggingface_hub 2.x; 1.x used httpx
    from httpx2 import TransportError
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    from httpx import TransportError

logger = logging.getLogger("push_to_hub")

# Top-level file names (glob patterns) that are uploaded, besides the code files the config's auto_map and
# custom_pipelines name. Model, tokenizer and card make the repo usable; the rest documents the run (metrics,
# per-example predictions, the training log). training_args.bin is left out because it is a pickle: loading it
# runs code, and nothing needs it to use the model.
UPLOADED_FILES = (
    "README.md",
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*-of-*.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "sentencepiece.bpe.model",
    "results.json",
    "results.md",
    "results.png",
    "predictions_*.jsonl",
    "*_results.json",
    "trainer_state.json",
)
# Folders whose files (any depth) are uploaded when their names match: TensorBoard's event files of `--report_to
# tensorboard` (Trainer's own push uploads them too), a LoRA run's adapter on its own (PEFT's generic README.md
# beside it is left out: the model card is the top-level one), and the ONNX Runtime graphs export_onnx.py writes.
LOGS_DIR = "runs"
ADAPTER_DIR = "adapter"
UPLOADED_FOLDERS = {
    LOGS_DIR: ("*",),
    ADAPTER_DIR: ("adapter_config.json", "adapter_model.safetensors"),
    "onnx": ("model.onnx", "model_quantized.onnx"),  # not the hidden name of an export being written
}
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model")
DEFAULT_COMMIT_MESSAGE = "Upload CrossAligner XNLU model"


class PublishError(RuntimeError):
    """The Hub could not be reached or refused the upload (the output directory is unchanged)."""


def check_publish_arguments(repo_id: str | None, token: str | None = None) -> str:
    """Validate a Hub repo id and find the token to publish with, without contacting the Hub: call it before
    training so that a bad `--hub_model_id` or a missing token fails in seconds, not after the run.

    Returns the token (`token`, else `HF_TOKEN`, else the saved login). Raises ValueError.
    """
    if not repo_id:
        raise ValueError("publishing needs a Hub repo id: --hub_model_id user/name")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"--hub_model_id {repo_id!r} is not a valid Hub repo id: {error}") from None
    if repo_id.count("/") != 1:
        # The namespace goes into the model card's usage code and is needed to load the model back.
        raise ValueError(f"--hub_model_id {repo_id!r}: expected 'user/name' or 'organization/name'")
    if constants.is_offline_mode():
        raise ValueError("HF_HUB_OFFLINE is set: unset it to publish to the Hub")
    token = token or get_token()
    if not token:
        raise ValueError(
            "no Hugging Face token: pass --token (or --hub_token to run_xnlu.py), set HF_TOKEN or run `hf auth login`"
        )
    return token


def select_files(output_dir: str | Path) -> tuple[list[str], list[str]]:
    """(files to upload, top-level entries left out) of an output directory; raises FileNotFoundError when a file
    the Hub repo needs is missing, ValueError when config.json lacks the remote-code entries."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise FileNotFoundError(f"{output_dir} is not a directory")
    config_file = output_dir / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{output_dir} has no config.json: is it a run_xnlu.py output directory?")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if "AutoModel" not in config.get("auto_map", {}) or "xnlu" not in config.get("custom_pipelines", {}):
        raise ValueError(f"{config_file} lacks auto_map/custom_pipelines: save the model with XLMRobertaForJointXNLU")
    references = [*config["auto_map"].values(), *(task["impl"] for task in config["custom_pipelines"].values())]
    code_files = {f"{reference.rsplit('.', 1)[0]}.py" for reference in references}

    uploaded, skipped = [], []
    for entry in sorted(output_dir.iterdir()):
        name = entry.name
        if (
            entry.is_file()
            and not entry.is_symlink()
            and (name in code_files or any(fnmatch.fnmatchcase(name, pattern) for pattern in UPLOADED_FILES))
        ):
            uploaded.append(name)
        elif entry.is_dir() and not entry.is_symlink() and name in UPLOADED_FOLDERS:
            for path in sorted(entry.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    relative = path.relative_to(output_dir).as_posix()
                    matched = any(fnmatch.fnmatchcase(path.name, pattern) for pattern in UPLOADED_FOLDERS[name])
                    (uploaded if matched else skipped).append(relative)
        else:
            skipped.append(name + "/" if entry.is_dir() else name)

    missing = sorted(code_files - set(uploaded))
    if "README.md" not in uploaded:
        missing.append("README.md (the model card)")
    if "model.safetensors" not in uploaded and "model.safetensors.index.json" not in uploaded:
        missing.append("model.safetensors")
    if "tokenizer_config.json" not in uploaded or not any(name in uploaded for name in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer_config.json and tokenizer.json)")
    if missing:
        raise FileNotFoundError(f"{output_dir} is not a complete model directory: missing {', '.join(missing)}")
    return uploaded, skipped


def hub_model_card(readme: Path, repo_id: str) -> str:
    """The README to upload: the saved card, checked to parse (metadata and `model-index` results), pointed at
    `repo_id` when it was rendered for another name (a directory published afterwards), and without local paths
    as `base_model` (the Hub only accepts repo ids there)."""
    try:
        card = ModelCard.load(readme)
    except ValueError as error:
        raise ValueError(f"{readme}: invalid model card metadata: {error}") from None
    if not card.data.eval_results:
        raise ValueError(f"{readme}: the model card has no model-index results")
    previous = card.data.model_name
    if previous and previous != repo_id:
        card.text = card.text.replace(f'"{previous}"', f'"{repo_id}"').replace(f"# {previous}\n", f"# {repo_id}\n", 1)
        card.data.model_name = repo_id
    base_models = card.data.base_model
    if base_models:
        kept = [name for name in ([base_models] if isinstance(base_models, str) else base_models) if _is_repo_id(name)]
        card.data.base_model = kept or None
    return str(card)


def _is_repo_id(name: str) -> bool:
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def publish(
    output_dir: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    *,
    revision: str | None = None,
    create_pr: bool = False,
    endpoint: str | None = None,
) -> CommitInfo:
    """Create (or reuse) the model repo `repo_id` and upload `output_dir`'s model, tokenizer, code, model card and
    results in one commit. `private=None` keeps an existing repo's visibility (new repos are public);
    `revision`: the branch to commit to (created from main if missing; default main); `create_pr`: open a pull
    request against it instead of committing (`CommitInfo.pr_url`); `endpoint` defaults to `HF_ENDPOINT` or
    huggingface.co.

    Everything is checked before the first request. Raises ValueError / FileNotFoundError for bad arguments or an
    incomplete directory, PublishError when the Hub is unreachable or refuses; `output_dir` is never modified.
    """
    token = check_publish_arguments(repo_id, token)
    output_dir = Path(output_dir)
    uploaded, skipped = select_files(output_dir)
    card = hub_model_card(output_dir / "README.md", repo_id)
    if skipped:
        logger.info("not uploaded (kept local): %s", ", ".join(skipped))

    api = HfApi(endpoint=endpoint, token=token)
    retry = f"publish it again with: python push_to_hub.py {output_dir} --hub_model_id {repo_id}"
    with tempfile.TemporaryDirectory(prefix="push_to_hub-") as temporary:
        staging = Path(temporary)
        _stage_upload(staging, output_dir, uploaded, card)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision not in (None, "main"):
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            commit = _upload_staged(api, repo_id, staging, commit_message, revision, create_pr)
        except HfHubHTTPError as error:
            status = error.response.status_code
            hint = " Check that the token has write access to this namespace." if status in (401, 403) else ""
            reason = error.server_message or str(error).strip().splitlines()[0]
            raise PublishError(
                f"the Hub at {api.endpoint} refused to publish {repo_id} (HTTP {status}): {reason}.{hint} "
                f"{output_dir} is unchanged; {retry}"
            ) from error
        except TransportError as error:
            raise PublishError(
                f"could not reach the Hub at {api.endpoint} ({type(error).__name__}: {error}). Check the network "
                f"and HF_ENDPOINT. {output_dir} is unchanged; {retry}"
            ) from error
    where = f"pull request {commit.pr_url}" if commit.pr_url else commit.commit_url
    logger.info("published %d files to %s (%s)", len(uploaded), repo_id, where)
    return commit


def _stage_upload(staging: Path, output_dir: Path, uploaded: list[str], card: str) -> None:
    """Fill the empty folder `staging` with exactly what the commit holds: links to the files to upload, and the
    Hub's model card as README.md. upload_folder uploads a folder as it is, but README.md must be the rewritten card
    and the output directory is only read."""
    for name in uploaded:
        if name == "README.md":
            continue
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            (staging / name).symlink_to((output_dir / name).absolute())
        except OSError:  # no right to make links (Windows without developer mode): a copy, in the temporary folder
            shutil.copyfile(output_dir / name, staging / name)
    (staging / "README.md").write_bytes(card.encode("utf-8"))


def _upload_staged(
    api: HfApi, repo_id: str, staging: Path, commit_message: str, revision: str | None, create_pr: bool
) -> CommitInfo:
    """Commit the staged files to `revision`, or open a pull request against it with them."""
    if create_pr:
        # upload_folder opens a draft pull request, and only against main; the Hub's create_pr opens one that can be
        # merged, against `revision`.
        operations = [
            CommitOperationAdd(path.relative_to(staging).as_posix(), path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        ]
        return api.create_commit(repo_id, operations, commit_message=commit_message, revision=revision, create_pr=True)
    # One commit: upload_folder commits in parts only past 256 files or 100 MB of non-LFS files.
    return api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message=commit_message, revision=revision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", help="a run_xnlu.py output directory")
    parser.add_argument("--hub_model_id", required=True, help="the Hub repo to publish to: user/name or org/name")
    parser.add_argument(
        "--private",
        action="store_true",
        default=None,
        help="create the repo private (default: public; an existing repo keeps its visibility)",
    )
    parser.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or the saved login)")
    parser.add_argument("--revision", help="the branch to commit to (created from main if missing; default main)")
    parser.add_argument("--create_pr", action="store_true", help="open a pull request instead of committing")
    parser.add_argument("--commit_message", default=DEFAULT_COMMIT_MESSAGE)
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    try:
        commit = publish(
            args.output_dir,
            args.hub_model_id,
            token=args.token,
            private=args.private,
            commit_message=args.commit_message,
            revision=args.revision,
            create_pr=args.create_pr,
        )
    except (ValueError, FileNotFoundError, PublishError) as error:
        print(f"push_to_hub.py: error: {error}", file=sys.stderr)
        return 1
    print(f"Published {args.output_dir} to {commit.repo_url} ({commit.pr_url or commit.commit_url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
