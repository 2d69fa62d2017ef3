"""Compression search on Optuna: budgets as constraints, the frontier, storage and resume after a
kill, Ray execution and MLflow tracking (one run per finished trial)."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import dmc
from dmc.compression.search import Candidate, _layers, _params, open_study, pareto_front, search

HERE = Path(__file__).parent


def tiny_problem():
    torch.manual_seed(0)
    model = dmc.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 6, 6, generator=g)
    y = model(x).argmax(1).detach()                       # learnable labels: the model's own
    train = DataLoader(TensorDataset(x, y), batch_size=32)
    val = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=64)
    return model, train, val


def test_search_respects_the_budget_and_returns_a_frontier(tmp_path):
    model, train, val = tiny_problem()
    budget = 250
    seed = Candidate({"conv2d_0": (0.5, 4, "per_tensor", 8), "linear_0": (0.0, 4, "per_tensor", 8)}, 8)
    final = search(model, train, val, (1, 1, 6, 6), max_model_bytes=budget, trials=10, population=4,
                   quick_batches=4, final_epochs=1, finalists=2, seeds=[seed], progress=False,
                   storage=str(tmp_path / "s.db"), out_dir=tmp_path)
    assert 1 <= len(final) <= 2
    for c in final:
        assert c.feasible and c.model_bytes <= budget and 0.0 <= c.final_val_accuracy <= 1.0
        assert c.model.model_bytes == c.model_bytes
    assert [c.final_val_accuracy for c in final] == sorted((c.final_val_accuracy for c in final), reverse=True)
    study = open_study(f"sqlite:///{tmp_path / 's.db'}", "dmc-search", create=False)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 10
    assert done[0].params == _params(seed, _layers(model, (1, 1, 6, 6)))   # the seed config is tried first
    for t in done:                                          # over budget => a violated constraint
        over = t.user_attrs["model_bytes"] is None or t.user_attrs["model_bytes"] > budget
        assert (t.user_attrs["violation"] > 0) == over or t.user_attrs["why"], t.user_attrs
    front = pareto_front(study)
    assert all(t.user_attrs["violation"] == 0 for t in front)
    for a in front:
        assert not any(b.values[0] > a.values[0] and b.values[1] < a.values[1] for b in front)
    from dmc.cli import main as cli
    assert cli(["search", "--report", "--storage", str(tmp_path / "s.db"), "--study-name", "dmc-search",
                "--out", str(tmp_path / "report")]) == 0
    table = (tmp_path / "report" / "study_frontier.md").read_text()
    assert all(f"| {t.number} |" in table for t in front)
    assert (tmp_path / "report" / "study_accuracy_vs_bytes.png").stat().st_size > 0
    assert cli(["search", "--report", "--storage", str(tmp_path / "s.db"), "--study-name", "nope",
                "--out", str(tmp_path / "report")]) == 2


def test_search_errors_are_named(tmp_path):
    model, train, val = tiny_problem()
    with pytest.raises(dmc.ConfigError, match="budget"):
        search(model, train, val, (1, 1, 6, 6), progress=False)
    with pytest.raises(dmc.ConfigError, match="sampler"):
        search(model, train, val, (1, 1, 6, 6), max_model_bytes=300, sampler="grid", progress=False)
    with pytest.raises(dmc.ConfigError, match="objective"):
        search(model, train, val, (1, 1, 6, 6), max_model_bytes=300, objectives=["speed"], progress=False)
    db = str(tmp_path / "s.db")
    search(model, train, val, (1, 1, 6, 6), max_model_bytes=300, trials=1, quick_batches=1, final_epochs=1,
           finalists=1, storage=db, progress=False)
    with pytest.raises(dmc.ConfigError, match="another --study-name"):
        search(model, train, val, (1, 1, 6, 6), max_model_bytes=400, trials=2, storage=db, progress=False)


def test_sparse_genes_zero_weights_and_minutes_stop_new_trials(tmp_path):
    """With ``sparse`` each layer's share of zeroed weights is a parameter: the seed's 80% of
    linear_0 is 80% zeros in its integer model. A spent ``minutes`` budget starts no trial."""
    model, train, val = tiny_problem()
    layers = _layers(model, (1, 1, 6, 6))
    seed = Candidate({"conv2d_0": (0.0, 8, "per_tensor", 8, 0.0), "linear_0": (0.0, 4, "per_tensor", 8, 0.8)}, 8)
    assert seed.config()["prune_weight"]["sparsity"] == {"linear_0": 0.8} and seed.config()["storage"] == "auto"
    assert "z80%" in seed.describe() and "prune_weight" not in Candidate({"linear_0": (0.0, 4, "per_tensor", 8)}).config()
    search(model, train, val, (1, 1, 6, 6), max_model_bytes=400, trials=3, population=2, quick_batches=2,
           final_epochs=1, finalists=1, seeds=[seed], sparse=True, progress=False, storage=str(tmp_path / "s.db"),
           out_dir=tmp_path)
    study = open_study(f"sqlite:///{tmp_path / 's.db'}", "dmc-search", create=False)
    first = study.trials[0]
    assert first.params == _params(seed, layers, sparse=True) and first.params["linear_0.zeros"] == 0.8
    assert all("conv2d_0.zeros" in t.params for t in study.trials)
    qm = dmc.load(tmp_path / "trials" / f"trial_{first.number}.dmc")
    report = {r["layer"]: r for r in qm.meta["weight_pruning"]}
    assert report["linear_0"]["target"] == 0.8 and report["linear_0"]["zero"] >= 0.8 - 1 / (3 * 96), report
    with pytest.raises(dmc.ConfigError, match=r"linear_0.zeros = 0.65 is not in the search space"):
        _params(Candidate({"conv2d_0": (0.0, 8, "per_tensor", 8), "linear_0": (0.0, 4, "per_tensor", 8, 0.65)}),
                layers, sparse=True)
    with pytest.raises(dmc.ConfigError, match="minutes"):
        search(model, train, val, (1, 1, 6, 6), max_model_bytes=400, minutes=0, progress=False)
    final = search(model, train, val, (1, 1, 6, 6), max_model_bytes=400, trials=5, minutes=1e-9, progress=False,
                   storage=str(tmp_path / "t.db"))
    assert final == [] and open_study(f"sqlite:///{tmp_path / 't.db'}", "dmc-search", create=False).trials == []


def _complete_trials(db: Path) -> list[int]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            return [r[0] for r in con.execute("select number from trials where state = 'COMPLETE'")]
        except sqlite3.OperationalError:
            return []


def test_kill_and_resume_loses_nothing_and_counts_nothing_twice(tmp_path):
    """A real driver process is killed (SIGKILL) mid-study; the same command then finishes it.
    The study ends with exactly the asked number of finished trials, the ones finished before the
    kill kept as they were, and MLflow holds one run per finished trial."""
    db, runs = tmp_path / "study.db", tmp_path / "mlruns"
    cmd = [sys.executable, str(HERE / "search_script.py"), str(db), str(runs), str(tmp_path / "out"), "8"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 240
    while len(_complete_trials(db)) < 3 and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    before = set(_complete_trials(db))
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert 3 <= len(before) < 8, f"the kill came too late or too early: {len(before)} trials finished"
    with sqlite3.connect(db) as con:
        kept = dict(con.execute("select t.number, v.value from trials t join trial_values v on "
                                "v.trial_id = t.trial_id where t.state = 'COMPLETE' and v.objective = 1"))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "resuming study" in r.stdout + r.stderr
    after = _complete_trials(db)
    assert len(after) == 8 and len(set(after)) == 8, after
    assert before <= set(after)
    with sqlite3.connect(db) as con:
        again = dict(con.execute("select t.number, v.value from trials t join trial_values v on "
                                 "v.trial_id = t.trial_id where t.state = 'COMPLETE' and v.objective = 1"))
    assert all(again[n] == kept[n] for n in kept)          # finished trials untouched
    from dmc.compression.tracking import MlflowTracker
    logged = MlflowTracker("kill-test", str(runs)).trial_numbers()
    assert logged == sorted(after), (logged, sorted(after))


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the Ray tests (an executor joins a running Ray and leaves it running)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(dmc.__file__).parents[1])}})
    yield ray
    ray.shutdown()


def test_ray_workers_run_the_trials(tmp_path, local_ray):
    model, train, val = tiny_problem()
    final = search(model, train, val, (1, 1, 6, 6), max_model_bytes=300, trials=4, population=4, quick_batches=2,
                   final_epochs=1, finalists=1, workers=2, storage=str(tmp_path / "r.db"), progress=False,
                   mlflow_uri=str(tmp_path / "mlruns"), study_name="ray-test")
    assert len(final) == 1 and final[0].model_bytes <= 300
    from dmc.compression.tracking import MlflowTracker
    assert len(MlflowTracker("ray-test", str(tmp_path / "mlruns")).trial_numbers()) == 4


def test_sensitivity_on_ray_matches_local(local_ray):
    """dmc.sensitivity runs its pruned copies through the same executor as the search: on two Ray
    workers it returns exactly the scores of the in-process run, channel and weight pruning."""
    model, _, val = tiny_problem()
    score = lambda m: dmc.evaluate(m, val)["accuracy"]      # noqa: E731  (pickled by value for Ray)
    for kind in ("channel", "weight"):
        local = dmc.sensitivity(model, score, (1, 1, 6, 6), sparsities=(0.25, 0.5), kind=kind, progress=False)
        remote = dmc.sensitivity(model, score, (1, 1, 6, 6), sparsities=(0.25, 0.5), kind=kind, progress=False,
                                 workers=2)
        assert remote.scores == local.scores and remote.baseline == local.baseline, (kind, local.scores, remote.scores)
        assert all(len(row) == 2 and None not in row for row in local.scores.values())
