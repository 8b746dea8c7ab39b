"""`tradeoff-bench run`: run a plan's cases, print a line per case, write results.json and report.md."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from suite.metrics import INFER_LATENCY_MS_P50, METRICS, TEST_ACCURACY, TRAIN_RATE, VAL_LOSS, noisy_metrics, show
from suite.plumbing.errors import ConfigError, shown

DEFAULT_OUT = "reports/latest"
DEFAULT_PLAN = "quick"


def parse_sets(pairs: list[str]) -> dict:
    """`--set field=value` pairs as typed Case fields."""
    from suite.cases import parse_value

    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {shown(pair)}: expected field=value")
        overrides[name.strip()] = parse_value(name.strip(), value.strip())
    return overrides


def progress_line(index: int, total: int, result, seconds: float) -> str:
    """One line per finished case: id, status and its key figures, a noisy timing marked."""
    m = result.metrics
    figures = [f"{metric.label} {show(key, m[key])}" for key, metric in METRICS.items()
               if metric.watch == "count" and key in m]
    if TRAIN_RATE in m:
        figures.append(f"train {m[TRAIN_RATE]:,.0f} samples/s")
    if INFER_LATENCY_MS_P50 in m:
        figures.append(f"p50 {m[INFER_LATENCY_MS_P50]:.3f} ms")
    noisy = noisy_metrics(m)
    if noisy:
        figures.append(f"NOISY ({', '.join(noisy)}: IQR over 10% of the median)")
    if m.get(TEST_ACCURACY) is not None:
        figures.append(f"acc {100 * m[TEST_ACCURACY]:.1f}%")
    if m.get(VAL_LOSS) is not None:
        figures.append(f"val loss {m[VAL_LOSS]:.3f}")
    if m.get("isolation_startup_s") is not None:
        figures.append(f"isolation {m['isolation_startup_s']:.1f} s")
    detail = "  ".join(figures) or result.reason
    return f"[{index}/{total}] {result.case_id}  {result.status}  {detail}  ({seconds:.1f} s)"


def cmd_run(args) -> int:
    """Run the plan's cases not yet in DIR/cases.jsonl, journaling each as it finishes, then write
    results.json and report.md; SIGINT/SIGTERM stop after the case in flight (exit 130/143). The output
    directory is locked for the whole run: a second run into it is refused (exit 2)."""
    from suite.plumbing.outlock import OutputLock

    if args.max_cases is not None and args.max_cases < 1:
        raise ConfigError(f"--max-cases {args.max_cases}: must be at least 1")
    with OutputLock(args.out) as lock:
        return run_locked(args, lock)


def run_locked(args, lock) -> int:
    """cmd_run's body; `lock` is taken before the journal is read or written."""
    from suite.executors import MeasureRequest, make_executor
    from suite.executors.instructions import measure_config
    from suite.executors.isolated import check_isolation
    from suite.plans import available_cases, load_plan
    from suite.results.checkpoint import JOURNAL_NAME, read_journal
    from suite.results.shard import shard_plan
    from suite.workloads.checks import check_plugins

    out = Path(args.out)
    if args.resume and out.is_dir():
        lock.acquire()  # before reading the journal, so no other run appends to it meanwhile
    journal = read_journal(out / JOURNAL_NAME) if args.resume else None
    plan_source, sets = plan_arguments(args, journal)
    plan = shard_plan(load_plan(plan_source, parse_sets(sets), args.data_dir, args.max_cases), args.shard)
    args.isolation = check_isolation(args.isolation or plan.isolation)  # the option, else the plan's
    cases, unavailable = available_cases(plan, args.data_dir, args.download)
    check_against_data(cases, plan_source, args.data_dir, args.download)
    check_plugins(cases, args.data_dir, args.download)  # plug-in models and datasets, before any training
    config = measure_config(args.measure, args.timing_only)
    request = MeasureRequest(config, args.data_dir, args.download, args.isolation)
    executor = make_executor(args.executor, request, args.ray_address, args.cases_per_node)
    with executor:  # on Ray: connects to the cluster (exit 2 when it cannot) and cancels what is left at the end
        executor.check(cases)
        return run_checked(args, lock, executor, journal, plan, plan_source, sets, cases, unavailable, config)


