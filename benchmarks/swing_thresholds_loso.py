"""Do the swing detector's shape thresholds hold for a person they were not set on?

Leave-one-subject-out over the real wrist recordings (../shared/realdata/utd-mhad-wrist): for
each of the four people, the vertical-share and turn cut-offs are set from the other three
alone (midway between the lowest swing and the highest other motion), the detector runs with
them on the fourth person's recordings, and recall and precision are printed; then the same
with the detector's own constants (set from physics, not from this set). Windows are the
detector's; every number comes from ``swings()`` (live == batch).

    uv run python benchmarks/swing_thresholds_loso.py
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from hitting_coach.analysis import swings as sw
from hitting_coach.evaluate import Recording, evaluate, labelled_folder, summary

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "utd-mhad-wrist"


@contextlib.contextmanager
def cutoffs(share: float, turn: float) -> Iterator[None]:
    saved = (sw.VERTICAL_SHARE_MIN, sw.CHECKED_TURN_DEG)
    sw.VERTICAL_SHARE_MIN, sw.CHECKED_TURN_DEG = share, turn
    try:
        yield
    finally:
        sw.VERTICAL_SHARE_MIN, sw.CHECKED_TURN_DEG = saved


def windows(recs: list[Recording]) -> list[tuple[Recording, float, float]]:
    """(recording, turn_deg, vertical_share) of every window the detector judges, with the
    shape cut-offs open."""
    out = []
    with cutoffs(0.0, 0.0):
        for rec in recs:
            table = sw.swings(rec.frames, "wrist")
            out += [(rec, r.turn_deg, r.vertical_share) for r in table.itertuples()]
    return out


def subject(rec: Recording) -> str:
    return re.search(r"_s(\d+)_t", rec.name)[1]


def main() -> None:
    recs = labelled_folder(REALDATA)
    allw = windows(recs)
    print("held out  share cut  turn cut  recall  precision (vs throw, bowling, serve, forehand)")
    for held in sorted({subject(r) for r in recs}):
        train = [w for w in allw if subject(w[0]) != held]
        swing = [w for w in train if w[0].n_truth]
        best = {}
        for rec, turn, share in swing:  # the swing of each file: its largest turn
            if turn > best.get(rec.name, (0, 0))[0]:
                best[rec.name] = (turn, share)
        other = [w for w in train if not w[0].n_truth]
        share_cut = (min(s for _, s in best.values()) + max(s for *_, s in other)) / 2
        strong = [t for _, t, s in other if s >= share_cut] or [0.0]
        turn_cut = (min(t for t, _ in best.values()) + max(strong)) / 2
        test = [r for r in recs if subject(r) == held]
        with cutoffs(share_cut, turn_cut):
            total = summary(evaluate(test, "wrist"))
        print(
            f"subject {held}  {share_cut:9.2f} {turn_cut:9.0f} "
            f"{total['recall']:7.0%} {total['precision']:10.0%}"
        )
    total = summary(evaluate(recs, "wrist"))
    print(
        f"constants  {sw.VERTICAL_SHARE_MIN:9.2f} {sw.CHECKED_TURN_DEG:9.0f} "
        f"{total['recall']:7.0%} {total['precision']:10.0%}  (all four people)"
    )


if __name__ == "__main__":
    main()
