"""pose.errors: the message of an error re-raised from a DataLoader worker (issue 15, item 11)."""

from __future__ import annotations

import sys

import pytest
from torch._utils import ExceptionWrapper

from pose.errors import DataError, error_message, original_error


def _rewrapped(raise_it) -> BaseException:
    """The error as torch re-raises it in the main process (the worker's ExceptionWrapper)."""
    try:
        raise_it()
    except Exception:
        wrapper = ExceptionWrapper(sys.exc_info(), where="in DataLoader worker process 0")
    with pytest.raises(Exception) as err:
        wrapper.reraise()
    return err.value


def test_worker_error_message_alone_even_when_chained_and_multiline() -> None:
    def chained() -> None:
        try:
            raise ValueError("inner: detail")
        except ValueError as cause:
            raise DataError("a.json: bad entry\nsecond line") from cause

    err = _rewrapped(chained)
    assert isinstance(err, DataError) and "Original Traceback" in str(err)
    assert original_error(err) == ("DataError", "a.json: bad entry\nsecond line")


def test_worker_error_message_of_a_type_torch_cannot_rebuild() -> None:
    class TwoArgs(Exception):
        def __init__(self, a: str, b: str) -> None:
            super().__init__(f"{a} {b}")

    def two() -> None:
        raise TwoArgs("x:", "y")

    err = _rewrapped(two)
    assert type(err) is RuntimeError
    assert original_error(err) == ("TwoArgs", "x: y")


def test_error_message_of_a_plain_error_is_its_text() -> None:
    assert error_message(DataError("f.jpg: truncated JPEG")) == "f.jpg: truncated JPEG"
    assert original_error(KeyError("k")) == ("KeyError", "'k'")