def run_checked(args, lock, executor, journal, plan, plan_source, sets, cases, unavailable, config) -> int:
    """run_locked's body once every check passed: journal each case as the executor gives it back."""
    from suite.executors.isolated import isolation_procedure
    from suite.measure.environment import machine_info
    from suite.measure.system_check import finish, snapshot
    from suite.plumbing.progress import case_progress
    from suite.results.checkpoint import JOURNAL_NAME, JournalWriteError, JournalWriter, header_record, set_aside
    from suite.results.shard import shard_text
    from suite.results.study import in_phases
    from suite.runner import determinism_notes

    out = Path(args.out)
    start_state = snapshot()
    info = machine_info()
    info["tradeoff_bench"]["determinism"] = determinism_notes(sorted({c.device for c in cases}))
    info["tradeoff_bench"]["procedure"] = config.procedure("cli", args.executor) | executor.procedure \
        | isolation_procedure(args.isolation)
    fingerprint = info["tradeoff_bench"]["fingerprint"]
    lock.acquire()  # creates OUT: only after every check, so a refused plan leaves nothing behind
    done = {}
    if journal:
        journal.check_resumable(plan.name, fingerprint, [c.id for c in cases])
        done = journal.results
    elif moved := set_aside(out / JOURNAL_NAME):
        print(f"moved the previous journal to {moved} (pass --resume to continue a journal instead)", flush=True)
    print(f"plan {plan.name}: {len(cases)} cases -> {out}"
          + (f" (resuming: {len(done)} already recorded)" if journal else ""), flush=True)
    header = header_record(plan.name, plan_source, sets, fingerprint)
    finished, failure = False, None

    def progress_for(case):
        """The progress line of the case about to run (the local executor shows it)."""
        return case_progress(len(done) + 1, len(cases), case)

    with StopOnSignal() as stop, JournalWriter(out / JOURNAL_NAME, header, journal) as writer:
        try:
            for phase in in_phases(plan, cases, done):  # a study's finals start when its trials are in
                if stop.signum and phase:  # a signal during the last case leaves nothing to run: finished
                    break
                for result, seconds in executor.run(phase, lambda: stop.signum, progress=progress_for):
                    done[result.case_id] = result = writer.append(result)
                    print(progress_line(len(done), len(cases), result, seconds), flush=True)
                if stop.signum and any(c.id not in done for c in phase):
                    break
            else:
                finished = True
        except KeyboardInterrupt:  # a second signal: the case in flight is dropped, the finished ones kept
            pass
        except JournalWriteError as exc:  # a full disk: keep what is recorded, say how to go on
            failure = exc
        stop.allow_hard_stop = False
        warning = finish(info, start_state, torch_threads())
        if warning:
            print(warning, flush=True)
        write_recorded(out, unavailable + [done[c.id] for c in cases if c.id in done], plan.name, info, failure,
                       shard_text(args.shard))
    if stop.signum and finished:
        print(f"tradeoff-bench: {signal.Signals(stop.signum).name} arrived during the last case: every case is "
              f"recorded, nothing to resume", file=sys.stderr, flush=True)
    elif stop.signum:
        print(f"tradeoff-bench: interrupted by {signal.Signals(stop.signum).name}: {len(done)}/{len(cases)} cases "
              f"recorded in {out / JOURNAL_NAME}; resume with: tradeoff-bench run --resume --out {out}"
              f"{executor_arguments(args)}",
              file=sys.stderr, flush=True)
        return 128 + stop.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
    errors = [r for r in done.values() if r.status == "error"]
    if errors:
        print(f"tradeoff-bench: {len(errors)} of {len(cases)} cases ended in error (see the reasons above and in "
              f"{out / 'results.json'})", file=sys.stderr, flush=True)
        return 1
    return 0


def executor_arguments(args) -> str:
    """The executor options of this run, as they follow a resume command ("" for the local executor)."""
    measuring = (f" --isolation {args.isolation}" if args.isolation != "none" else "") \
        + (" --timing-only" if args.timing_only else "")
    if args.executor == "local":
        return measuring
    return measuring + (f" --executor {args.executor}"
                        + (f" --ray-address {args.ray_address}" if args.ray_address else "")
                        + (f" --cases-per-node {args.cases_per_node}" if args.cases_per_node != 1 else ""))


def torch_threads() -> int:
    """The intra-op thread count timed work used by default."""
    import torch

    return torch.get_num_threads()


def plan_arguments(args, journal) -> tuple[str, list[str]]:
    """(plan source, --set pairs): the command line's, else on --resume the journal's, else quick."""
    from suite.plans import PLAN_DIR, plan_path

    if args.plan is None:
        source = journal.header["plan_source"] if journal else DEFAULT_PLAN
    else:  # a plan file outside benchmarks/plans/ is journaled by absolute path: resume from any directory
        path = plan_path(args.plan)
        source = path.stem if path.resolve().parent == PLAN_DIR.resolve() else str(path.resolve())
    sets = args.set or (journal.header["sets"] if journal else [])
    return source, sets


def check_against_data(cases, plan_source: str, data_dir, download: bool) -> None:
    """Fail before any training on unreadable data, a text too short for a case's context, or a batch size
    larger than a training split."""
    from suite.workloads.data import load_dataset

    for name in sorted({c.dataset for c in cases}):
        data = load_dataset(name, data_dir, download)
        for case in cases:
            if case.dataset == name and case.batch_size > (train_size := len(data.for_case(case).y_train)):
                raise ConfigError(f"plan {plan_source}: case {case.id}: field 'batch_size' is {case.batch_size}, "
                                  f"expected at most the {name} training split's {train_size} samples")


