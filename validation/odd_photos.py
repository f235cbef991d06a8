"""One odd photo in a clean course: what status does it get? (VALIDITY.md, "Recovery status").

For every treatment, a clean course (Δa* 9 at the peak falling with a third of the band's median
resolution day as its time constant, photos on days 1, 3, 7, 10, 14, 21 and 28 after the peak)
has one photo moved by -10, -6, +6 or +10 a* units, at every position: a region that slipped, a
failed photo, a flash. Printed: how many of the 224 courses get each status, by where the odd
photo is (the latest, or before it) and which way it is off, with one example of each.

    uv run python validation/odd_photos.py
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tracker.recovery import TREATMENTS, assess_course

MOVES = (-10.0, -6.0, 6.0, 10.0)


def main() -> None:
    counts: Counter = Counter()
    examples: dict = {}
    for key, entry in TREATMENTS.items():
        peak, typical = entry.peak_day, entry.resolution_day_typical
        days = sorted({peak + d for d in (1, 3, 7, 10, 14, 21, 28)})
        clean = [max(0.0, 9 * float(np.exp(-(d - peak) / (typical / 3)))) for d in days]
        clean_status = assess_course(key, days=days, redness_delta_a=clean).status
        for position in range(len(days)):
            for move in MOVES:
                values = list(clean)
                values[position] += move
                a = assess_course(key, days=days, redness_delta_a=values)
                where = "latest" if position == len(days) - 1 else ("first" if position == 0 else "between")
                case = (clean_status, where, "low" if move < 0 else "high", a.status)
                counts[case] += 1
                rules = ", ".join(s.rule for s in a.signals if s.status != "info")
                examples.setdefault(case, f"{key}: {', '.join(f'{v:.1f}' for v in values)} ({rules})")
    print("| clean course | odd photo | off | status | courses | example |")
    print("|---|---|---|---|---|---|")
    for case, count in sorted(counts.items()):
        print(f"| `{case[0]}` | {case[1]} | {case[2]} | `{case[3]}` | {count} | {examples[case]} |")
    print(f"\n{sum(counts.values())} courses")


if __name__ == "__main__":
    main()
