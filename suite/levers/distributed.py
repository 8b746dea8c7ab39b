"""The `world_size` axis: data-parallel training with torch.distributed DistributedDataParallel.

Processes are started with torch.multiprocessing.spawn (one per rank; `gloo` on CPU, `nccl` with one
GPU per rank on CUDA). The global batch stays the case's batch_size: each global batch of the seeded
shuffle is split across the ranks (rank r takes every world_size-th sample), so every rank sees its
shard of every epoch and the number of updates per epoch, hence the accuracy after the same epochs,
does not depend on the world size. Scaling is strong scaling:
scaling efficiency = throughput(N) / (N x throughput(1)), where the world-size-1 reference runs the
same DDP step in one process with the same intra-op threads as one rank
(definition as in e.g. https://hpc-wiki.info/hpc/Scaling).

Start and teardown are where spawned ranks fail for reasons of their own rather than the case's:
- the ranks meet through a FileStore in a private temporary directory, not a TCP port chosen in the parent
  and released before rank 0 binds it again (another process may take it meanwhile, and rank 0 would then
  host the store that the others need until they are done with it);
- a rank leaves only after a barrier, and drops its DDP wrappers (whose hooks keep the process group alive
  in reference cycles) before destroying the group. Otherwise the group could be destroyed during
  interpreter exit, after gloo's threads can no longer be joined: std::terminate, "terminate called
  without an active exception", SIGABRT;
- each rank's stderr goes to a file, so a rank that dies by a signal is reported with its own last words.
  A rank that dies after every rank passed the final barrier has nothing left to lose: the measurement is
  kept. One that dies before is tried once more, then the case is recorded as an error with that cause.
"""

from __future__ import annotations

import copy
import gc
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from suite.levers.lever import Lever
from suite.levers.precision import case_matmul_precision
from suite.measure.timing import time_rounds
from suite.metrics import TRAIN_RATE
from suite.optim import OPTIMIZERS
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField, check_int


@dataclass
class DistributedRun:
    """What rank 0 saw: seconds per global training step, global samples per step, and (when trained)
    the TrainOutcome fields and the trained weights."""

    step_seconds: list[float]
    samples_per_step: int
    outcome: dict | None = None
    state_dict: dict | None = None


@dataclass(frozen=True)
class RankWork:
    """What each rank runs, from the layers above the levers (suite.runner.RANK_WORK: this module imports neither
    the runner nor the training loop): `prepare(case, data_dir)` builds the rank's data and initial model,
    `make_train_step(case, model, data, shard=...)` and `train(case, model, data, device, shard=...)` as the
    training loop has them."""

    prepare: Callable
    make_train_step: Callable
    train: Callable


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


ATTEMPTS = 2  # a rank that dies (a signal, not a Python exception) gets the whole run tried once more
# Test-only: the last rank of the first N attempts aborts (SIGABRT) right after joining the group, as a rank
# killed by a native error would; tests/test_ddp.py checks the retry and the recorded cause with it.
SIMULATE_ABORT_ENV = "TRADEOFF_BENCH_SIMULATE_RANK_ABORT"


class RankDied(RuntimeError):
    """A rank ended by a signal or an exit code, with the last line it wrote to stderr."""


def _worker(rank, world_size, case, data_dir, rounds, threads, train_budget, folder, attempt, work):
    """One rank: join the group, time DDP steps on the rank's shard, optionally train to the budget."""
    log = os.open(Path(folder) / f"rank{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)  # native aborts write here too: the parent reports them as the rank's cause of death
    torch.set_num_threads(threads)
    if case.device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend(case.device), init_method=(Path(folder) / "store").resolve().as_uri(),
                            rank=rank, world_size=world_size)
    if rank == world_size - 1 and attempt <= int(os.environ.get(SIMULATE_ABORT_ENV) or 0):
        print(f"simulated abort of rank {rank} in attempt {attempt}", file=sys.stderr, flush=True)
        os.abort()
    try:
        with case_matmul_precision(case):  # the rank's own process: the case's TF32 setting is set here too
            result = _measure(rank, world_size, case, data_dir, rounds, train_budget, work)
        if rank == 0:
            torch.save(asdict(result), Path(folder) / "rank0.pt")
        dist.barrier()  # every rank is done with every collective before any rank tears the group down
        (Path(folder) / f"rank{rank}.done").touch()
    finally:
        gc.collect()  # the DDP wrappers (gone with _measure's frame) sit in reference cycles holding the group
        dist.destroy_process_group()


