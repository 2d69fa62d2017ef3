"""Progress output: live tqdm bars on a terminal, a few plain lines in logs and CI (dmc.progress),
and the package's long loops (training, verify) going through it."""
from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import torch

import dmc
from dmc.deploy.verify import compare
from dmc.progress import LineProgress, live_bars, progress, write


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """A clock that advances ``step`` seconds per reading."""

    def __init__(self, step):
        self.ticks = itertools.count(0, step)

    def __call__(self):
        return float(next(self.ticks))


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv("DMC_PROGRESS", raising=False)


def test_a_log_gets_one_summary_line_and_no_redraws():
    log = io.StringIO()
    bar = progress(range(10), desc="verify", unit="sample", stream=log, clock=Clock(0.25))
    assert isinstance(bar, LineProgress)
    for _ in bar:
        bar.set_postfix(loss="0.1234")
    assert log.getvalue() == "verify: 10/10 samples in 2.8 s, loss=0.1234\n"


def test_long_work_in_a_log_prints_a_heartbeat_at_most_every_interval():
    log = io.StringIO()
    bar = progress(total=8, desc="search", unit="candidate", stream=log, every=60, clock=Clock(25))
    for _ in range(8):
        bar.update()
    bar.close()
    bar.close()                      # closing twice prints nothing more
    assert log.getvalue().splitlines() == [
        "search: 3/8 candidates (38%) after 75.0 s",
        "search: 6/8 candidates (75%) after 150.0 s",
        "search: 8/8 candidates in 225.0 s",
    ]


def test_transient_work_in_a_log_prints_nothing_of_its_own():
    log = io.StringIO()
    for _ in progress(range(5), desc="epoch 1/3", unit="batch", leave=False, stream=log, clock=Clock(1)):
        pass
    assert log.getvalue() == ""


def test_a_terminal_gets_a_live_tqdm_bar():
    term = Terminal()
    bar = progress(range(10), desc="verify", unit="sample", stream=term)
    assert not isinstance(bar, LineProgress)
    for _ in bar:
        pass
    out = term.getvalue()
    assert "\r" in out and "verify: 100%" in out and "10/10" in out


def test_disabled_is_silent_in_both_modes():
    for stream in (io.StringIO(), Terminal()):
        for _ in progress(range(3), desc="x", enabled=False, stream=stream):
            pass
        assert stream.getvalue() == ""


def test_environment_overrides_the_terminal_check(monkeypatch):
    assert live_bars(Terminal()) and not live_bars(io.StringIO())
    monkeypatch.setenv("DMC_PROGRESS", "lines")
    assert not live_bars(Terminal())
    monkeypatch.setenv("DMC_PROGRESS", "bars")
    assert live_bars(io.StringIO())


def test_write_prints_a_line():
    log = io.StringIO()
    write("generation 1: best", stream=log)
    assert log.getvalue() == "generation 1: best\n"


def test_training_in_a_log_prints_one_line_per_epoch(capsys):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(6)]
    history = dmc.fit(model, batches, epochs=3, val_loader=batches[:2], progress=True)
    out, err = capsys.readouterr()      # pytest's capture is not a terminal, like a CI log
    assert "\r" not in out + err
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 3 and [line.split()[0] for line in lines] == ["epoch=1", "epoch=2", "epoch=3"], out
    assert lines[2] == "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in history[2].items())


def test_verify_in_a_log_prints_one_summary_line(capsys):
    from pathlib import Path
    model = dmc.load(Path(__file__).resolve().parents[3] / "examples" / "SineRegressor" / "sine.dmc")
    codes = np.arange(256).reshape(256, 1)
    report = compare(model, model.predict, codes, chunk=50, progress=True)
    assert report.samples == 256 and not report.mismatches
    err = capsys.readouterr().err
    assert "\r" not in err and len(err.splitlines()) == 1 and err.startswith("verify: 256/256 samples in "), err
