"""Device parity: stream a data set through a compiled model and compare every output with
:meth:`IntModel.predict`, bit for bit. Backends: the host build (``HostBuild``); the board
and simulator backends plug in with the same ``run(codes) -> codes`` shape."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..core.intmodel import IntModel
from ..errors import DataError
from ..progress import progress as progress_bar


def load_npz(path, model: IntModel):
    """(codes, labels or None) from an npz with ``x`` (float inputs or integer codes) and
    optional ``y``. Shapes (N, *input_shape) or (N, prod(input_shape)) are accepted."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files:
                raise DataError(f"{path}: no array 'x' (found {z.files})")
            x = np.asarray(z["x"])
            y = np.asarray(z["y"]) if "y" in z.files else None
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    n_in = int(np.prod(model.input_shape))
    if x.ndim < 2 or len(x) == 0 or x[0].size != n_in:
        raise DataError(f"{path}: x has shape {x.shape}; each sample must hold {n_in} values "
                        f"(input shape {model.input_shape})")
    x = x.reshape((len(x),) + model.input_shape)
    if y is not None and len(y) != len(x):
        raise DataError(f"{path}: {len(x)} inputs but {len(y)} labels")
    try:
        return model.input_codes(x), y
    except DataError as e:
        raise DataError(f"{path}: x: {e}") from None


@dataclass
class Report:
    samples: int = 0
    values: int = 0
    mismatched_samples: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)       # (sample, output index, expected, got)
    device_correct: int = 0
    host_correct: int = 0
    labelled: bool = False
    cycles: list = field(default_factory=list)    # per inference, from the device
    exact_cycles: bool = False                    # simulator stamps rather than the device clock
    unit: str = "cycles"                          # or "instructions" (QEMU, exact)
    cpu_hz: int = 0
    macs: int = 0
    stack: tuple | None = None                    # (smallest free stack in bytes, SRAM size)

    @property
    def agreement(self) -> float:
        return 1.0 - len(self.mismatched_samples) / max(self.samples, 1)

    def text(self, max_listed: int = 10) -> str:
        lines = [f"{self.samples} samples, {self.values} output values compared bit-exactly",
                 f"agreement: {self.agreement:.2%} of samples identical "
                 f"({len(self.mismatched_samples)} differ, {len(self.mismatches)} values)"]
        for s, i, e, g in self.mismatches[:max_listed]:
            lines.append(f"  mismatch: sample {s}, output {i}: host {e}, device {g}")
        if self.labelled:
            lines.append(f"accuracy: device {self.device_correct / self.samples:.2%}, "
                         f"host interpreter {self.host_correct / self.samples:.2%}")
        if self.cycles:
            c = np.asarray(self.cycles, dtype=np.float64)
            how = "exact, simulator" if self.exact_cycles else "device clock"
            u = self.unit
            line = f"{u} per inference ({how}): mean {c.mean():.0f}, min {c.min():.0f}, max {c.max():.0f}"
            if self.macs:
                line += f"; {c.mean() / self.macs:.2f} {u} per MAC ({self.macs} MACs)"
            if self.cpu_hz and u == "cycles":
                line += f"; {c.mean() / self.cpu_hz * 1e3:.2f} ms at {self.cpu_hz / 1e6:g} MHz"
            lines.append(line)
        if self.stack and self.stack[1]:
            free, total = self.stack
            lines.append(f"SRAM: {total - free} of {total} B touched (stack high-water mark included), "
                         f"{free} B never used")
        return "\n".join(lines)


def compare(model: IntModel, run, codes, labels=None, chunk: int = 500, progress: bool = True) -> Report:
    """Run ``run(codes_chunk) -> output codes`` over ``codes`` and compare with the interpreter."""
    r = Report(labelled=labels is not None)
    bar = progress_bar(total=len(codes), desc="verify", unit="sample", enabled=progress)
    for start in range(0, len(codes), chunk):
        c = codes[start:start + chunk]
        expected = model.predict(c)
        got = run(c)
        e2, g2 = expected.reshape(len(c), -1), got.reshape(len(c), -1)
        for s, i in np.argwhere(e2 != g2):
            r.mismatches.append((start + int(s), int(i), int(e2[s, i]), int(g2[s, i])))
        r.mismatched_samples.extend(start + int(s) for s in np.flatnonzero((e2 != g2).any(1)))
        if labels is not None and e2.shape[1] > 1:
            lab = labels[start:start + chunk]
            r.device_correct += int((g2.argmax(1) == lab).sum())
            r.host_correct += int((e2.argmax(1) == lab).sum())
        r.samples += len(c)
        r.values += e2.size
        bar.update(len(c))
    bar.close()
    return r


def verify_host(model: IntModel, codes, labels=None, workdir=None, progress: bool = True) -> Report:
    from .host_build import HostBuild
    with tempfile.TemporaryDirectory(prefix="dmc-verify-") as tmp:
        build = HostBuild([model], ["model"], workdir or tmp)
        return compare(model, lambda c: build.run(0, c), codes, labels, progress=progress)


def verify_device(model: IntModel, session, codes, labels=None, progress: bool = True) -> Report:
    """Stream ``codes`` through a :class:`dmc.device.DeviceSession` and compare bit-exactly."""
    report = compare(model, session.run, codes, labels, chunk=50, progress=progress)
    report.cycles = list(session.cycles)
    report.exact_cycles, report.unit = session.exact_cycles, session.unit
    report.cpu_hz, report.macs = session.info.cpu_hz, session.info.macs
    report.stack = session.stats()
    return report
