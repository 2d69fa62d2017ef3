"""Compression search: per-layer pruning and bit widths under flash/SRAM budgets, with Optuna.

The search space, per weighted layer: the fraction of output channels removed, the weight bit
width (8/4/2), the granularity, the output activation bit width (8/4) and the fraction of single
weights set to zero (unstructured, stored as dCSR where that is smaller), plus the input bit
width. Optuna proposes configs (NSGA-II or TPE, multi-objective: validation accuracy up, model
bytes down, and optionally the arena or the simulated Uno's cycles down); the byte/board budget
is a constraint. Each trial compresses and converts its config (bytes and arena are exact, from
the planner); a config over budget is scored without training, the others get a short
distilled quantization-aware fine-tune and are scored on the validation split. The feasible
Pareto front is then trained longer and reported; test data is never used here.

Trials run in this process or as Ray tasks (:mod:`dmc.compression.executor`). The study lives in
an Optuna storage (an SQLite file by default): running the same command again after a crash or a
kill resumes it, keeping every finished trial and re-running those that were interrupted, so
no trial is lost or counted twice. Every finished trial is logged to MLflow
(:mod:`dmc.compression.tracking`).
"""
from __future__ import annotations

import copy
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.intmodel import loads as intmodel_from_bytes
from ..deploy.boards import get_board
from ..deploy.budget import budget
from ..errors import ConfigError, DMCError
from ..progress import progress as progress_bar
from ..progress import write as progress_write
from .compressed_model import compress
from .conversion import convert
from .executor import make_executor
from .graph import trace
from .pruning import channel_groups
from .tracking import make_tracker

ZEROS = (0.0, 0.5, 0.7, 0.8, 0.9)        # unstructured sparsity (dmc.compression.weight_pruning)
WEIGHT_BITS = (8, 4, 2)
ACT_BITS = (8, 4)
GRANULARITIES = ("per_tensor", "per_channel")
SAMPLERS = ("nsga2", "tpe")
EXTRA_OBJECTIVES = ("arena", "cycles")


@dataclass
class Candidate:
    genes: dict                           # layer alias -> (channels removed: a count or a fraction, weight bits,
                                          #                 granularity, act bits [, fraction of weights zeroed])
    input_bits: int = 8
    model_bytes: int | None = None
    arena_bytes: int | None = None
    cycles: int | None = None
    val_accuracy: float | None = None
    feasible: bool = True
    why: str = ""
    final_val_accuracy: float | None = None
    number: int | None = None             # the Optuna trial number
    dmc: bytes | None = field(default=None, repr=False)   # the integer model's .dmc bytes

    def key(self):
        return (tuple(sorted(self.genes.items())), self.input_bits)

    def zeros(self) -> dict:
        """Layer alias -> fraction of its weights zeroed (only layers with some)."""
        return {k: g[4] for k, g in self.genes.items() if len(g) > 4 and g[4] > 0}

    def config(self) -> dict:
        cfg = {"prune_channel": {"sparsity": {k: g[0] for k, g in self.genes.items() if g[0] > 0}},
               "quantize": {"scheme": "static", "input_bitwidth": self.input_bits,
                            "layers": {k: {"bitwidth": g[1], "granularity": g[2], "activation_bitwidth": g[3]}
                                       for k, g in self.genes.items()}}}
        if self.zeros():
            cfg["prune_weight"] = {"sparsity": self.zeros(), "schedule": "oneshot", "ranking": "layer"}
            cfg["storage"] = "auto"
        return cfg

    def describe(self) -> str:
        zeros = self.zeros()
        parts = [f"{k}: -{g[0] if isinstance(g[0], int) else format(g[0], '.0%')} w{g[1]} {'ch' if g[2] == 'per_channel' else 't'} a{g[3]}"
                 + (f" z{zeros[k]:.0%}" if k in zeros else "") for k, g in self.genes.items()]
        return f"in{self.input_bits}; " + ", ".join(parts)

    @property
    def model(self):
        """The IntModel of this candidate (decoded from its .dmc bytes)."""
        return intmodel_from_bytes(self.dmc) if self.dmc else None


