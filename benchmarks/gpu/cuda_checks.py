"""The CUDA checks: each runs the suite's own code on the GPU, measures the same thing another way, and
applies its rules to the Check it is given. Every function takes (Context, Check) and returns the Check."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import torch

from benchmarks.gpu.datasheet import datasheet_peak
from benchmarks.gpu.power import PowerSampler, integrate_power
from benchmarks.gpu.verdicts import Check, ratio_rule
from suite.cases import Case
from suite.levers import distributed
from suite.measure.ceiling import get_ceiling, matmul_tf32
from suite.measure.cost import CostMeter, ceiling_precision
from suite.measure.devices import fingerprint, synced_perf_counter, time_region
from suite.measure.energy import Energy, nvml_handle
from suite.measure.timing import time_rounds
from suite.metrics import TRAIN_RATE
from suite.runner import RANK_WORK, MeasureConfig, called_once, prepare, run_case, train_step, training_rounds
from suite.workloads.data import load_dataset

REPO = Path(__file__).resolve().parents[2]
CPU_REFERENCE = REPO / "reports" / "example" / "results.json"  # written by a run on the CPU development machine
MIB = 2**20
TIMING_TOLERANCE = 0.05  # CUDA events vs host clock
CEILING_TOLERANCE = 0.10  # suite ceiling vs an independent matmul timing
ENERGY_TOLERANCE = 0.10  # NVML energy counter vs integrated power readings
# NVML sees the driver's mappings (2 MiB granules) and driver-side allocations outside PyTorch's caching
# allocator (lazily loaded kernel modules, library handles): its used memory may differ from the
# allocator's reserve by this much, or by this fraction of the reserve, whichever is larger.
NVML_SLACK_MB, NVML_SLACK_FRACTION = 64, 0.05
KNOWN_MB = (256, 512, 128)  # the peak-memory probe's tensors (MiB): the first two held together, then the third
PROBE_SLACK_MB = 2  # the caching allocator rounds a large request up to a multiple of 2 MiB
OOM_FACTOR = 1.1  # the too-wide model's first activation is this many times the GPU's whole memory
EVENT_N, ENERGY_N = 4096, 8192  # square matmul sizes of the timing and energy workloads
# A small conv case (TF32/MFU, the case after the out-of-memory one), a case whose training step needs about
# a GiB (peak memory), and the ddp plan's base (data parallelism); each runs on the context's device.
SMALL_CASE = dict(model="conv", depth=1, width=16, epochs=1)
MEMORY_CASE = dict(model="conv", depth=2, width=64, optimizer="sgd", batch_size=1024, epochs=1, dataset="synthetic")
DDP_CASE = dict(model="dense", depth=2, width=64, epochs=2)


def _index(ctx) -> int:
    return ctx.device.index or 0


def on_device(ctx, fields: dict) -> Case:
    """A Case with `fields` on the context's device."""
    return Case(**fields, device=ctx.device.type)


def gpu_name(ctx) -> str:
    """The CUDA device's name as torch reports it (the NVML name on NVIDIA GPUs)."""
    return torch.cuda.get_device_name(ctx.device)


def cpu_reference_fingerprint(path: Path = CPU_REFERENCE) -> str | None:
    """The environment fingerprint of the CPU development machine's example run, or None if unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["machine_info"]["tradeoff_bench"]["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_environment(ctx, check: Check) -> Check:
    """The environment block names the GPU, driver, CUDA, clocks and memory; the fingerprint differs from
    the CPU machine's and from this machine's without its GPUs."""
    env = ctx.environment
    gpus = env.get("gpus") or [{}]
    gpu = next((g for g in gpus if g.get("name") == gpu_name(ctx)), gpus[0])
    reference, without_gpus = cpu_reference_fingerprint(), fingerprint({**env, "gpus": []})
    check.values = {"gpu": gpu.get("name"), "driver": gpu.get("driver"), "cuda": env.get("cuda"),
                    "cudnn": env.get("cudnn"), "memory_mb": gpu.get("memory_mb"),
                    "compute_capability": gpu.get("compute_capability"),
                    "sm_clock_max_mhz": gpu.get("sm_clock_max_mhz"), "sm_clock_mhz": gpu.get("sm_clock_mhz"),
                    "memory_clock_max_mhz": gpu.get("memory_clock_max_mhz"),
                    "fingerprint": env.get("fingerprint"), "cpu_fingerprint": reference}
    check.details = {"fingerprint_without_gpus": without_gpus, "cpu_reference": str(CPU_REFERENCE.relative_to(REPO)),
                     "gpus": env.get("gpus"), "tf32": env.get("tf32")}
    return check.conclude(environment_failures(check.values, without_gpus))


def environment_failures(values: dict, without_gpus: str) -> list[str]:
    """What the environment block lacks, or a fingerprint equal to the CPU machine's or blind to the GPUs."""
    required = ("gpu", "driver", "cuda", "memory_mb", "sm_clock_max_mhz", "memory_clock_max_mhz")
    failures = [f"the environment block lacks {key}" for key in required if values.get(key) in (None, "")]
    if values.get("cpu_fingerprint") is None:
        failures.append("no CPU fingerprint in the example report")
    elif values.get("fingerprint") == values["cpu_fingerprint"]:
        failures.append("the fingerprint equals the CPU machine's")
    if values.get("fingerprint") == without_gpus:
        failures.append("the GPUs do not enter the fingerprint")
    return failures


