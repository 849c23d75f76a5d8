# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""What suits the machine a run is on: the numeric precision (bf16 autocast only where the device multiplies bf16
natively; emulated bf16 measured and warned about) and the CPU threads under `accelerate launch`."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger("run_xnlu")


def precision_name(args) -> str:
    """The precision a run trains and evaluates in: `mixed_precision` is --bf16 / --fp16, or accelerate launch's
    --mixed_precision."""
    return {"bf16": "bf16 mixed precision", "fp16": "fp16 mixed precision"}.get(args.mixed_precision, "fp32")


@dataclass(frozen=True)
class PrecisionChoice:
    mixed_precision: str | None  # "bf16", "fp16" or "no" (fp32); None: as the --bf16 / --fp16 option given says
    automatic: bool  # chosen for this machine, not asked for
    reason: str  # for the log, results.json and the model card


def choose_precision(given: set[str], use_cpu: bool = False) -> PrecisionChoice:
    """An explicit --bf16 / --fp16, or accelerate launch's --mixed_precision, is honoured. Otherwise bf16 autocast
    where the device multiplies bf16 natively, fp32 elsewhere (emulated bf16 is many times slower than fp32)."""
    for option in ("bf16", "fp16"):
        if option in given:
            return PrecisionChoice(None, False, f"as asked: --{option}")
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION")  # accelerate launch sets it, to "no" by default
    launcher = accelerate_launcher() if launched == "no" else None
    if (launched and launched != "no") or (launcher and any(o.startswith("--mixed_precision") for o in launcher[0])):
        return PrecisionChoice(launched, False, f"as asked: accelerate launch --mixed_precision {launched}")
    if torch.cuda.is_available() and not use_cpu:
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return PrecisionChoice("bf16", True, "automatic: this GPU computes in bf16 natively")
        return PrecisionChoice("no", True, "automatic: this GPU has no native bf16")
    if cpu_multiplies_bf16():
        return PrecisionChoice("bf16", True, "automatic: this CPU multiplies bf16 natively (AVX512-BF16 or AMX)")
    return PrecisionChoice("no", True, "automatic: this CPU has no native bf16 (AVX512-BF16 or AMX), fp32 is faster")


def cpu_multiplies_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX, as oneDNN reports it)."""
    try:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def emulated_bf16_slowdown(hidden_size: int = 384, intermediate_size: int = 1536, tokens: int = 256) -> float:
    """How many times slower a matrix product of a transformer layer's shape (multilingual-e5-small's by default)
    runs under bf16 autocast than in fp32 on this CPU, measured now (under a second where bf16 is emulated)."""
    inputs, weight = torch.randn(tokens, hidden_size), torch.randn(hidden_size, intermediate_size)

    def seconds(bf16: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            inputs @ weight  # warm-up
            started = time.perf_counter()
            for _ in range(3):
                inputs @ weight
            return time.perf_counter() - started

    return seconds(True) / max(seconds(False), 1e-9)


def check_cpu_bf16(script_args, training_args) -> None:
    """bf16 asked for on a CPU that emulates it: say, before training, how much slower it is here."""
    if training_args.mixed_precision != "bf16" or training_args.device.type != "cpu" or cpu_multiplies_bf16():
        return
    slowdown = emulated_bf16_slowdown()
    script_args.precision_choice += (
        f"; this CPU has no native bf16: its bf16 matrix products ran {slowdown:.0f}x slower than fp32"
    )
    logger.warning(
        "bf16 mixed precision on a CPU without native bf16 (no AVX512-BF16 or AMX): it is emulated here, and a "
        "matrix product of this model's shape ran %.0fx slower than in fp32 (measured now), so training will be many "
        "times slower; leave out --bf16 / --mixed_precision bf16 to train in fp32",
        slowdown,
    )


def accelerate_launcher() -> tuple[list[str], dict[str, str]] | None:
    """When `accelerate launch` started this process and its command line can be read: the options it was given
    before the script's name, and its environment. None otherwise."""
    if os.environ.get("ACCELERATE_DYNAMO_BACKEND") is None:
        return None  # not started by accelerate launch
    try:
        import psutil

        launcher = psutil.Process().parent()
        arguments, environment = launcher.cmdline(), launcher.environ()
    except Exception as error:  # noqa: BLE001 - no access to the launcher
        logger.debug("cannot inspect the launcher: %s", error)
        return None
    script = Path(sys.argv[0]).name
    end = next((i for i, arg in enumerate(arguments) if Path(arg).name == script), len(arguments))
    return arguments[:end], environment


def use_all_cores_under_accelerate() -> None:
    """`accelerate launch` starts a single process on a machine without GPUs with OMP_NUM_THREADS=1 unless
    --num_cpu_threads_per_process (or OMP_NUM_THREADS) was given: then use every core this process may run on.
    An explicit choice of threads is left as it is."""
    if os.environ.get("OMP_NUM_THREADS") != "1" or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return  # given more than one thread, or several processes share the cores
    if torch.cuda.is_available():
        return
    launcher = accelerate_launcher()
    if launcher is None:
        return
    options, environment = launcher
    if any(option.startswith("--num_cpu_threads_per_process") for option in options) or (
        "OMP_NUM_THREADS" in environment  # the user's own setting, passed through by accelerate
    ):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores > 1:
        torch.set_num_threads(cores)
        logger.info(
            "accelerate launch gave this single CPU process 1 thread: using all %d cores "
            "(--num_cpu_threads_per_process chooses)",
            cores,
        )
