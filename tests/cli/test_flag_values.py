"""Numeric flag values: every numeric flag of every stage has a range type; NaN, inf, negative, zero and huge values
either parse to a value in that range or stop at parse time with exit status 2 and a message naming flag and range."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import math
import re
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudo_labels import cli
from pseudo_labels.cli.options import CLUSTERS, FINITE, FIRST_N_OR_ALL, NON_NEGATIVE, POSITIVE_INT, RANDOM_SEED, Number

ELSEWHERE: set[str] = set()
"""Numeric flags exempt from the checks below (none: every numeric flag has a range type)."""
SPECIAL = ["nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "0", "-0", "0.0", "-1", "-0.5", "1",
           "3", "0.5", "1e-300", "1e308", "4294967296", "65536", "9" * 40, "-" + "9" * 40, "1" * 5000, "", "x", "1e3"]
"""Values every numeric flag gets: NaN, inf, negative, zero, fractions, huge, unparseable."""


@cache
def _parser(stage: str) -> argparse.ArgumentParser:
    return importlib.import_module(cli.STAGES[stage][0]).build_parser()


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's actions, those of its sub-commands included."""
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _all_actions(sub)
    return found


def _numeric(action: argparse.Action) -> bool:
    return action.type in (int, float) or isinstance(action.type, Number)


NUMERIC = [(stage, action.option_strings[0]) for stage in cli.STAGES for action in _all_actions(_parser(stage))
           if _numeric(action) and action.option_strings[0] not in ELSEWHERE]


def _action(stage: str, flag: str) -> argparse.Action:
    return next(a for a in _parser(stage)._actions if flag in a.option_strings)


def _required(parser: argparse.ArgumentParser) -> list[str]:
    """Values for the parser's required options, so that only the flag under test can fail."""
    argv = []
    for action in parser._actions:
        if action.required and action.option_strings:
            argv += [action.option_strings[0], str(next(iter(action.choices))) if action.choices else "x"]
    return argv


def _in_range(action: argparse.Action, value: object) -> bool:
    """``value`` is what ``action`` may hold: one of its choices, or a finite number of its type's kind and range."""
    if action.choices is not None:
        return value in action.choices
    kind = action.type if action.type in (int, float) else action.type.kind
    if type(value) is not kind or (kind is float and not math.isfinite(value)):
        return False
    if isinstance(action.type, Number):
        t = action.type
        return ((t.low is None or value >= t.low) and (t.high is None or value <= t.high)
                and (t.below is None or value < t.below))
    return True


def _check(stage: str, flag: str, text: str) -> None:
    """Parse ``flag text`` (twice for a flag of two or more values): an in-range value, or exit 2 naming the flag."""
    parser, action = _parser(stage), _action(stage, flag)
    values = [text, text] if action.nargs in (2, "+") else [text]
    argv = [*_required(parser), *([f"{flag}={text}"] if action.nargs is None else [flag, *values])]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as stop:
        message = err.getvalue()
        assert stop.code == 2 and f"argument {flag}" in message, (argv, message)
        if "must be" in message:  # the type's own message says the range
            assert f"must be {action.type.describe()}" in message
        return
    parsed = getattr(args, action.dest)
    for value in parsed if isinstance(parsed, list) else [parsed]:
        assert _in_range(action, value), (argv, parsed)


def test_the_named_ranges_accept_and_reject_by_hand() -> None:
    assert POSITIVE_INT("3") == 3 and type(POSITIVE_INT("3")) is int and FIRST_N_OR_ALL("0") == 0
    assert NON_NEGATIVE("0") == 0.0 and type(NON_NEGATIVE("1")) is float and FINITE("-2.5") == -2.5
    assert CLUSTERS("2") == 2 and CLUSTERS("65535") == 65535 and RANDOM_SEED(str(2**32 - 1)) == 2**32 - 1
    assert Number(float, low=0.0, below=1.0)("0.999") == 0.999
    for kind, text in [(POSITIVE_INT, "0"), (POSITIVE_INT, "-1"), (POSITIVE_INT, "2.0"), (FIRST_N_OR_ALL, "-1"),
                       (NON_NEGATIVE, "-1e-9"), (NON_NEGATIVE, "nan"), (NON_NEGATIVE, "inf"), (FINITE, "-inf"),
                       (FINITE, "1e400"), (CLUSTERS, "1"), (CLUSTERS, "65536"), (RANDOM_SEED, str(2**32)),
                       (RANDOM_SEED, "-1"), (Number(float, low=0.0, below=1.0), "1")]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(f"must be {kind.describe()}, got ")):
            kind(text)


def test_range_words() -> None:
    assert POSITIVE_INT.describe() == "an integer >= 1"
    assert FIRST_N_OR_ALL.describe() == "an integer >= 0 (0: all)"
    assert NON_NEGATIVE.describe() == "a number >= 0"
    assert FINITE.describe() == "a finite number"
    assert CLUSTERS.describe() == "an integer in 2..65535"
    assert Number(float, low=0.0, below=1.0).describe() == "a number in [0, 1)"


def test_every_numeric_flag_has_a_range_type() -> None:
    """No stage parses a number with bare ``int``/``float`` (which let NaN, inf and negative counts through)."""
    bare = [f"{stage} {action.option_strings[0]}" for stage in cli.STAGES for action in _all_actions(_parser(stage))
            if action.type in (int, float) and action.choices is None and action.option_strings[0] not in ELSEWHERE]
    assert not bare, f"numeric flags without a range type (pseudo_labels.cli.options.Number): {bare}"
    assert len(NUMERIC) > 80


@pytest.mark.parametrize(("stage", "flag"), NUMERIC, ids=[f"{s}:{f}" for s, f in NUMERIC])
def test_every_default_is_in_range(stage: str, flag: str) -> None:
    action = _action(stage, flag)
    defaults = action.default if isinstance(action.default, (list, tuple)) else [action.default]
    assert all(value is None or _in_range(action, value) for value in defaults), action.default


@pytest.mark.parametrize(("stage", "flag"), NUMERIC, ids=[f"{s}:{f}" for s, f in NUMERIC])
def test_special_values_parse_in_range_or_exit_2(stage: str, flag: str) -> None:
    for text in SPECIAL:
        _check(stage, flag, text)


NUMBERS = st.one_of(st.integers(min_value=-2**70, max_value=2**70).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(SPECIAL))


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(NUMERIC), text=NUMBERS)
def test_random_values_through_every_parser(case: tuple[str, str], text: str) -> None:
    _check(*case, text)


@pytest.mark.parametrize(("argv", "message"), [
    (["sweep", "--cityscapes_root", "R", "--max_images", "-1"],
     "argument --max_images: must be an integer >= 0 (0: all), got -1"),
    (["cups", "--cityscapes_root", "R", "--grad_threshold=nan"], "argument --grad_threshold: must be a number >= 0"),
    (["instances", "--semantic_dir", "S", "--depth_dir", "D", "--output_dir", "O", "--min_area", "-5"],
     "argument --min_area: must be an integer >= 0, got -5"),
    (["depth", "--cityscapes_root", "R", "--crop_bottom", "1"], "argument --crop_bottom: must be a number in [0, 1)"),
    (["sweep", "--cityscapes_root", "R", "--eval_size", "0", "1024"], "argument --eval_size: must be an integer >= 1"),
])
def test_a_bad_value_stops_the_command_before_any_work(argv: list[str], message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Through the console entry point: exit status 2, one usage line and the message, no traceback."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err