def check_event_timing(ctx, check: Check) -> Check:
    """CUDA-event round times (suite.measure.devices.time_region) against the host clock read after
    torch.cuda.synchronize (suite.measure.devices.synced_perf_counter), rounds interleaved."""
    device, n, calls, rounds = ctx.device, EVENT_N, 10, 10 if ctx.quick else 30
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    out = torch.empty_like(a)

    def call():
        torch.matmul(a, b, out=out)

    events, host = [], []
    with matmul_tf32(device, "fp32"):  # a fixed workload: IEEE fp32, whatever the global setting
        time_region(device, call, 3)  # warm-up
        for _ in range(rounds):
            events.append(time_region(device, call, calls))
            begin = synced_perf_counter()
            for _ in range(calls):
                call()
            host.append(synced_perf_counter() - begin)
    ratio = statistics.median(events) / statistics.median(host)
    check.values = {"events_ms": 1000 * statistics.median(events) / calls,
                    "host_ms": 1000 * statistics.median(host) / calls, "ratio": ratio, "rounds": rounds,
                    "calls_per_round": calls}
    check.details = {"workload": f"torch.matmul of two {n}x{n} fp32 matrices (TF32 off), {calls} per round",
                     "events_s": events, "host_s": host}
    return check.conclude(ratio_rule("events/host", ratio, TIMING_TOLERANCE))


def independent_matmul_rate(device, precision: str, n: int, rounds: int, round_s: float = 0.2) -> float:
    """FLOP/s of `a @ b` on two n x n matrices made on the device, timed by the host clock around
    torch.cuda.synchronize (not the suite's timer), median over rounds; TF32 set for the precision."""
    dtype = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        for _ in range(3):
            a @ b
        torch.cuda.synchronize(device)
        begin = time.perf_counter()
        a @ b
        torch.cuda.synchronize(device)
        calls = max(1, round(round_s / (time.perf_counter() - begin)))
        seconds = []
        for _ in range(rounds):
            torch.cuda.synchronize(device)
            begin = time.perf_counter()
            for _ in range(calls):
                a @ b
            torch.cuda.synchronize(device)
            seconds.append((time.perf_counter() - begin) / calls)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return 2 * n**3 / statistics.median(seconds)


def check_ceiling(ctx, check: Check, precision: str) -> Check:
    """The suite's ceiling (suite.measure.ceiling.get_ceiling: the figure MFU divides by, measured now unless this
    environment's cache holds it) against an independent large torch.matmul timing, shown against the
    datasheet's dense peak."""
    record = get_ceiling(ctx.device, precision)
    independent = independent_matmul_rate(ctx.device, precision, record["n"], rounds=3 if ctx.quick else 5)
    peak = datasheet_peak(gpu_name(ctx), precision)
    suite_tflops = record["flops_per_s"] / 1e12
    dense = peak.get("dense_tflops")
    check.values = {"suite_tflops": suite_tflops, "independent_tflops": independent / 1e12,
                    "ratio": record["flops_per_s"] / independent, "tf32": record.get("tf32"),
                    "noisy": record.get("noisy"),
                    "datasheet_tflops": dense, "of_datasheet_pct": 100 * suite_tflops / dense if dense else None}
    check.details = {"suite": record, "datasheet": peak}
    return check.conclude(ratio_rule("suite/independent", check.values["ratio"], CEILING_TOLERANCE))


