"""Parser cost per message: the typed fast path, the precise checker, and refused messages.

Times ``parse_message`` (best of several rounds, so a busy machine shows less) on:

* a 40-reading message as the app sends it (20 accelerometer + 20 gyroscope readings),
  which the typed decoder takes, against the precise checker alone on the same bytes;
* a message of ``--big`` readings, valid, and the same with one fault at its very end (the
  worst case for a refusal: the typed decoder reads it all, then the precise checker does),
  so a refusal's cost is shown bounded by about twice an acceptance's;
* a message with a fault in its first reading;
* the same 40-reading message through generic JSON decoders that check nothing (orjson and
  msgspec into dicts and lists): the floor any parser of these bytes starts from.

    uv run python benchmarks/bench_parse.py [--big 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hitting_coach.errors import MessageError  # noqa: E402
from hitting_coach.ingest import parse  # noqa: E402
from support import message, xyz_readings  # noqa: E402


def best_us(fn, raw: bytes, rounds: int = 7) -> float:
    number = max(1, int(20_000 / max(1, len(raw) // 2_000)))
    return min(timeit.repeat(lambda: fn(raw), number=number, repeat=rounds)) / number * 1e6


def refusing():
    def fn(body: bytes) -> None:
        try:
            parse.parse_message(body, parse.LIMITS, now)
        except MessageError:
            return
        raise AssertionError("accepted a faulty message")

    return fn


now = time.time_ns()


def doc(n: int) -> dict:
    per = n // 2
    return message(
        1, xyz_readings("accelerometer", now, per, 100) + xyz_readings("gyroscope", now, per, 100)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=5000, help="readings in the large message")
    args = parser.parse_args()

    def accept(raw: bytes) -> parse.Message:
        return parse.parse_message(raw, parse.LIMITS, now)

    def checked(raw: bytes) -> parse.Message:
        return parse._checked(raw, parse.LIMITS, now)

    small = orjson.dumps(doc(40))
    big_doc = doc(args.big)
    big = orjson.dumps(big_doc)
    big_doc["payload"][-1]["values"]["z"] = "abc"
    bad_end = orjson.dumps(big_doc)
    first_doc = doc(args.big)
    first_doc["payload"][0]["time"] = -1
    bad_first = orjson.dumps(first_doc)

    rows = [
        ("40 readings, typed fast path (parse_message)", best_us(accept, small)),
        ("40 readings, precise checker alone", best_us(checked, small)),
        ("40 readings, orjson.loads alone (no checks, dicts)", best_us(orjson.loads, small)),
        ("40 readings, msgspec.json.decode alone (no checks, dicts)",
         best_us(msgspec.json.decode, small)),
        (f"{args.big} readings, accepted", best_us(accept, big)),
        (f"{args.big} readings, refused at the last value", best_us(refusing(), bad_end)),
        (f"{args.big} readings, refused at the first reading", best_us(refusing(), bad_first)),
    ]  # fmt: skip
    print("| message | µs per message |")
    print("|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:,.1f} |")
    by_name = dict(rows)
    fast = by_name["40 readings, typed fast path (parse_message)"]
    checker = by_name["40 readings, precise checker alone"]
    decode = by_name["40 readings, orjson.loads alone (no checks, dicts)"]
    accepted = by_name[f"{args.big} readings, accepted"]
    refused = by_name[f"{args.big} readings, refused at the last value"]
    print(
        f"\nfast path / precise checker: {fast / checker:.2f}; "
        f"refused at the end / accepted: {refused / accepted:.2f}; "
        f"fast path / generic decode alone: {fast / decode:.2f}"
    )


if __name__ == "__main__":
    main()