def removable(channels: int) -> tuple[int, ...]:
    """Channel counts a layer of ``channels`` outputs may lose: every count up to 7/8 of them for
    up to 16 channels, steps of about a twentieth above; at least an eighth (and one) is kept."""
    return tuple(range(0, channels - max(1, channels // 8) + 1, max(1, channels // 20)))


def _layers(model, input_shape):
    """(alias, output channels, channel counts it may lose) per weighted layer; the counts are ()
    for a layer that cannot be pruned."""
    graph = trace(copy.deepcopy(model), input_shape)
    prunable = {g.producers[0].attrs["alias"] for g in channel_groups(graph) if not g.fixed}
    out = []
    for n in graph.weighted_layers():
        alias = n.attrs["alias"]
        channels = n.module.out_channels if n.op == "conv2d" else n.module.out_features
        out.append((alias, channels, removable(channels) if alias in prunable else ()))
    return out


def suggest(trial, layers, sparse: bool = False) -> Candidate:
    """The config an Optuna trial proposes (layers: see :func:`_layers`); ``sparse`` adds each
    layer's unstructured sparsity to the space."""
    genes = {}
    for alias, _, counts in layers:
        s = trial.suggest_categorical(f"{alias}.prune", counts) if counts else 0
        genes[alias] = (s, trial.suggest_categorical(f"{alias}.wbits", WEIGHT_BITS),
                        trial.suggest_categorical(f"{alias}.granularity", GRANULARITIES),
                        trial.suggest_categorical(f"{alias}.abits", ACT_BITS))
        if sparse:
            genes[alias] += (trial.suggest_categorical(f"{alias}.zeros", ZEROS),)
    return Candidate(genes, trial.suggest_categorical("input_bits", ACT_BITS))


def _params(c: Candidate, layers, sparse: bool = False) -> dict:
    """The Optuna parameters of a config (to enqueue it as a trial); a layer that cannot be
    pruned has no pruning parameter."""
    unknown = set(c.genes) - {a for a, *_ in layers}
    if unknown:
        raise ConfigError(f"seed config names unknown layers: {', '.join(sorted(unknown))}")
    p = {"input_bits": c.input_bits}
    choices = {"wbits": WEIGHT_BITS, "granularity": GRANULARITIES, "abits": ACT_BITS, "zeros": ZEROS,
               "input_bits": ACT_BITS}
    for alias, channels, counts in layers:
        s, w, g, a = c.genes[alias][:4]
        if counts:                           # a fraction counts channels as the pruning config does
            p[f"{alias}.prune"] = s if isinstance(s, int) else int(round(s * channels))
            choices[f"{alias}.prune"] = counts
        p.update({f"{alias}.wbits": w, f"{alias}.granularity": g, f"{alias}.abits": a})
        if sparse:
            p[f"{alias}.zeros"] = c.genes[alias][4] if len(c.genes[alias]) > 4 else 0.0
    for name, value in p.items():
        allowed = choices.get(name, choices.get(name.rsplit(".", 1)[-1]))
        if value not in allowed:
            raise ConfigError(f"seed config: {name} = {value!r} is not in the search space {allowed}")
    return p


def evaluate_config(model, train_loader, val_loader, input_shape, genes, input_bits, caps, epochs, batches,
                    augment=None, measure_cycles=False, threads=None) -> dict:
    """Compress, convert, check the budget and (when within it) fine-tune and score one config.

    A plain function of picklable arguments, so that it runs the same in this process and as a
    Ray task. Returns a dict: feasible, why, model_bytes, arena_bytes, val_accuracy, cycles, dmc.
    """
    if threads:
        torch.set_num_threads(threads)
    c = Candidate(dict(genes), input_bits)
    flash_cap, sram_cap = caps
    out = {"feasible": False, "why": "", "model_bytes": None, "arena_bytes": None, "val_accuracy": None,
           "cycles": None, "dmc": None}
    try:
        cm = compress(model, c.config(), input_shape, calibration_data=train_loader, calibration_batches=8)
        qm = convert(cm)
    except DMCError as e:
        out["why"] = str(e)
        return out
    out["model_bytes"], out["arena_bytes"] = qm.model_bytes, budget(qm)["arena_bytes"]
    if qm.model_bytes > flash_cap or (sram_cap and out["arena_bytes"] > sram_cap):
        out["why"] = "over budget"
        return out
    loader = list(itertools.islice(train_loader, batches)) if batches else train_loader
    cm.fit(loader, epochs=epochs, val_loader=val_loader, lr=1e-3, schedule="cosine",
           teacher=copy.deepcopy(model).eval(), augment=augment, monitor="accuracy", restore_best=True,
           progress=False)
    out["val_accuracy"] = cm.evaluate(val_loader)["accuracy"]
    qm = convert(cm)
    out.update(feasible=True, dmc=qm.to_bytes())
    if measure_cycles:
        out["cycles"] = _uno_cycles(qm, val_loader)
    return out


def _uno_cycles(qm, val_loader) -> int:
    """Exact simavr cycles of one inference of ``qm`` (the serial-runner sketch on the Uno)."""
    import tempfile

    from ..deploy.measure import measure_uno
    x = next(iter(val_loader))[0][:2].numpy()
    with tempfile.TemporaryDirectory(prefix="dmc-trial-") as tmp:
        path = Path(tmp) / "trial.dmc"
        qm.save(path)
        row = measure_uno(path, qm.quantize_input(x))
    if not row.get("fits_uno", False):
        raise DMCError(f"does not fit the Uno: {row.get('note', 'over its flash or SRAM')}")
    return row["cycles"]


def _caps(max_model_bytes, board):
    if max_model_bytes is None and board is None:
        raise ConfigError("search needs a budget: max_model_bytes and/or board")
    if max_model_bytes is not None and max_model_bytes <= 0:
        raise ConfigError(f"max_model_bytes must be positive, got {max_model_bytes}")
    b = get_board(board) if board else None
    flash_cap = min(x for x in (max_model_bytes, b and b.flash - b.overhead_flash) if x)
    return flash_cap, (b.sram - b.overhead_sram if b else None)


def open_study(storage: str | None, study_name: str, sampler: str = "nsga2", objectives=(), caps=None,
               population: int = 12, seed: int = 25, create: bool = True):
    """Create or load the Optuna study (``storage``: an RDB URL or an SQLite file path)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    bad = [o for o in objectives if o not in EXTRA_OBJECTIVES]
    if bad:
        raise ConfigError(f"unknown objective {bad[0]!r}: choose from {', '.join(EXTRA_OBJECTIVES)}")
    if storage and "://" not in storage:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{Path(storage).resolve()}"

    # the budget is a trial constraint (Trial.set_constraint), which both samplers honour
    kinds = {"nsga2": lambda: optuna.samplers.NSGAIISampler(population_size=population, seed=seed),
             "tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)}
    directions = ["maximize", "minimize"] + ["minimize"] * len(objectives)
    try:
        if not create:
            study = optuna.load_study(study_name=study_name, storage=storage, sampler=kinds[sampler]())
        else:
            study = optuna.create_study(storage=storage, study_name=study_name, directions=directions,
                                        sampler=kinds[sampler](), load_if_exists=True)
    except KeyError:
        raise ConfigError(f"no study named {study_name!r} in {storage}") from None
    except ValueError as e:                  # e.g. the stored directions differ
        raise ConfigError(f"study {study_name!r} in {storage}: {e}") from None
    want = {"objectives": list(objectives), "caps": list(caps) if caps else None}
    if create:
        stored = {k: study.user_attrs.get(k) for k in want}
        if not study.trials:
            for k, v in want.items():
                study.set_user_attr(k, v)
        elif stored != want:
            raise ConfigError(f"study {study_name!r} in {storage} was created with {stored}, this run asks for "
                              f"{want}: use another --study-name (or --storage) for a different budget or objectives")
    return study


def _recover_interrupted(study) -> int:
    """Trials left RUNNING by a killed driver: mark them failed (the only way a trial fails here)
    and queue their configs again. One driver per study, so a RUNNING trial at start-up is one
    that nobody is running."""
    import optuna
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params)
    return len(stale)


def _finished(study) -> list:
    import optuna
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _values(res: dict, objectives, flash_cap) -> list[float]:
    acc = res["val_accuracy"] if res["feasible"] else 0.0
    vals = [acc, float(res["model_bytes"] if res["model_bytes"] is not None else 10 * flash_cap)]
    for o in objectives:
        v = res["arena_bytes"] if o == "arena" else res["cycles"]
        vals.append(float(v) if v is not None else 1e12)
    return vals


def _record(trial_like, res: dict, caps) -> None:
    """Store a trial's outcome as user attributes (read back by the report and on resume)."""
    flash_cap, sram_cap = caps
    violation = 0.0
    if res["model_bytes"] is None:
        violation = 1.0
    else:
        violation = max(0.0, res["model_bytes"] - flash_cap) + max(0.0, (res["arena_bytes"] or 0) - (sram_cap or 1e18))
        if not res["feasible"] and violation == 0:
            violation = 1.0
    for k in ("model_bytes", "arena_bytes", "val_accuracy", "cycles", "why"):
        trial_like.set_user_attr(k, res[k])
    trial_like.set_user_attr("violation", violation)
    trial_like.set_constraint("budget", violation)


def search(model, train_loader, val_loader, input_shape, *, max_model_bytes: int | None = None,
           board: str | None = None, trials: int = 48, sampler: str = "nsga2", objectives=(),
           population: int = 12, storage: str | None = None, study_name: str = "dmc-search",
           workers: int = 1, ray_address: str | None = None, cpus_per_trial: float = 1.0,
           gpus_per_trial: float = 0.0, mlflow_uri: str | None = None, out_dir=None, quick_epochs: int = 1,
           quick_batches: int | None = 100, final_epochs: int = 8, finalists: int = 3, seeds=(), seed: int = 25,
           augment=None, sparse: bool = False, minutes: float | None = None,
           progress: bool = True) -> list[Candidate]:
    """Search compression configs of ``model`` (a trained float model) that fit the budget.

    Budgets: ``max_model_bytes`` (packed weights + biases + requantization constants) and/or a
    ``board`` whose flash and SRAM (minus the runtime's estimated overhead) bound the model bytes
    and the arena. ``trials`` finished trials are run in total (a resumed study counts the ones
    it has); ``minutes`` (optional) stops starting trials after that much wall-clock time in this run,
    and the running ones and the finalists complete. ``sparse`` adds each layer's unstructured
    sparsity (dCSR storage where smaller) to the space. ``objectives`` adds "arena" and/or "cycles" (simulated Uno) to accuracy and bytes.
    ``seeds`` are configs (Candidate or genes dicts) queued first in a new study. ``storage``
    None keeps the study in memory (no resume). ``workers`` > 1 or ``ray_address`` runs trials
    as Ray tasks. ``mlflow_uri`` (a folder or a server) logs every finished trial. Returns the
    final frontier, best first, each trained ``final_epochs`` epochs (``.model`` is its IntModel).
    """
    if trials < 1:
        raise ConfigError(f"trials must be >= 1, got {trials}")
    if minutes is not None and minutes <= 0:
        raise ConfigError(f"minutes must be positive, got {minutes}")
    caps = _caps(max_model_bytes, board)
    objectives = tuple(objectives)
    layers = _layers(model, input_shape)
    study = open_study(storage, study_name, sampler, objectives, caps, population, seed)
    interrupted = _recover_interrupted(study)
    if not study.trials:
        for s in seeds:
            study.enqueue_trial(_params((s if isinstance(s, Candidate) else Candidate(dict(s))), layers, sparse))
    out = Path(out_dir) if out_dir else None
    if out:
        (out / "trials").mkdir(parents=True, exist_ok=True)
    tracker = make_tracker(study_name, mlflow_uri)
    tracker.reconcile({t.number: _tracked(t, out) for t in _finished(study)})
    executor = make_executor(workers, ray_address, cpus_per_trial, gpus_per_trial)
    threads = max(1, int(cpus_per_trial)) if executor.workers > 1 else None
    shared = [executor.put(v) for v in (model, train_loader, val_loader)]
    done = len(_finished(study))
    if progress and (done or interrupted):
        progress_write(f"resuming study {study_name!r}: {done} finished trials kept, {interrupted} interrupted "
                       "trials queued again")
    seen = {}
    for t in _finished(study):
        seen.setdefault(tuple(sorted(t.params.items())), t)
    bar = progress_bar(total=trials, desc="search", unit="trial", enabled=progress)
    bar.update(min(done, trials))
    started = time.time()
    out_of_time = completed = False
    try:
        while done < trials:
            out_of_time = out_of_time or (minutes is not None and time.time() - started >= 60 * minutes)
            if out_of_time and not executor.pending():
                break
            while (not out_of_time and done + executor.pending() < trials
                   and executor.pending() < executor.workers):
                trial = study.ask()
                cand = suggest(trial, layers, sparse)
                again = seen.get(tuple(sorted(trial.params.items())))
                if again is not None:                # a config already scored: reuse its result
                    for k, v in again.user_attrs.items():
                        trial.set_user_attr(k, v)
                    trial.set_constraint("budget", again.user_attrs["violation"])
                    trial.set_user_attr("repeat_of", again.number)
                    study.tell(trial, list(again.values))
                    tracker.log_trial(trial.number, *_tracked(study.get_trials(deepcopy=False)[trial.number], out))
                    done += 1
                    bar.update()
                    continue
                executor.submit(evaluate_config, *shared, input_shape, cand.genes, cand.input_bits, caps,
                                quick_epochs, quick_batches, augment, "cycles" in objectives, threads,
                                tag=(trial, cand))
            if done >= trials:
                break
            (trial, cand), res = executor.wait()
            _record(trial, res, caps)
            if res["dmc"] and out:
                (out / "trials" / f"trial_{trial.number}.dmc").write_bytes(res["dmc"])
            study.tell(trial, _values(res, objectives, caps[0]))
            frozen = study.get_trials(deepcopy=False)[trial.number]
            seen.setdefault(tuple(sorted(frozen.params.items())), frozen)
            tracker.log_trial(trial.number, *_tracked(frozen, out))
            done += 1
            bar.update()
            if progress and res["feasible"]:
                progress_write(f"trial {trial.number}: val {res['val_accuracy']:.4f} at {res['model_bytes']} B "
                               f"({cand.describe()})")
        completed = True
    finally:
        bar.close()
        if not completed:                    # interrupted: leave the study to be resumed
            executor.shutdown()
    if progress:
        why = f", stopped by the {minutes:g}-minute budget" if out_of_time else ""
        progress_write(f"{done} trials finished ({time.time() - started:.0f} s in this run{why})")
    final = _final_round(study, layers, executor, shared, input_shape, caps, final_epochs, finalists, augment,
                         objectives, threads, progress)
    executor.shutdown()
    return final


def _tracked(t, out) -> tuple[dict, dict, list]:
    """What MLflow records of a finished trial: params, metrics, artifacts."""
    metrics = {k: t.user_attrs.get(k) for k in ("val_accuracy", "model_bytes", "arena_bytes", "cycles")}
    metrics["violation"] = t.user_attrs.get("violation")
    art = out / "trials" / f"trial_{t.number}.dmc" if out else None
    return dict(t.params), metrics, [art] if art and art.exists() else []


def pareto_front(study) -> list:
    """Feasible finished trials that no other feasible trial beats on every objective."""
    pool = [t for t in _finished(study) if t.user_attrs.get("violation", 1.0) == 0 and "repeat_of" not in t.user_attrs]
    sign = [(-1 if d.name == "MAXIMIZE" else 1) for d in study.directions]

    def better_or_equal(a, b):
        return all(s * x <= s * y for s, x, y in zip(sign, a.values, b.values))
    front = [t for t in pool if not any(o is not t and better_or_equal(o, t) and o.values != t.values for o in pool)]
    uniq = {}
    for t in sorted(front, key=lambda t: t.number):
        uniq.setdefault(tuple(t.values), t)
    return sorted(uniq.values(), key=lambda t: (-t.values[0], t.values[1]))


def _final_round(study, layers, executor, shared, input_shape, caps, final_epochs, finalists, augment, objectives,
                 threads, progress) -> list[Candidate]:
    """Train the best ``finalists`` of the front longer; results are stored in the study, so a
    resumed run does not train them again."""
    front = pareto_front(study)[:finalists]
    results = {}
    for t in front:
        stored = study.user_attrs.get(f"final_{t.number}")
        if stored is not None:
            results[t.number] = stored
            continue
        cand = _candidate(t, layers)
        executor.submit(evaluate_config, *shared, input_shape, cand.genes, cand.input_bits, caps, final_epochs,
                        None, augment, "cycles" in objectives, threads, tag=t.number)
    bar = progress_bar(total=executor.pending(), desc="finalists", unit="model", enabled=progress and executor.pending() > 0)
    while executor.pending():
        number, res = executor.wait()
        stored = {k: v for k, v in res.items() if k != "dmc"}
        stored["dmc_hex"] = res["dmc"].hex() if res["dmc"] else None
        study.set_user_attr(f"final_{number}", stored)
        results[number] = stored
        bar.update()
    bar.close()
    final = []
    for t in front:
        r = results[t.number]
        c = _candidate(t, layers)
        c.number, c.val_accuracy = t.number, t.user_attrs["val_accuracy"]
        c.final_val_accuracy, c.feasible, c.why = r["val_accuracy"], r["feasible"], r["why"]
        c.model_bytes, c.arena_bytes, c.cycles = r["model_bytes"], r["arena_bytes"], r["cycles"]
        c.dmc = bytes.fromhex(r["dmc_hex"]) if r.get("dmc_hex") else None
        if c.feasible:
            final.append(c)
    final.sort(key=lambda c: (-(c.final_val_accuracy or 0), c.model_bytes))
    return final


def _candidate(t, layers) -> Candidate:
    p = t.params
    genes = {a: (p.get(f"{a}.prune", 0), p[f"{a}.wbits"], p[f"{a}.granularity"], p[f"{a}.abits"])
             + ((p[f"{a}.zeros"],) if f"{a}.zeros" in p else ()) for a, *_ in layers}
    return Candidate(genes, p["input_bits"])


def write_search(final, test_loader, out_dir) -> list[dict]:
    """Report the search frontier: each finalist's integer model is saved and its test accuracy
    measured once (reported, never used to choose)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_test, y_test = test_loader.dataset.tensors[0].numpy(), test_loader.dataset.tensors[1].numpy()
    rows = []
    for i, c in enumerate(final):
        qm = c.model
        path = out / f"lenet5_search_{i}.dmc"
        qm.save(path)
        rows.append({"rank": i, "trial": c.number, "config": c.describe(), "model_bytes": qm.model_bytes,
                     "arena_bytes": c.arena_bytes, "search_val_accuracy": c.val_accuracy,
                     "val_accuracy": c.final_val_accuracy,
                     "test_accuracy": float((qm.predict(x_test).argmax(1) == y_test).mean()), "file": path.name})
    text = frontier_markdown(rows)
    (out / "search_frontier.md").write_text(text)
    (out / "search_frontier.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text)
    return rows


def frontier_markdown(rows) -> str:
    lines = ["| # | model bytes | arena B | val accuracy | test accuracy | config (per layer: channels removed, "
             "weight bits, granularity, activation bits, weights zeroed) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rank']} | {r['model_bytes']} | {r['arena_bytes']} | {r['val_accuracy']:.2%} | "
                     f"{r['test_accuracy']:.2%} | {r['config'].replace('|', ';')} |")
    return "\n".join(lines) + "\n"