def check_energy(ctx, check: Check) -> Check:
    """NVML's energy counter (suite.measure.energy.Energy) against NVML power readings sampled during the same
    region and integrated over time. The region is a bf16 matmul load followed by idle time longer than
    NVML's one-second power average, and starts after as much idle: see benchmarks/gpu/power.py."""
    device, n = ctx.device, ENERGY_N
    load_s, idle_s = (1.5, 1.2) if ctx.quick else (3.0, 1.5)
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    out = torch.empty_like(a)
    torch.cuda.synchronize(device)
    time.sleep(idle_s)
    with PowerSampler(_index(ctx)) as sampler, Energy(device) as energy:
        begin = time.perf_counter()
        while time.perf_counter() - begin < load_s:
            for _ in range(10):
                torch.matmul(a, b, out=out)
            torch.cuda.synchronize(device)
        busy = time.perf_counter() - begin
        time.sleep(idle_s)
        end = time.perf_counter()
    if not energy.source:  # no counter on this GPU: the reason is the result
        return check.skip(energy.reason)
    integrated = integrate_power(sampler.samples, begin, end)
    watts = [w for t, w in sampler.samples if begin <= t <= end]
    check.values = {"counter_j": energy.joules, "integrated_j": integrated,
                    "ratio": (energy.joules or 0.0) / integrated, "region_s": end - begin, "load_s": busy,
                    "mean_w": integrated / (end - begin), "max_w": max(watts, default=None), "samples": len(watts)}
    check.details = {"source": energy.source, "reason": energy.reason, "power_samples": sampler.samples}
    return check.conclude(energy_failures(check.values, energy.reason))


def energy_failures(values: dict, reason: str = "") -> list[str]:
    """No counter figure, counter/integrated outside ENERGY_TOLERANCE, or fewer than 20 power readings."""
    failures = [] if values.get("counter_j") else [reason or "the energy counter gave no figure"]
    failures += ratio_rule("counter/integrated", values["ratio"], ENERGY_TOLERANCE) if values.get("counter_j") else []
    return failures + ([f"only {values['samples']} power readings in the region"] if values["samples"] < 20 else [])


def known_peak_mb(device) -> tuple[float | None, str]:
    """The suite's peak (CostMeter) over a region whose peak is known from tensor sizes alone: KNOWN_MB[0] and
    KNOWN_MB[1] MiB held together, freed, then KNOWN_MB[2] MiB; (figure, reason when absent)."""
    with CostMeter("probe", device, 1) as cost:
        held = [torch.empty(mb * MIB, dtype=torch.uint8, device=device) for mb in KNOWN_MB[:2]]
        del held
        alone = torch.empty(KNOWN_MB[2] * MIB, dtype=torch.uint8, device=device)
        del alone
    metrics = cost.metrics()
    return metrics.get("probe_peak_mem_mb"), metrics.get("probe_peak_mem_mb_reason", "")


def check_peak_memory(ctx, check: Check) -> Check:
    """The suite's peak memory (suite.measure.cost.CostMeter) against a figure it cannot have read from the allocator:
    the arithmetic of tensors of known size allocated in the region; and a training step's peak against NVML's
    used memory (which sees the caching allocator's reserve: allocated peak <= reserved, NVML growth = reserved
    within NVML_SLACK)."""
    import pynvml

    probe_mb, probe_reason = known_peak_mb(ctx.device)
    case = on_device(ctx, MEMORY_CASE)
    p = prepare(case)
    step, per_step = train_step(p)
    step = called_once(step)  # kernels loaded, workspaces made: outside the region
    pynvml.nvmlInit()
    try:
        handle = nvml_handle(pynvml, _index(ctx))
        with CostMeter("train", p.device, per_step) as cost:
            start = pynvml.nvmlDeviceGetMemoryInfo(handle).used
            time_rounds(cost.count(step), p.device, 3, 2, 1)
            torch.cuda.synchronize(p.device)
            used = pynvml.nvmlDeviceGetMemoryInfo(handle).used
    finally:
        pynvml.nvmlShutdown()
    metrics = cost.metrics()
    reserved_mb = metrics.get("train_peak_mem_reserved_mb")
    check.values = {"probe_suite_mb": probe_mb, "probe_known_mb": float(sum(KNOWN_MB[:2])),
                    "suite_mb": metrics.get("train_peak_mem_mb"), "reserved_mb": reserved_mb,
                    "nvml_used_growth_mb": (used - start) / MIB,
                    "nvml_allowance_mb": max(NVML_SLACK_MB, NVML_SLACK_FRACTION * (reserved_mb or 0))}
    check.details = {"case": case.id, "probe": f"{KNOWN_MB[0]} and {KNOWN_MB[1]} MiB uint8 tensors held together, "
                     f"freed, then {KNOWN_MB[2]} MiB: the peak is their sum", "probe_reason": probe_reason,
                     "allowance": "NVML counts the caching allocator's reserve (allocated blocks plus cached free "
                     f"ones) and driver-side allocations; allowed difference: max({NVML_SLACK_MB} MiB, "
                     f"{NVML_SLACK_FRACTION:.0%} of the reserve)"}
    return check.conclude(peak_memory_failures(check.values))


