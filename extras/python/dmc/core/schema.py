"""The vocabulary of an integer model: its quantization schemes and the ops it may contain.

Kept apart from the interpreter so that the file format, the planner and the interpreter all
read one list without importing each other.
"""
STATIC, DYNAMIC = "static", "dynamic"
OPS = ("input", "conv2d", "linear", "maxpool2d", "avgpool2d", "gap", "add", "clamp", "pad", "flatten")
WEIGHTED_OPS = ("conv2d", "linear")