def write_recorded(out: Path, results: list, plan: str, info: dict, failure: Exception | None,
                   shard: str | None = None) -> None:
    """write_outputs for the recorded cases. After a journal failure (`failure`), or when the outputs cannot
    be written, one ConfigError line: what went wrong, what is kept, and how to go on."""
    from suite.results.checkpoint import JOURNAL_NAME

    problems, kept = [str(failure)] if failure else [], f"{out / JOURNAL_NAME}"
    try:
        write_outputs(out, results, plan, info, shard)
        kept += f" and {out / 'results.json'}"
    except ConfigError as exc:
        problems.append(f"results not written: {exc}")
    if problems:
        raise ConfigError(f"{'; '.join(problems)}; {len(results)} case(s) are kept in {kept}; "
                          f"once the disk has space, finish with: tradeoff-bench run --resume --out {out}")


def write_outputs(out: Path, results: list, plan: str, info: dict, shard: str | None = None) -> None:
    """results.json (with its shard "K/N" for a part of a sharded run) and the reports, each through a temporary
    file and a rename."""
    from suite.commands.summary import summary_lines
    from suite.measure.environment import commit_info
    from suite.plumbing.fileio import write_json_atomic
    from suite.report.build import write_report
    from suite.results.schema import load_run, run_document

    write_json_atomic(out / "results.json", run_document(results, plan, info, commit_info(), shard=shard))
    run = load_run(out / "results.json")
    write_report([run], out)  # report.md, index.html and plots/
    print("\n".join(summary_lines(out, run)), flush=True)


class StopOnSignal:
    """While active, SIGINT and SIGTERM ask the run to stop after the case in flight (`signum` set);
    a second signal raises KeyboardInterrupt to stop at once, unless `allow_hard_stop` is off."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = 0
        self.allow_hard_stop = True
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.signum and self.allow_hard_stop:
            raise KeyboardInterrupt
        if not self.signum:
            print(f"tradeoff-bench: {signal.Signals(signum).name}: stopping after the case in flight "
                  "(send it again to stop now)", file=sys.stderr, flush=True)
        self.signum = self.signum or signum

    def __enter__(self) -> StopOnSignal:
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def register(sub) -> None:
    """Add the `run` subcommand."""
    run = sub.add_parser("run", help="run a plan's cases and write results.json and report.md")
    run.add_argument("--plan", default=None,
                     help=f"plan name in benchmarks/plans/ or a .toml path (default {DEFAULT_PLAN}, or the journal's "
                     "with --resume)")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base field")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    run.add_argument("--data-dir", default=None, help="data directory: IDX files, tinyshakespeare/input.txt "
                     "(or $TRADEOFF_BENCH_DATA)")
    run.add_argument("--download", action="store_true", help="allow downloading datasets (needs torchvision)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run journaled in OUT/cases.jsonl: skip its recorded cases, run the rest")
    run.add_argument("--max-cases", type=int, default=None, metavar="N",
                     help="refuse a plan of more than N cases, counted before it is expanded (default 10000)")
    run.add_argument("--shard", default=None, metavar="K/N",
                     help="run only the K-th of N disjoint, balanced parts of the plan (join them with merge)")
    run.add_argument("--executor", default="local", metavar="NAME",
                     help="where the cases run: local (one after another here, the default) or ray (each case a "
                     "task on a Ray cluster, isolated by its resource request; needs pip install -e '.[ray]')")
    run.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="the Ray cluster to use (host:port of `ray start --head`; default $RAY_ADDRESS, else a "
                     "cluster running on this machine, else a new one here)")
    run.add_argument("--cases-per-node", type=int, default=1, metavar="N",
                     help="with --executor ray: pack N cases per node (sweep throughput, not isolated timings; "
                     "recorded in the procedure, so never compared with isolated runs)")
    run.add_argument("--isolation", default=None, metavar="MODE",
                     help="none (every case in this process, the default unless the plan says `isolation`) or "
                     "process (each case in a fresh Python interpreter; a crash or out-of-memory kill of one case is "
                     "its recorded error; works with either executor; recorded in the procedure)")
    run.add_argument("--timing-only", action="store_true",
                     help="time the training step and the forwards on the initial model, no training to the "
                     "accuracy budget (accuracy metrics absent; recorded in the procedure)")
    run.add_argument("--measure", default="time", choices=("time", "instructions"),
                     help="time (the default: timed rounds and training to the budget) or instructions (build, warm "
                     "up and count instructions of the step and the batch-1 forward under valgrind; no training)")
    run.set_defaults(func=cmd_run)
