"""The one exception type for bad input, and how command-line front ends report it.

Library code raises :class:`InputError` with a message that names the offending
file and the fix. Command-line ``main`` functions are wrapped by
:func:`exit_on_input_error`, which sets up logging for the command, prints that
one message and exits with status 2 (the conventional "usage / input error"
status) instead of a stack trace.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

EXIT_INPUT_ERROR = 2
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

F = TypeVar("F", bound=Callable[..., object])


class InputError(Exception):
    """Bad or missing input: the message names the file and says how to fix it."""


def exit_on_input_error(main: F) -> F:
    """Decorate a CLI ``main(argv)``: INFO logging on stderr; an InputError becomes one line and exit status 2."""

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> object:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # no-op when logging is already set up
        try:
            return main(argv)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_INPUT_ERROR)
        except OSError as exc:  # an output folder that cannot be written, a full disk, ...
            if exc.filename is None:
                raise
            print(f"error: {exc.filename}: {exc.strerror}. Check that the path exists, is a folder where one is "
                  f"expected, and is writable.", file=sys.stderr)
            sys.exit(EXIT_INPUT_ERROR)

    return wrapper  # type: ignore[return-value]
