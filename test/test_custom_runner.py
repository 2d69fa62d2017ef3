"""PlatformIO test runner for the on-device parity test (test_framework = custom).

The firmware (test_parity/test_main.cpp) is the library's serial runner around the model that
the build hook generated from custom_dmc_model. This runner streams custom_dmc_test_samples
inputs of custom_dmc_test_data to it and compares every output bit-exactly with the integer
interpreter. The same logic serves every target: the simulated boards run as a child process
whose stdin/stdout is the UART; a real board is reached over test_port with pyserial.
"""
import os
import sys

import click
from platformio.public import TestCase, TestRunnerBase, TestStatus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "extras", "python"))


class CustomTestRunner(TestRunnerBase):
    def option(self, name, default=None):
        return self.project_config.get("env:" + self.test_suite.env_name, name, default)

    def stage_testing(self):
        if self.options.without_testing:
            return
        import numpy as np

        import dmc
        from dmc.deploy.device import DeviceSession, ProcessTransport, SerialTransport
        from dmc.deploy.verify import load_npz, verify_device

        env_name = self.test_suite.env_name
        build_dir = os.path.join(self.project_config.get("platformio", "build_dir"), env_name)
        project = os.path.dirname(self.project_config.path)
        model_path = os.path.join(project, self.option("custom_dmc_model"))
        data_path = os.path.join(project, self.option("custom_dmc_test_data"))
        samples = int(self.option("custom_dmc_test_samples", 200))
        model = dmc.load(model_path)
        codes, labels = load_npz(data_path, model)
        codes, labels = codes[:samples], (labels[:samples] if labels is not None else None)

        if self.platform.is_embedded():
            port = self.get_test_port()
            if not port:
                raise RuntimeError("set test_port (or pass --test-port) to reach the board")
            transport = SerialTransport(port, int(self.option("test_speed", 115200)))
        else:
            transport = ProcessTransport([os.path.join(build_dir, "program")])
        click.secho("Streaming %d samples of %s through %s..." % (len(codes), os.path.basename(data_path), env_name),
                    bold=True)
        session = DeviceSession(model, transport, timeout=30.0)
        try:
            report = verify_device(model, session, codes, labels, progress=False)
        finally:
            session.close()
        click.echo(report.text())

        mismatch_text = "; ".join("sample %d output %d: host %d device %d" % m for m in report.mismatches[:10])
        self.test_suite.add_case(TestCase(
            name="%s:parity_%d_samples" % (env_name, report.samples),
            status=TestStatus.FAILED if report.mismatches or report.samples != len(codes) else TestStatus.PASSED,
            message=mismatch_text or None))
        if labels is not None:
            acc = report.device_correct / report.samples
            host_acc = report.host_correct / report.samples
            self.test_suite.add_case(TestCase(
                name="%s:accuracy_equals_host" % env_name,
                status=TestStatus.PASSED if acc == host_acc else TestStatus.FAILED,
                message="device %.4f, host %.4f" % (acc, host_acc)))
        elf = os.path.join(build_dir, "firmware.elf")
        if env_name.startswith("uno") and os.path.exists(elf):
            self.report_avr_budget(elf, report, np)

    def report_avr_budget(self, elf, report, np):
        """Flash and SRAM of the whole sketch, with the measured stack high-water mark."""
        from dmc.deploy.measure import avr_sizes
        flash, static = avr_sizes(elf)
        free, total = report.stack or (0, 0)
        used = total - free if total else None
        click.echo("sketch: flash %d of 32256 B; SRAM: %d B static, %s B including the stack peak (of 2048)"
                   % (flash, static, used if used is not None else "?"))
        if report.cycles:
            c = float(np.mean(report.cycles))
            click.echo("Uno: %.0f cycles per inference, %.2f cycles per MAC, %.1f ms at 16 MHz"
                       % (c, c / report.macs, c / 16e3))
        ok = flash <= 32256 and (used is None or used <= 2048)
        self.test_suite.add_case(TestCase(
            name="%s:fits_uno" % self.test_suite.env_name, status=TestStatus.PASSED if ok else TestStatus.FAILED,
            message="flash %d B, SRAM %s B" % (flash, used)))
