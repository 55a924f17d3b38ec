"""The one exception type users see: a clear message naming the file, field or value at fault."""

import re


class PoseError(Exception):
    """A user-facing error; the CLI prints its message (no traceback) and exits with status 2."""


class ConfigError(PoseError):
    """A params file has a wrong key, a wrong type or an unknown reference."""


class DataError(PoseError):
    """An input data file is missing, unreadable or not in the expected format."""


class CheckpointError(PoseError):
    """A checkpoint is missing, corrupt or belongs to another model."""


class DivergedError(PoseError):
    """A training loss or a model's predictions are not finite numbers (NaN or infinite)."""


class OutputError(PoseError):
    """An output cannot be written: a read-only folder, a full disk."""


class DeviceError(PoseError):
    """The machine lacks the devices a scale trains on (CUDA, enough GPUs)."""


def original_error(err: BaseException) -> tuple[str, str]:
    """(type name, message) of `err`. torch re-raises an error of a DataLoader worker with the
    worker's traceback as its message ("Caught DataError in DataLoader worker process 0.\\n
    Original Traceback (most recent call last): ... pose.errors.DataError: MESSAGE"): for such
    an error, the original error's name and message alone."""
    text = str(err)
    lines = text.strip().splitlines()
    if len(lines) < 2 or not lines[1].strip().startswith("Original Traceback"):
        return type(err).__name__, text
    kind = type(err)
    names = {kind.__qualname__, f"{kind.__module__}.{kind.__qualname__}"}
    # The original's `Type: message` line is the last unindented one naming the type (the
    # message may run over more lines); torch raises RuntimeError where it cannot rebuild the
    # type: then the last unindented `Name: message` line.
    starts = [i for i, line in enumerate(lines)
              if line.split(":", 1)[0] in names and not line[:1].isspace()]
    if not starts:
        starts = [i for i, line in enumerate(lines) if re.match(r"[A-Za-z_][\w.<>]*: ", line)]
    if not starts:
        return type(err).__name__, text
    name, _, first = lines[starts[-1]].partition(":")
    message = "\n".join([first.strip(), *lines[starts[-1] + 1:]]).strip()
    return name.rsplit(".", 1)[-1], message


def error_message(err: BaseException) -> str:
    """The message of `err` (of the original error, for one re-raised from a loader worker)."""
    return original_error(err)[1]