def _measure(rank, world_size, case, data_dir, rounds, train_budget, work: RankWork) -> DistributedRun:
    """Time DDP steps on the rank's shard and, if asked, train to the case's budget."""
    p = work.prepare(case, data_dir)
    ids = [rank] if case.device == "cuda" else None
    ddp = DDP(copy.deepcopy(p.model), device_ids=ids)
    step, _ = work.make_train_step(case, ddp, p.data, shard=(rank, world_size))
    seconds = time_rounds(step, p.device, *rounds)
    result = DistributedRun(seconds, min(case.batch_size, len(p.data.y_train)))
    if train_budget:
        ddp = DDP(copy.deepcopy(p.model), device_ids=ids)
        result.outcome = asdict(work.train(case, ddp, p.data, p.device, shard=(rank, world_size)))
        result.state_dict = {k: v.cpu() for k, v in ddp.module.state_dict().items()}
    return result


def run(case, data_dir, rounds: tuple[int, int, int], world_size: int | None = None,
        train_budget: bool = True, *, work: RankWork) -> DistributedRun:
    """Spawn `world_size` ranks (the case's by default) and return rank 0's DistributedRun; each rank runs `work`
    (suite.runner.RANK_WORK).

    `rounds` is (rounds, steps per round, warm-up rounds) of the timed training step. A rank that dies is
    retried once; a second death, or a Python exception in a rank, raises RuntimeError with the rank's cause.
    """
    world_size = world_size or case.world_size
    for attempt in range(1, ATTEMPTS + 1):
        with tempfile.TemporaryDirectory(prefix="tradeoff-ddp-") as tmp:
            folder = Path(tmp)
            try:
                mp.spawn(_worker, nprocs=world_size, join=True,
                         args=(world_size, case, data_dir, rounds, rank_threads(case, case.world_size), train_budget,
                               tmp, attempt, work))
            except mp.ProcessExitedException as exc:
                died = RankDied(f"rank {exc.error_index} {_exit_text(exc.exit_code)}: "
                                f"{_last_words(folder / f'rank{exc.error_index}.log')} (tried {ATTEMPTS} times)")
                if not all((folder / f"rank{rank}.done").exists() for rank in range(world_size)):
                    continue  # died before the end of the measurement: try again
            except mp.ProcessRaisedException as exc:  # the rank's own traceback: its last line is the cause
                lines = [line for line in str(exc).splitlines() if line.strip()]
                raise RuntimeError(f"rank {exc.error_index}: {lines[-1] if lines else 'failed'}") from None
            return DistributedRun(**torch.load(folder / "rank0.pt", weights_only=True))
    raise died


def _exit_text(code: int) -> str:
    """"died with SIGABRT" or "exited with code 3"."""
    import signal

    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"died with {signal.Signals(-code).name}"
    except ValueError:
        return f"died with signal {-code}"


def _last_words(log: Path) -> str:
    """The last non-empty line a rank wrote to stderr (its log)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1][:300] if lines else "no message"


def scaling_metrics(step_seconds: list[float], run_1: DistributedRun, world_size: int) -> dict:
    """Global throughput at world size 1 and the scaling efficiency of `step_seconds` (seconds per global
    step at `world_size`) against it, from the medians of the rounds."""
    rate_n = run_1.samples_per_step / statistics.median(step_seconds)
    rate_1 = run_1.samples_per_step / statistics.median(run_1.step_seconds)
    return {f"{TRAIN_RATE}_world_size_1": rate_1,
            "scaling_efficiency": rate_n / (world_size * rate_1)}


class DataParallel(Lever):
    """Data-parallel ranks: the runner's training phases run in spawned ranks (`run`) when world_size > 1."""

    fields = (CaseField("world_size", "int", 1, "data-parallel ranks (DistributedDataParallel)"),)

    def validate(self, case) -> None:
        check_int(case, "world_size", 1)
        if case.world_size > 1 and OPTIMIZERS[case.optimizer].full_batch:
            raise ConfigError(f"optimizer {case.optimizer!r} (full batch) runs with neither fp16 nor world_size > 1")
        if case.world_size > 1 and case.compile != "none":
            raise ConfigError("world_size > 1 is measured eager (compile none)")

    def id_parts(self, case) -> list[str]:
        return [f"ws{case.world_size}"] if case.world_size != 1 else []

    def availability(self, case) -> tuple[bool, str]:
        return availability(case.world_size, case.device)
