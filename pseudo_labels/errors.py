"""The one exception type for bad input, and how command-line front ends report it.

Library code raises :class:`InputError` with a message that names the offending
file and the fix. Command-line ``main`` functions are wrapped by
:func:`exit_on_input_error`, which prints that one message and exits with
status 2 (the conventional "usage / input error" status), instead of a stack trace.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

EXIT_INPUT_ERROR = 2

F = TypeVar("F", bound=Callable[..., object])


class InputError(Exception):
    """Bad or missing input: the message names the file and says how to fix it."""


def exit_on_input_error(main: F) -> F:
    """Decorate a CLI ``main(argv)``: an InputError becomes one stderr line and exit status 2."""

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> object:
        try:
            return main(argv)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_INPUT_ERROR)

    return wrapper  # type: ignore[return-value]