def peak_memory_failures(v: dict) -> list[str]:
    """The known-size probe's peak off by more than PROBE_SLACK_MB, an allocated peak above the reserve, NVML's
    growth off the reserve by more than the allowance, or a figure missing."""
    if v.get("probe_suite_mb") is None or v.get("suite_mb") is None or v.get("reserved_mb") is None:
        return [f"no suite figure: {v}"]
    failures = []
    if abs(v["probe_suite_mb"] - v["probe_known_mb"]) > PROBE_SLACK_MB:
        failures.append(f"suite peak {v['probe_suite_mb']:.1f} MiB, the tensors total {v['probe_known_mb']:.0f} MiB")
    if v["suite_mb"] > v["reserved_mb"] + 1e-6:
        failures.append(f"allocated peak {v['suite_mb']:.1f} MiB above the reserve {v['reserved_mb']:.1f} MiB")
    if abs(v["nvml_used_growth_mb"] - v["reserved_mb"]) > v["nvml_allowance_mb"]:
        failures.append(f"NVML used memory grew {v['nvml_used_growth_mb']:.1f} MiB, the allocator reserved "
                        f"{v['reserved_mb']:.1f} MiB (allowance {v['nvml_allowance_mb']:.0f} MiB)")
    return failures


def check_tf32_mfu(ctx, check: Check) -> Check:
    """TF32 for matmuls and cuDNN convolutions is in the environment block, and a conv case's MFU
    (run_case on CUDA) is computed against the ceiling that matches the cuDNN setting in force."""
    device = ctx.device
    recorded = ctx.environment.get("tf32") or {}
    small = on_device(ctx, SMALL_CASE)
    result = run_case(small, ctx.measure_config())
    if result.status != "ok":
        return check.conclude([f"the conv case {result.case_id} is {result.status}: {result.reason}"])
    m = result.metrics
    ceilings = {p: get_ceiling(device, p)["flops_per_s"] for p in ("fp32", "tf32")}
    achieved = m["train_flops_per_sample"] * m[TRAIN_RATE]
    matched = [p for p, c in ceilings.items() if math.isclose(achieved / c, m["train_mfu"], rel_tol=1e-9)]
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    expected = "tf32" if cudnn_tf32 else "fp32"
    torch.backends.cudnn.allow_tf32 = not cudnn_tf32
    try:
        flipped = ceiling_precision(small, device)
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
    lm = Case(model="transformer", dataset="random-tokens", device=device.type)
    dense = {mp: ceiling_precision(lm.replace(matmul_precision=mp), device) for mp in ("highest", "high")}
    check.values = {"tf32_matmul": recorded.get("matmul"), "tf32_cudnn_conv": recorded.get("cudnn_conv"),
                    "conv_mfu_ceiling": "/".join(matched) or "none", "conv_train_mfu_pct": 100 * m["train_mfu"],
                    "fp32_ceiling_tflops": ceilings["fp32"] / 1e12, "tf32_ceiling_tflops": ceilings["tf32"] / 1e12,
                    "conv_ceiling_if_cudnn_flipped": flipped, "lm_ceiling_highest": dense["highest"],
                    "lm_ceiling_high": dense["high"]}
    in_force = {"cudnn_conv": cudnn_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32}
    return check.conclude(tf32_failures(check.values, recorded, in_force, matched, expected))


def tf32_failures(values: dict, recorded: dict, in_force: dict, matched: list[str], expected: str) -> list[str]:
    """TF32 settings not recorded or not those in force; conv MFU against another ceiling than cuDNN's TF32
    setting gives, or one that does not follow it; a transformer's ceiling not following its matmul_precision."""
    failures = []
    if recorded.get("matmul") is None or recorded.get("cudnn_conv") is None:
        failures.append("the environment block does not record both TF32 settings")
    elif recorded != in_force:
        failures.append(f"recorded TF32 {recorded} differs from the settings in force {in_force}")
    if matched != [expected]:
        failures.append(f"conv MFU matches the {matched or 'no'} ceiling, expected {expected}")
    if values["conv_ceiling_if_cudnn_flipped"] == expected:
        failures.append(f"the conv ceiling stays {expected} when cuDNN TF32 is flipped")
    if (values["lm_ceiling_highest"], values["lm_ceiling_high"]) != ("fp32", "tf32"):
        failures.append(f"a transformer's ceiling is {values['lm_ceiling_highest']} at matmul_precision highest and "
                        f"{values['lm_ceiling_high']} at high, expected fp32 and tf32")
    return failures


