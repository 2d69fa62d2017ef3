"""`dmc ports` and `dmc verify --port auto`, with pyserial's port list replaced by fixed ports."""
from __future__ import annotations

import numpy as np
import pytest

serial_list_ports = pytest.importorskip("serial.tools.list_ports")
from serial.tools.list_ports_common import ListPortInfo  # noqa: E402

from dmc.cli import main as cli  # noqa: E402
from dmc.deploy.ports import PortError, list_ports, ports_table, resolve_port  # noqa: E402


def usb_port(device, vid=None, pid=None, description="n/a"):
    info = ListPortInfo(device)
    info.vid, info.pid, info.description = vid, pid, description
    return info


UNO = usb_port("/dev/ttyACM0", 0x2341, 0x0043, "Arduino Uno")
NANO_CLONE = usb_port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial")
BUILTIN_UART = usb_port("/dev/ttyS0")
MOUSE_LIKE = usb_port("/dev/ttyACM1", 0x046D, 0xC52B, "Unifying Receiver")


@pytest.fixture
def ports(monkeypatch):
    """Set the ports pyserial reports; returns a counter of how often they were listed."""
    calls = []

    def set_ports(*infos):
        monkeypatch.setattr(serial_list_ports, "comports", lambda *a, **k: calls.append(1) or list(infos))
        return calls
    return set_ports


def test_list_marks_likely_boards_first(ports):
    ports(BUILTIN_UART, MOUSE_LIKE, NANO_CLONE, UNO)
    found = list_ports()
    assert [(p.device, p.likely_board, p.vid_pid) for p in found] == [
        ("/dev/ttyACM0", True, "2341:0043"), ("/dev/ttyUSB0", True, "1A86:7523"),
        ("/dev/ttyACM1", False, "046D:C52B"), ("/dev/ttyS0", False, "-")]
    table = ports_table(found)
    print(table)
    lines = table.splitlines()
    assert lines[0].split() == ["device", "VID:PID", "board", "/", "USB-serial", "description"]
    assert lines[1].startswith("* /dev/ttyACM0") and "2341:0043" in lines[1] and "Arduino" in lines[1] \
        and lines[1].endswith("Arduino Uno")
    assert lines[2].startswith("* /dev/ttyUSB0") and "CH340" in lines[2]
    assert lines[3].startswith("  /dev/ttyACM1") and lines[4].startswith("  /dev/ttyS0")
    assert ports_table([]) == "no serial ports found\n"


def test_auto_picks_the_single_board(ports):
    ports(BUILTIN_UART, MOUSE_LIKE, UNO)
    assert resolve_port("auto") == "/dev/ttyACM0"


def test_auto_without_a_board_lists_what_it_saw(ports):
    ports(BUILTIN_UART, MOUSE_LIKE)
    with pytest.raises(PortError) as e:
        resolve_port("auto")
    msg = str(e.value)
    assert "no serial port looks like a board" in msg
    assert "/dev/ttyS0 (n/a, -)" in msg and "/dev/ttyACM1 (Unifying Receiver, 046D:C52B)" in msg


def test_auto_with_two_boards_lists_the_candidates(ports):
    ports(UNO, BUILTIN_UART, NANO_CLONE)
    with pytest.raises(PortError) as e:
        resolve_port("auto")
    msg = str(e.value)
    assert msg.startswith("--port auto: 2 ports look like boards: ")
    assert "/dev/ttyACM0 (Arduino Uno, 2341:0043)" in msg and "/dev/ttyUSB0 (USB Serial, 1A86:7523)" in msg
    assert "/dev/ttyS0" not in msg


def test_a_named_port_is_used_as_given(ports):
    calls = ports(UNO)
    assert resolve_port("/dev/ttyUSB7") == "/dev/ttyUSB7"
    assert not calls, "a named port needs no port listing"


def test_cli_ports_and_verify_port_auto(ports, capsys, tmp_path, sine_dmc_path):
    ports(UNO, BUILTIN_UART)
    assert cli(["ports"]) == 0
    out = capsys.readouterr().out
    assert "* /dev/ttyACM0" in out and "  /dev/ttyS0" in out

    np.savez(tmp_path / "x.npz", x=np.linspace(0, 6, 4, dtype=np.float32)[:, None])
    ports(BUILTIN_UART)
    assert cli(["verify", str(sine_dmc_path), "--data", str(tmp_path / "x.npz"), "--port", "auto"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmc verify: error: --port auto: no serial port looks like a board"), err


@pytest.fixture
def sine_dmc_path():
    from pathlib import Path
    return Path(__file__).resolve().parents[3] / "examples" / "SineRegressor" / "sine.dmc"
