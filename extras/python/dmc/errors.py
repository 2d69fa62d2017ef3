"""Exception types. Every error the user can cause is one of these, with a message that names
the offending layer, key or byte, so that no failure surfaces as a stack trace from deep inside."""


class DMCError(Exception):
    """Base class of every error raised on purpose by dmc."""


class ConfigError(DMCError, ValueError):
    """The compression config has an unknown key, layer name or an invalid value."""


class UnsupportedModelError(DMCError, TypeError):
    """The model contains an operation the pipeline cannot compress or deploy."""


class QuantizationError(DMCError, ValueError):
    """Quantization constants are out of the integer contract's range (e.g. accumulator overflow)."""


class ArtifactError(DMCError, ValueError):
    """A .dmc file is truncated, corrupt, of a newer version or otherwise malformed."""


class DataError(DMCError, ValueError):
    """Input data has the wrong shape, dtype or range."""
