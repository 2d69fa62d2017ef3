"""Where independent pieces of work (search trials, sensitivity points) run: in this process, or
as Ray tasks on a local Ray started in-process or on an existing cluster.

Both executors offer the same two calls, ``submit(fn, *args)`` and ``wait()`` (the next finished
result, in completion order), so a driver such as the search asks for new work as soon as a
worker frees up, whichever executor it was given. Ray is imported only when asked for.
"""
from __future__ import annotations

import os
from collections import deque

from ..errors import ConfigError


class LocalExecutor:
    """Runs each submitted call in this process, one at a time, when its result is asked for."""

    workers = 1

    def __init__(self):
        self._queue = deque()

    def submit(self, fn, *args, tag=None) -> None:
        self._queue.append((tag, fn, args))

    def pending(self) -> int:
        return len(self._queue)

    def wait(self):
        """(tag, result) of the oldest submitted call, run now."""
        tag, fn, args = self._queue.popleft()
        return tag, fn(*args)

    def put(self, value):
        """A handle for a large argument shared by many calls (the value itself here)."""
        return value

    def shutdown(self) -> None:
        self._queue.clear()


class RayExecutor:
    """Runs each submitted call as a Ray task with ``cpus``/``gpus`` per task.

    ``address=None`` starts a private local Ray in this process with ``workers`` CPUs (no
    dashboard); ``"auto"`` or ``"HOST:PORT"`` joins an existing cluster, where ``workers`` bounds
    how many tasks this driver keeps in flight.
    """

    def __init__(self, workers: int = 2, address: str | None = None, cpus: float = 1.0, gpus: float = 0.0):
        try:
            import ray
        except ImportError:
            raise ConfigError("Ray is not installed: pip install ray (see extras/python/requirements-dev.txt)") from None
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        if cpus <= 0 or gpus < 0:
            raise ConfigError(f"per-trial resources must be positive: cpus={cpus}, gpus={gpus}")
        self.ray, self.workers = ray, workers
        self._started = False
        if not ray.is_initialized():
            # workers import dmc from the same place as this driver (a checkout or an install)
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [_package_root(),
                                                                              os.environ.get("PYTHONPATH")]))}}
            try:
                if address is None:
                    ray.init(num_cpus=max(int(workers * cpus), 1), num_gpus=int(workers * gpus) or None,
                             include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
                             runtime_env=env)
                else:
                    ray.init(address=address, log_to_driver=False, runtime_env=env)
            except ConnectionError as e:
                raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {e}") from None
            self._started = True
        self._remote = {}
        self._opts = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": 2}
        self._inflight = {}

    def submit(self, fn, *args, tag=None) -> None:
        if fn not in self._remote:
            self._remote[fn] = self.ray.remote(**self._opts)(fn)
        ref = self._remote[fn].remote(*args)
        self._inflight[ref] = tag

    def pending(self) -> int:
        return len(self._inflight)

    def wait(self):
        """(tag, result) of the next task to finish; a task's own exception is raised here."""
        done, _ = self.ray.wait(list(self._inflight), num_returns=1)
        tag = self._inflight.pop(done[0])
        try:
            return tag, self.ray.get(done[0])
        except self.ray.exceptions.RayTaskError as e:
            raise e.as_instanceof_cause() from None

    def put(self, value):
        return self.ray.put(value)

    def shutdown(self) -> None:
        for ref in self._inflight:
            self.ray.cancel(ref, force=True)
        self._inflight.clear()
        if self._started:
            self.ray.shutdown()


def _package_root() -> str:
    from pathlib import Path
    return str(Path(__file__).resolve().parents[2])


def make_executor(workers: int = 1, ray_address: str | None = None, cpus: float = 1.0, gpus: float = 0.0):
    """The local executor for one worker and no cluster (the behaviour without any option);
    Ray otherwise."""
    if workers == 1 and ray_address is None:
        return LocalExecutor()
    return RayExecutor(workers, ray_address, cpus, gpus)

