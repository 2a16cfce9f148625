"""Compare two CUPS-protocol result JSONs: ours (``pseudo-labels evaluate-cups --output``) and CUPS' own.

    python benchmarks/compare_cups_json.py OURS.json REFERENCE.json

REFERENCE.json comes from ``benchmarks/cups_reference.py`` (CUPS' metric in a side venv).
Plain Python, standard library only. Exact: the images count, per-class TP/FP/FN, both
assignments and the thing/stuff split. An assignment may be indexed by label-space id
(CUPS' ``metric.assignments``) or by raw pseudo-class id; both are accepted. Tolerances,
absolute, on percent values: PQ and SQ (means and per class) 1e-7, i.e. 1e-9 on fractions;
RQ, mIoU and accuracy 1e-4 (CUPS keeps them in float32); per-class iou_sum 1e-6. NaN
equals NaN. Extra keys in either file are ignored. Prints every compared key with both
values and the difference; exits 1 on any mismatch or missing key, else 0.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

EXACT = ("images", "things", "stuffs")
ASSIGNMENTS = ("assignment_pq", "assignment_miou")
TIGHT = ("pq", "sq", "pq_things", "sq_things", "pq_stuff", "sq_stuff")
LOOSE = ("rq", "rq_things", "rq_stuff", "miou", "acc")
CLASS_TOL = {"pq": 1e-7, "sq": 1e-7, "rq": 1e-4, "iou_sum": 1e-6, "tp": None, "fp": None, "fn": None}


def close(a: Any, b: Any, tol: float | None) -> tuple[bool, str]:
    """Whether a and b agree (exactly when tol is None), and their difference as text."""
    if a is None or b is None:
        return False, "missing"
    if tol is None:
        if a == b:
            return True, "0"
        return False, f"{a - b:+d}" if isinstance(a, int) and isinstance(b, int) else "differ"
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b), "nan"
    return abs(a - b) <= tol, f"{a - b:+.3e}"


def show(value: Any) -> str:
    """A value for the table: floats to 10 decimals, long lists shortened."""
    if isinstance(value, float):
        return f"{value:.10f}"
    if isinstance(value, list):
        text = ",".join(map(str, value))
        return text if len(text) <= 40 else text[:37] + "..."
    return str(value)


def main(ours_path: str, ref_path: str) -> int:
    ours, ref = (json.loads(open(p).read()) for p in (ours_path, ref_path))
    rows: list[tuple[str, Any, Any, str, bool]] = []

    def check(key: str, a: Any, b: Any, tol: float | None) -> None:
        ok, diff = close(a, b, tol)
        rows.append((key, a, b, diff, ok))

    for key in EXACT:
        check(key, ours.get(key), ref.get(key), None)
    order = ref.get("stuffs", []) + ref.get("things", [])  # label-space id i is raw pseudo-class order[i]
    for key in ASSIGNMENTS:  # CUPS' are by label-space id; ours may be by raw pseudo-class id
        a, b = ours.get(key), ref.get(key)
        if a != b and b is not None and len(b) == len(order):
            by_raw = [0] * len(b)
            for label_id, raw in enumerate(order):
                by_raw[raw] = b[label_id]
            if a == by_raw:
                key, b = key + " (by raw id)", by_raw
        check(key, a, b, None)
    for key in TIGHT + LOOSE:
        check(key, ours.get(key), ref.get(key), 1e-7 if key in TIGHT else 1e-4)
    ref_classes, our_classes = ref.get("per_class", {}), ours.get("per_class", {})
    for name in ref_classes:
        for field, tol in CLASS_TOL.items():
            check(f"{name}.{field}", our_classes.get(name, {}).get(field), ref_classes[name].get(field), tol)

    width = max(len(r[0]) for r in rows)
    print(f"{'key':<{width}}  {'ours':>40}  {'cups':>40}  {'diff':>10}  ok")
    for key, a, b, diff, ok in rows:
        print(f"{key:<{width}}  {show(a):>40}  {show(b):>40}  {diff:>10}  {'yes' if ok else 'NO'}")
    bad = [r[0] for r in rows if not r[4]]
    worst = {}
    for group, keys in (("pq/sq", [r for r in rows if r[0].split(".")[-1] in ("pq", "sq") or r[0] in TIGHT]),
                        ("rq/miou/acc", [r for r in rows if r[0].split(".")[-1] == "rq" or r[0] in LOOSE])):
        diffs = [abs(r[1] - r[2]) for r in keys if isinstance(r[1], float) and isinstance(r[2], float)
                 and not (math.isnan(r[1]) or math.isnan(r[2]))]
        worst[group] = max(diffs, default=0.0)
    print(f"\n{len(rows)} keys compared, {len(bad)} mismatches; max |diff| (percent): "
          + ", ".join(f"{g} {v:.3e}" for g, v in worst.items()))
    if bad:
        print("MISMATCH: " + ", ".join(bad))
        return 1
    print("MATCH")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
