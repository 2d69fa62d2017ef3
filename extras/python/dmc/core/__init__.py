"""The torch-free integer core: the IntModel and its numpy interpreter (the specification of what
the device computes), the .dmc artifact format, bit packing, fixed-point requantization and the
arena planner. Nothing here imports torch or any other dmc subpackage but ``dmc.sparse``."""