def check_oom(ctx, check: Check) -> Check:
    """A conv model too wide for the GPU (its first activation at the largest batch the data allows is
    OOM_FACTOR times the GPU's memory) ends as `oom` with the free memory; the next case runs ok."""
    data = load_dataset("synthetic")
    batch = len(data.y_train)  # batch sizes are capped by the training split
    _, height, width_px = data.input_shape
    total = torch.cuda.get_device_properties(ctx.device).total_memory
    per_channel = batch * height * width_px * 4  # fp32 bytes of one channel of the first conv's output
    width = math.ceil(OOM_FACTOR * total / per_channel)
    case = on_device(ctx, dict(model="conv", depth=1, width=width, optimizer="sgd", batch_size=batch, epochs=1,
                               dataset="synthetic"))
    result = run_case(case, ctx.measure_config())
    after = run_case(on_device(ctx, SMALL_CASE), ctx.measure_config())
    free = result.metrics.get("free_memory_mb")
    check.values = {"width": width, "first_activation_gib": width * per_channel / 2**30,
                    "gpu_memory_gib": total / 2**30, "status": result.status, "free_memory_mb": free,
                    "next_status": after.status, "next_train_samples_per_s": after.metrics.get(TRAIN_RATE)}
    check.details = {"case": case.id, "reason": result.reason, "next_case": after.case_id, "next_reason": after.reason}
    return check.conclude(oom_failures(check.values))


def oom_failures(v: dict) -> list[str]:
    """The too-wide case not `oom`, no positive free-memory figure, or the next case not ok."""
    failures = [] if v["status"] == "oom" else [f"the too-wide case is {v['status']}, expected oom"]
    free = v.get("free_memory_mb")
    failures += [] if free is not None and free > 0 else [f"free memory {free!r} is not a positive figure"]
    return failures + ([] if v["next_status"] == "ok" else [f"the next case is {v['next_status']}"])


def check_ddp(ctx, check: Check) -> Check:
    """The suite's data-parallel path (suite.levers.distributed.run) on nccl with one rank, its throughput against
    the same step without DDP (scaling_metrics at world size 1); world size 2 through run_case where two
    GPUs exist."""
    import torch.distributed as dist

    backend = distributed.backend(ctx.device.type)
    if not dist.is_available() or (backend == "nccl" and not dist.is_nccl_available()):
        return check.conclude([f"{backend} is not available in this torch build"])
    case = on_device(ctx, DDP_CASE)
    rounds = training_rounds(case, MeasureConfig())
    one = distributed.run(case, None, rounds, world_size=1, train_budget=True, work=RANK_WORK)
    p = prepare(case)
    step, per_step = train_step(p)
    plain = time_rounds(called_once(step), p.device, *rounds)
    scaling = distributed.scaling_metrics(one.step_seconds, distributed.DistributedRun(plain, per_step), 1)
    check.values = {"backend": backend, "ddp_samples_per_s": per_step / statistics.median(
                    one.step_seconds), "plain_samples_per_s": scaling[f"{TRAIN_RATE}_world_size_1"],
                    "efficiency_vs_plain": scaling["scaling_efficiency"],
                    "test_accuracy": (one.outcome or {}).get("test_accuracy")}
    check.details = {"case": case.id, "efficiency": f"one {backend} rank's DDP throughput over the same step "
                     "without DDP"}
    failures = ddp_failures((one.outcome or {}).get("status"), scaling["scaling_efficiency"])
    if ctx.device.type == "cuda" and torch.cuda.device_count() >= 2:
        two = run_case(case.replace(world_size=2), MeasureConfig())
        check.values |= {"world_size_2": two.status, "scaling_efficiency_2": two.metrics.get("scaling_efficiency")}
        failures += [] if two.status == "ok" else [f"world size 2 is {two.status}: {two.reason}"]
    else:
        check.details["world_size_2"] = f"not run: needs 2 GPUs, {torch.cuda.device_count()} here"
    return check.conclude(failures)


def ddp_failures(status, efficiency: float) -> list[str]:
    """The rank's training not ok, or its efficiency over the same step without DDP outside (0, 1.5]."""
    failures = [] if status == "ok" else [f"the data-parallel rank trained to status {status!r}"]
    return failures + ([] if 0 < efficiency <= 1.5 else [f"efficiency {efficiency:.3f} is not in (0, 1.5]"])
