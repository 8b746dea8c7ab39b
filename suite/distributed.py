"""The `world_size` axis: data-parallel training with torch.distributed DistributedDataParallel.

Processes are started with torch.multiprocessing.spawn (one per rank; `gloo` on CPU, `nccl` with one
GPU per rank on CUDA). The global batch stays the case's batch_size: each global batch of the seeded
shuffle is split across the ranks (rank r takes every world_size-th sample), so every rank sees its
shard of every epoch and the number of updates per epoch, hence the accuracy after the same epochs,
does not depend on the world size. Scaling is strong scaling:
scaling efficiency = throughput(N) / (N x throughput(1)), where the world-size-1 reference runs the
same DDP step in one process with the same intra-op threads as one rank
(definition as in e.g. https://hpc-wiki.info/hpc/Scaling).
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


@dataclass
class DistributedRun:
    """What rank 0 saw: seconds per global training step, global samples per step, and (when trained)
    the TrainOutcome fields and the trained weights."""

    step_seconds: list[float]
    samples_per_step: int
    outcome: dict | None = None
    state_dict: dict | None = None


def backend(device: str) -> str:
    """The process-group backend for a device: nccl on CUDA, gloo elsewhere."""
    return "nccl" if device == "cuda" else "gloo"


def availability(world_size: int, device: str) -> tuple[bool, str]:
    """(True, "") when world_size ranks can run here: one core each on CPU, one GPU each on CUDA."""
    if world_size == 1:
        return True, ""
    if not dist.is_available():
        return False, "torch.distributed is not available in this torch build"
    if device == "cuda":
        if not dist.is_nccl_available():
            return False, "nccl is not available in this torch build"
        if torch.cuda.device_count() < world_size:
            return False, f"world_size {world_size} needs {world_size} GPUs, {torch.cuda.device_count()} here"
        return True, ""
    if device != "cpu":
        return False, f"data-parallel training is measured on cpu (gloo) and cuda (nccl), not {device!r}"
    if (os.cpu_count() or 1) < world_size:
        return False, f"world_size {world_size} needs {world_size} CPU cores, {os.cpu_count()} here"
    return True, ""


def rank_threads(case, world_size: int) -> int:
    """Intra-op threads per rank: the case's `threads`, else the cores shared out evenly."""
    return case.threads or max(1, (os.cpu_count() or 1) // world_size)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, case, data_dir, rounds, threads, train_budget, port, out):
    """One rank: join the group, time DDP steps on the rank's shard, optionally train to the budget."""
    import copy

    from torch.nn.parallel import DistributedDataParallel as DDP

    from suite.measure import time_rounds
    from suite.runner import prepare
    from suite.train import make_train_step, train

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    if case.device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend(case.device), rank=rank, world_size=world_size)
    try:
        p = prepare(case, data_dir)
        ids = [rank] if case.device == "cuda" else None
        ddp = DDP(copy.deepcopy(p.model), device_ids=ids)
        step, _ = make_train_step(case, ddp, p.data, shard=(rank, world_size))
        seconds = time_rounds(step, p.device, *rounds)
        result = DistributedRun(seconds, min(case.batch_size, len(p.data.y_train)))
        if train_budget:
            ddp = DDP(copy.deepcopy(p.model), device_ids=ids)
            result.outcome = asdict(train(case, ddp, p.data, p.device, shard=(rank, world_size)))
            result.state_dict = {k: v.cpu() for k, v in ddp.module.state_dict().items()}
        if rank == 0:
            torch.save(asdict(result), out)
    finally:
        dist.destroy_process_group()


def run(case, data_dir, rounds: tuple[int, int, int], world_size: int | None = None,
        train_budget: bool = True) -> DistributedRun:
    """Spawn `world_size` ranks (the case's by default) and return rank 0's DistributedRun.

    `rounds` is (rounds, steps per round, warm-up rounds) of the timed training step.
    """
    world_size = world_size or case.world_size
    with tempfile.TemporaryDirectory(prefix="tradeoff-ddp-") as tmp:
        out = Path(tmp) / "rank0.pt"
        mp.spawn(_worker, nprocs=world_size, join=True,
                 args=(world_size, case, data_dir, rounds, rank_threads(case, case.world_size), train_budget,
                       _free_port(), out))
        return DistributedRun(**torch.load(out, weights_only=True))


def scaling_metrics(step_seconds: list[float], run_1: DistributedRun, world_size: int) -> dict:
    """Global throughput at world size 1 and the scaling efficiency of `step_seconds` (seconds per global
    step at `world_size`) against it, from the medians of the rounds."""
    rate_n = run_1.samples_per_step / statistics.median(step_seconds)
    rate_1 = run_1.samples_per_step / statistics.median(run_1.step_seconds)
    return {"train_samples_per_s_world_size_1": rate_1,
            "scaling_efficiency": rate_n / (world_size * rate_1)}
