"""Experiment tracking: every finished search trial's config, metrics and artifacts in MLflow.

One MLflow experiment per study; one run per finished trial, tagged with the study name and the
trial number. Logging is idempotent per trial: a run for a trial number that exists already is
replaced, and :meth:`MlflowTracker.reconcile` logs finished trials that a killed driver had not
logged yet, so after any number of interruptions every finished trial appears exactly once.
Local tracking needs no server: a folder (``./mlruns`` by default) holds an SQLite tracking
database (``mlflow.db``; MLflow's plain-file store is frozen) and the artifacts; ``uri`` may
also name a server or a database URL.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


class NullTracker:
    """Tracking switched off."""

    def log_trial(self, number: int, params: dict, metrics: dict, artifacts=()) -> None:
        pass

    def reconcile(self, finished: dict) -> None:
        pass

    def trial_numbers(self) -> list[int]:
        return []


class MlflowTracker:
    def __init__(self, study_name: str, uri: str | None = "./mlruns"):
        try:
            import mlflow
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError("MLflow is not installed: pip install mlflow-skinny "
                              "(see extras/python/requirements-dev.txt), or pass --no-mlflow") from None
        import logging
        for noisy in ("mlflow", "alembic"):          # table creation and migration chatter
            logging.getLogger(noisy).setLevel(logging.WARNING)
        artifacts = None
        if uri and "://" not in uri:                  # a folder: SQLite store + artifacts inside it
            folder = Path(uri).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            uri, artifacts = f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()
        self.mlflow, self.uri, self.study = mlflow, uri, study_name
        self.client = MlflowClient(tracking_uri=uri)
        name = f"dmc-search/{study_name}"
        exp = self.client.get_experiment_by_name(name)
        self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(name, artifacts)

    def _runs_of(self, number: int | None = None):
        query = f"tags.dmc_study = '{self.study}'"
        if number is not None:
            query += f" and tags.dmc_trial = '{number}'"
        return self.client.search_runs([self.experiment_id], query, max_results=50000)

    def trial_numbers(self) -> list[int]:
        """Trial numbers that have a run (one entry per run)."""
        return sorted(int(r.data.tags["dmc_trial"]) for r in self._runs_of())

    def log_trial(self, number: int, params: dict, metrics: dict, artifacts=()) -> None:
        for old in self._runs_of(number):          # a run left by an interrupted driver
            self.client.delete_run(old.info.run_id)
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number}",
                                     tags={"dmc_study": self.study, "dmc_trial": str(number)})
        rid = run.info.run_id
        for k, v in params.items():
            self.client.log_param(rid, k, v)
        for k, v in metrics.items():
            if v is not None:
                self.client.log_metric(rid, k, float(v))
        for path in artifacts:
            self.client.log_artifact(rid, str(path))
        self.client.set_terminated(rid)

    def reconcile(self, finished: dict) -> None:
        """``finished``: trial number -> (params, metrics, artifacts) of every finished trial; log
        those without a run, and delete runs of trials that did not finish."""
        have = {}
        for r in self._runs_of():
            n = int(r.data.tags["dmc_trial"])
            if n not in finished or n in have:
                self.client.delete_run(r.info.run_id)
            else:
                have[n] = r
        for n, (params, metrics, artifacts) in finished.items():
            if n not in have:
                self.log_trial(n, params, metrics, artifacts)


def make_tracker(study_name: str, uri: str | None):
    """MLflow at ``uri`` (a folder or a server URL); ``None`` or "" switches tracking off."""
    return MlflowTracker(study_name, uri) if uri else NullTracker()
