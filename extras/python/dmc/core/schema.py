"""The vocabulary of an integer model: its quantization schemes and the ops it may contain.

Kept apart from the interpreter so that the file format, the planner and the interpreter all
read one list without importing each other.
"""
STATIC, DYNAMIC = "static", "dynamic"
OPS = ("input", "conv2d", "linear", "maxpool2d", "avgpool2d", "gap", "add", "clamp", "pad", "flatten",
       "shift", "hardsigmoid", "hardswish", "mul")
WEIGHTED_OPS = ("conv2d", "linear")
SHIFT_DIRECTIONS = ("up", "left", "down", "right")   # order of the channel groups of a shift op
HARD_OFFSET_MAX = 1 << 28      # hard-sigmoid / hard-swish: the offset 3.0 in fine input steps, at most
HARD_FRAC_BITS_MAX = 16        # ... whose steps are input steps / 2**frac_bits
