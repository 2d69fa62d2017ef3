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


def plot_study(study, path, budget: int | None = None, compare=None, title: str | None = None, finals=None):
    """Left: every finished trial (the short fine-tune's validation accuracy) and the feasible
    front, over budget ones counted in the legend. Right: the finalists trained longer, this
    study's (``finals``: its search_frontier.json rows, else the study's stored validation
    accuracies) beside ``compare``, an earlier frontier (rows with model_bytes, val_accuracy and/or
    test_accuracy, optional label)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in study_rows(study) if r["model_bytes"] is not None and r["repeat_of"] is None]
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    ok = [r for r in rows if r["feasible"] and r["val_accuracy"] is not None]
    over = len(rows) - len(ok)
    ax.scatter([r["model_bytes"] for r in ok], [100 * r["val_accuracy"] for r in ok], color="tab:grey", s=14,
               alpha=0.6, label=f"trials (validation, short fine-tune); {over} over budget or failed, not shown")
    front = sorted(pareto_front(study), key=lambda t: t.user_attrs["model_bytes"])
    ax.plot([t.user_attrs["model_bytes"] for t in front], [100 * t.user_attrs["val_accuracy"] for t in front],
            "o-", color="tab:blue", label="feasible front")
    if budget:
        ax.axvline(budget, color="tab:red", linestyle=":", label=f"budget {budget} B")
        ax.set_xlim(0, budget * 1.08)
    ax.set_xlabel("model bytes")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or f"search study '{study.study_name}': {len(rows)} trials")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")

    if finals is None:
        finals = [{"model_bytes": v["model_bytes"], "val_accuracy": v["val_accuracy"]}
                  for k, v in study.user_attrs.items() if k.startswith("final_") and v.get("val_accuracy") is not None]
    series = [(finals, "this search", "tab:blue")]
    if compare:
        series.append((compare, compare[0].get("label", "earlier search"), "tab:orange"))
    for pts, label, color in series:
        pts = sorted(pts, key=lambda r: r["model_bytes"])
        for key, marker, what in (("val_accuracy", "s-", "validation"), ("test_accuracy", "x--", "test")):
            got = [p for p in pts if p.get(key) is not None]
            if got:
                zoom.plot([p["model_bytes"] for p in got], [100 * p[key] for p in got], marker, color=color,
                          label=f"{label}: {what}")
    if budget:
        zoom.axvline(budget, color="tab:red", linestyle=":")
    zoom.set_xlabel("model bytes")
    zoom.set_title("finalists, trained longer")
    zoom.grid(alpha=0.3)
    if zoom.lines:
        zoom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
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
    mine = out / "search_frontier.json"          # written by the search itself: test accuracies too
    finals = json.loads(mine.read_text()) if mine.exists() else None
    plot_study(study, out / "study_accuracy_vs_bytes.png", caps[0], compare, finals=finals)
    print(table, end="")
    print(f"plot: {out / 'study_accuracy_vs_bytes.png'}")
    return out
