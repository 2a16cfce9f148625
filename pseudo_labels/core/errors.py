"""The one exception type for bad input, and how command-line front ends report it.

Library code raises :class:`InputError` with a message that names the offending
file and the fix. Command-line ``main`` functions are wrapped by
:func:`exit_on_input_error`, which sets up logging for the command, prints that
one message and exits with status 2 (the conventional "usage / input error"
status) instead of a stack trace. Ctrl-C and SIGTERM end with 130 and 143 and one line;
the atomic writers remove their temporary file on the way out.
"""

from __future__ import annotations

import errno
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

EXIT_INPUT_ERROR = 2
EXIT_SIGINT = 128 + signal.SIGINT  # 130: what a shell reports for Ctrl-C
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

F = TypeVar("F", bound=Callable[..., object])


class InputError(Exception):
    """Bad or missing input: the message names the file and says how to fix it."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks and temp-file cleanup run (like Ctrl-C)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def os_error_message(exc: OSError) -> str:
    """One line for an OS error on a named file: what happened and what to do."""
    if exc.errno in DISK_FULL:
        return (f"{exc.filename}: {exc.strerror}. Free space on that disk (or write elsewhere) and re-run: "
                f"finished files are kept, the interrupted one was not written.")
    return (f"{exc.filename}: {exc.strerror}. Check that the path exists, is a folder where one is expected, "
            f"and is writable.")


def exit_on_input_error(main: F) -> F:
    """Decorate a CLI ``main(argv)``: INFO logging on stderr; an InputError becomes one line and exit status 2."""

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> object:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # no-op when logging is already set up
        in_main_thread = threading.current_thread() is threading.main_thread()  # signal.signal needs it
        previous = signal.getsignal(signal.SIGTERM)
        if in_main_thread:
            signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return main(argv)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_INPUT_ERROR)
        except OSError as exc:  # an output folder that cannot be written, a full disk, ...
            if exc.filename is None:
                raise
            print(f"error: {os_error_message(exc)}", file=sys.stderr)
            sys.exit(EXIT_INPUT_ERROR)
        except KeyboardInterrupt:
            print("\ninterrupted (Ctrl-C): finished files are kept; re-run the same command to resume.", file=sys.stderr)
            sys.exit(EXIT_SIGINT)
        except Terminated:
            print("\nterminated (SIGTERM): finished files are kept; re-run the same command to resume.", file=sys.stderr)
            sys.exit(EXIT_SIGTERM)
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]
