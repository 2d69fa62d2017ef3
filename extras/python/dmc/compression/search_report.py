"""The report of a stored search study: the feasible frontier as a table and every trial on an
accuracy-vs-model-bytes plot (``dmc search --report``), optionally beside an earlier frontier."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError
from .search import open_study, pareto_front


def study_rows(study) -> list[dict]:
    """One row per finished trial: number, params, validation accuracy, bytes, arena, feasible."""
    rows = []
    for t in study.trials:
        if t.state.name != "COMPLETE":
            continue
        rows.append({"trial": t.number, "val_accuracy": t.user_attrs.get("val_accuracy"),
                     "model_bytes": t.user_attrs.get("model_bytes"), "arena_bytes": t.user_attrs.get("arena_bytes"),
                     "cycles": t.user_attrs.get("cycles"), "feasible": t.user_attrs.get("violation", 1.0) == 0,
                     "repeat_of": t.user_attrs.get("repeat_of"), "params": t.params})
    return rows


def frontier_table(study) -> str:
    lines = ["| trial | val accuracy | model bytes | arena B | config |", "|---|---|---|---|---|"]
    for t in pareto_front(study):
        cfg = ", ".join(f"{k}={v}" for k, v in sorted(t.params.items()))
        lines.append(f"| {t.number} | {t.user_attrs['val_accuracy']:.2%} | {t.user_attrs['model_bytes']} | "
                     f"{t.user_attrs['arena_bytes']} | {cfg} |")
    finals = {k: v for k, v in study.user_attrs.items() if k.startswith("final_")}
    if finals:
        lines += ["", "Finalists trained longer (validation accuracy):"]
        lines += [f"- trial {k[6:]}: {v['val_accuracy']:.2%} at {v['model_bytes']} B" for k, v in sorted(finals.items())
                  if v.get("val_accuracy") is not None]
    return "\n".join(lines) + "\n"


def plot_study(study, path, budget: int | None = None, compare=None, title: str | None = None):
    """Every finished trial (grey: over budget), the feasible front (blue), ``compare``: an
    earlier frontier as a list of {model_bytes, val_accuracy or test_accuracy, label}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in study_rows(study) if r["model_bytes"] is not None and r["repeat_of"] is None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bad = [r for r in rows if not r["feasible"] or r["val_accuracy"] is None]
    ok = [r for r in rows if r["feasible"] and r["val_accuracy"] is not None]
    ax.scatter([r["model_bytes"] for r in bad], [0 for _ in bad], color="lightgrey", s=12, label="over budget / failed")
    ax.scatter([r["model_bytes"] for r in ok], [100 * r["val_accuracy"] for r in ok], color="tab:grey", s=14,
               alpha=0.6, label="trials (validation, short fine-tune)")
    front = sorted(pareto_front(study), key=lambda t: t.user_attrs["model_bytes"])
    ax.plot([t.user_attrs["model_bytes"] for t in front], [100 * t.user_attrs["val_accuracy"] for t in front],
            "o-", color="tab:blue", label="feasible front")
    if compare:
        pts = sorted(compare, key=lambda r: r["model_bytes"])
        ax.plot([p["model_bytes"] for p in pts], [100 * p.get("val_accuracy", p.get("test_accuracy")) for p in pts],
                "s--", color="tab:orange", label=pts[0].get("label", "earlier frontier"))
    if budget:
        ax.axvline(budget, color="tab:red", linestyle=":", label=f"budget {budget} B")
    if ok:
        lo = min(100 * r["val_accuracy"] for r in ok)
        ax.set_ylim(max(lo - 1, 0), 100)
    ax.set_xlabel("model bytes")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or f"search study '{study.study_name}': {len(rows)} trials")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(storage: str, study_name: str, out_dir, compare_file=None) -> Path:
    """Frontier table (markdown), trial table (JSON) and plot of a stored study into ``out_dir``."""
    study = open_study(storage, study_name, create=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    compare = None
    if compare_file:
        try:
            compare = json.loads(Path(compare_file).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"--compare {compare_file}: cannot read a frontier JSON ({e})") from None
    caps = study.user_attrs.get("caps") or [None]
    table = frontier_table(study)
    (out / "study_frontier.md").write_text(table)
    (out / "study_trials.json").write_text(json.dumps(study_rows(study), indent=2) + "\n")
    plot_study(study, out / "study_accuracy_vs_bytes.png", caps[0], compare)
    print(table, end="")
    print(f"plot: {out / 'study_accuracy_vs_bytes.png'}")
    return out
