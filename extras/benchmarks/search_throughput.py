"""Search throughput: LeNet-5 search trials per hour in process, on Ray with 1 and 2 workers, and
Ray's overhead per trial.

    .venv/bin/python extras/benchmarks/search_throughput.py [--trials 8] [--quick-batches 30]

Each configuration runs the same seeded study (a budget every config meets, so that every trial
trains; the committed baseline weights; short trials) in a fresh in-memory storage without MLflow, so only the execution differs. Ray's
overhead per trial is measured directly as the round trip of an empty task and as the extra time
of one Ray worker over the in-process run. Writes results/search_throughput.{json,md}; wall-clock
figures depend on the machine's load: compare them within one run.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extras" / "python"))
os.environ.setdefault("DMC_PROGRESS", "lines")

import torch  # noqa: E402

from dmc.compression.search import search  # noqa: E402
from dmc.data import mnist_loaders  # noqa: E402
from dmc.zoo.lenet import lenet5  # noqa: E402

OUT = Path(__file__).parent / "results"


def _noop():
    return None


def ray_round_trip(n: int = 50) -> float:
    """Seconds of one empty Ray task, submitted and fetched (median of n, after a warm-up)."""
    import ray
    task = ray.remote(num_cpus=1)(_noop)
    ray.get(task.remote())
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(task.remote())
        times.append(time.perf_counter() - t0)
    return sorted(times)[n // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--quick-batches", type=int, default=30)
    a = p.parse_args()
    torch.set_num_threads(1)             # one core per trial in every configuration
    train, val, _ = mnist_loaders()
    model = lenet5()
    model.load_state_dict(torch.load(ROOT / "extras/experiments/lenet5/results/lenet5_baseline.pt", weights_only=True))
    model.eval()
    rows = []
    for label, workers, use_ray in (("in process", 1, False), ("Ray, 1 worker", 1, True), ("Ray, 2 workers", 2, True)):
        kw = {"ray_address": None}
        if use_ray:
            import ray
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
                     runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "extras" / "python")}})
            kw = {"ray_address": "auto"} if workers == 1 else {}
        t0 = time.perf_counter()
        search(model, train, val, (1, 1, 28, 28), max_model_bytes=1 << 20, trials=a.trials, population=4,
               quick_batches=a.quick_batches, finalists=0, workers=workers, progress=False,
               study_name=f"throughput-{workers}-{use_ray}", **kw)
        wall = time.perf_counter() - t0
        row = {"configuration": label, "workers": workers, "trials": a.trials, "seconds": round(wall, 1),
               "trials_per_hour": round(a.trials * 3600 / wall, 1)}
        if use_ray:
            row["empty_task_round_trip_ms"] = round(1e3 * ray_round_trip(), 2)
            ray.shutdown()
        rows.append(row)
        print(row, flush=True)
    base = rows[0]["seconds"] / a.trials
    rows[1]["ray_overhead_per_trial_s"] = round(rows[1]["seconds"] / a.trials - base, 2)
    OUT.mkdir(exist_ok=True)
    (OUT / "search_throughput.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| configuration | trials | seconds | trials / hour | empty Ray task round trip | Ray overhead per trial |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['configuration']} | {r['trials']} | {r['seconds']} | {r['trials_per_hour']} | "
                     f"{r.get('empty_task_round_trip_ms', '-')} ms | {r.get('ray_overhead_per_trial_s', '-')} s |")
    text = "\n".join(lines) + "\n"
    (OUT / "search_throughput.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
