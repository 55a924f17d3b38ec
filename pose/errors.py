"""The one exception type users see: a clear message naming the file, field or value at fault."""


class PoseError(Exception):
    """A user-facing error; the CLI prints its message (no traceback) and exits with status 2."""


class ConfigError(PoseError):
    """A params file has a wrong key, a wrong type or an unknown reference."""


class DataError(PoseError):
    """An input data file is missing, unreadable or not in the expected format."""


class CheckpointError(PoseError):
    """A checkpoint is missing, corrupt or belongs to another model."""
