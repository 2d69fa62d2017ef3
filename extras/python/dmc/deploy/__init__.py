"""From an IntModel to a running device: C++ code generation, boards and budgets, host and cross
builds, the simulated-board firmware, the serial protocol, device sessions, verification and
measurement. Torch-free; builds on ``dmc.core``."""
