"""``argus stream --alert`` end to end: the simulator serves a recording whose price
crosses the level a known number of times; the alert lines are exactly those
crossings (with hysteresis), after the events that fired them."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from tests.cli.helpers import ThreadedSim, argus_env, run_argus

PATH = [229.0, 229.5, 230.5, 230.4, 229.0, 231.0, 231.5, 229.9, 230.1, 228.0]
# AAPL>230 fires at 230.5 (a crossing), not at 230.4 (still above), re-arms at
# 229.0 (past the band), fires at 231.0, re-arms at 228.0 only (229.9 is within
# 0.1% of 230: 229.77 is the re-arm line), so 230.1 does not fire: two alerts.


def recording(tmp_path: Path) -> Path:
    path = tmp_path / "cross.jsonl"
    t0 = 1_800_000_000.0
    lines = [
        {"type": "price", "symbol": "AAPL", "price": p, "bid": p - 0.01, "ask": p + 0.01,
         "timestamp": t0 + i, "seq": i + 1, "source": "argus", "received": t0 + i}
        for i, p in enumerate(PATH)
    ]  # fmt: skip
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_alert_lines_are_the_crossings(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with ThreadedSim(replay=recording(tmp_path), speed=None, symbols=None) as sim:
        done = run_argus(
            ["stream", "AAPL", "--url", sim.url, "--json", "--types", "price",
             "--count", str(len(PATH)), "--alert", "AAPL>230", "--alert", "AAPL%<-0.5"],
            env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    prices = [e["price"] for e in lines if e["type"] == "price"]
    assert prices == PATH
    alerts = [e for e in lines if e["type"] == "alert"]
    # AAPL%<-0.5 from 229.0 is 227.855: 228.0 (-0.44%) is not a crossing
    assert [(a["rule"], a["price"], a["seq"]) for a in alerts] == [
        ("AAPL>230", 230.5, 3),
        ("AAPL>230", 231.0, 6),
    ]
    for alert in alerts:  # after the frame that carried the event that fired it
        fired_by = next(i for i, e in enumerate(lines) if e.get("seq") == alert["seq"])
        assert lines.index(alert) > fired_by
        assert alert["symbol"] == "AAPL" and alert["source"] == "argus"
