#!/usr/bin/env python3
"""Estimates as an analyst's edits change them, for benches/log_load.sh (EDITS=1).

    python3 benches/edits.py SAMPLE OUT_DIR [ESTIMATES [EDITS]]

Writes OUT_DIR/e<estimate>-<step>.json: ESTIMATES (default 8) estimates made from SAMPLE
(its estimateID and vessel name changed), each through EDITS (default 64) successive
edits, every edit applied on top of the one before, as the Voyage Estimator sends them
(the whole estimate on every change). The edits cycle through three kinds:
  - a bunker price at one port call;
  - port days at one port call, which shifts the arrival and departure of every later
    port call and changes the voyage results (days, TCE, profit);
  - the daily cost, and the results with it.
The same seed gives the same files. Compact JSON like the sample.
"""
import copy
import datetime
import json
import os
import random
import sys


def shift(stamp, hours):
    at = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    text = (at + datetime.timedelta(hours=hours)).isoformat()
    return text.replace("+00:00", "Z") if stamp.endswith("Z") else text


def edit(estimate, step, rng):
    calls = estimate["estimateItineraries"]
    results = estimate.get("voyageResults", {})
    kind = step % 3
    if kind == 0:
        call = rng.choice(calls)
        bunkers = call.get("voyageEstimateBunkers") or []
        if bunkers:
            b = rng.choice(bunkers)
            b["price"] = round(b["price"] + rng.choice([-1, 1]) * rng.uniform(0.5, 25), 2)
    elif kind == 1:
        i = rng.randrange(1, len(calls))
        hours = rng.choice([-12, -6, 6, 12, 24])
        calls[i]["portDays"] = round(max(0.25, calls[i].get("portDays", 1) + hours / 24), 2)
        calls[i]["departureDate"] = shift(calls[i]["departureDate"], hours)
        for later in calls[i + 1:]:
            later["arrivalDate"] = shift(later["arrivalDate"], hours)
            later["departureDate"] = shift(later["departureDate"], hours)
        if "voyageDays" in results:
            results["voyageDays"] = round(results["voyageDays"] + hours / 24, 2)
    else:
        estimate["dailyCost"] = estimate.get("dailyCost", 14000) + rng.choice([-250, 250, 500])
    for key in ("tce", "profit", "netIncome", "totalExpenses"):
        if key in results:
            results[key] = round(results[key] + rng.uniform(-500, 500), 2)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sample, out = sys.argv[1], sys.argv[2]
    estimates = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    edits = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    with open(sample, "rb") as f:
        original = json.load(f)
    os.makedirs(out, exist_ok=True)
    rng = random.Random(4711)
    for e in range(estimates):
        estimate = copy.deepcopy(original)
        estimate["estimateID"] = f"{original.get('estimateID', 'EST')}-{e}"
        if "vesselName" in estimate:
            estimate["vesselName"] = f"{estimate['vesselName']} {e}"
        for step in range(edits):
            if step > 0:
                edit(estimate, step, rng)
            with open(os.path.join(out, f"e{e}-{step}.json"), "w") as f:
                json.dump(estimate, f, separators=(",", ":"), ensure_ascii=False)


if __name__ == "__main__":
    main()
