"""The bench's pure parts: in-run comparisons and their verdicts, the thread profile, the tables.

No process is started: the measurements are made up, the /proc lines are
real ones captured on Linux 6.1 (a thread whose name holds a space and a
parenthesis included, as the kernel prints it).
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from pyharness.netcore.bench import catalogue, markdown, model, table, threads
from pyharness.netcore.bench.model import Measurement, Wanted
from pyharness.netcore.bench.runner import wanted

# /proc/<pid>/task/<tid>/stat, schedstat and status, as read from a python3 process.
STAT = (
    "2315 (python3) R 2313 2313 31181 0 -1 4194304 2851 6563 0 0 3 1 4 1 20 0 1 0 438618 "
    "16965632 3363 18446744073709551615 94023382745088 94023382745429 140733746243504 0 0 0 0 "
    "16781312 2 0 0 0 17 0 0 0 0 0 0 94023382756784 94023382757400 94023940329472 "
    "140733746251790 140733746252073 140733746252073 140733746253775 0\n"
)
STAT_ODD_NAME = STAT.replace("(python3)", "(a b) c)")
SCHEDSTAT = "49166275 7861135 29\n"
STATUS = (
    "Name:\tpython3\nState:\tR (running)\nvoluntary_ctxt_switches:\t11\nnonvoluntary_ctxt_switches:\t17\n"
)


def test_proc_lines_parse() -> None:
    assert threads.parse_schedstat(SCHEDSTAT) == (49166275, 7861135)
    assert threads.parse_stat_minflt(STAT) == 2851
    assert threads.parse_stat_minflt(STAT_ODD_NAME) == 2851
    assert threads.parse_status_switches(STATUS) == (11, 17)
    with pytest.raises(ValueError, match="not a schedstat line"):
        threads.parse_schedstat("")


def test_loads_label_threads_and_divide_by_frames() -> None:
    t = threads.ThreadTime
    before = {10: t(10, "python3", 0, 0, 0, 0, 0), 11: t(11, "netcore-client", 0, 0, 0, 0, 0)}
    after = {
        10: t(10, "python3", 500_000_000, 100_000_000, 40, 2, 1),
        11: t(11, "netcore-client", 250_000_000, 0, 0, 9, 0),
        12: t(12, "python3", 100_000_000, 0, 0, 1, 0),  # born in between: counted from 0
        13: t(13, "python3", 1_000, 0, 0, 0, 0),  # below MIN_BUSY: left out
    }
    got = {x.thread: x for x in threads.loads("client", 10, before, after, 1.0, 1_000_000)}
    assert set(got) == {"main", "netcore-client", "thread"}
    assert got["main"].busy == pytest.approx(0.5) and got["main"].waiting == pytest.approx(0.1)
    assert got["main"].ns_per_frame == pytest.approx(500.0) and got["main"].faults == 40
    assert got["netcore-client"].wakeups == 9
    rows = threads.summarize([("ours", 1_000_000, [vars(x) for x in got.values()])])
    main = next(r for r in rows if r.thread == "main")
    assert main.faults_per_kframe == pytest.approx(0.04) and main.wakeups_per_kframe == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("median", "q1", "q3", "target", "better", "compare", "verdict"),
    [
        (1.5, 1.45, 1.55, 1.0, "higher", "ratio", "met"),
        (1.5, 1.0, 2.0, 1.0, "higher", "ratio", "inconclusive"),  # a factor 2 of spread, 1.5 of lead
        (2.08, 1.96, 3.1, 1.0, "higher", "ratio", "met"),  # a run far on the good side: still met
        (0.8, 0.78, 0.82, 1.0, "higher", "ratio", "MISSED"),
        (0.8, 0.6, 1.0, 1.0, "higher", "ratio", "inconclusive"),
        (0.5, 0.45, 0.55, 1.0, "lower", "ratio", "met"),
        (0.0, 0.0, 0.0, 0.0, "lower", "difference", "met"),  # a tie at zero drift is not behind
        (4096.0, 4096.0, 4096.0, 0.0, "lower", "difference", "MISSED"),
        (4096.0, 0.0, 8192.0, 0.0, "lower", "difference", "inconclusive"),
    ],
)
def test_verdict(  # noqa: PLR0917 - one parameter per column
    median: float, q1: float, q3: float, target: float, better: str, compare: str, verdict: str
) -> None:
    lead, got = model.verdict(median, q1, q3, target, better=better, compare=compare)
    assert got == verdict
    if compare == "ratio":
        assert lead == pytest.approx(median / target if better == "higher" else target / median)
    else:
        assert lead == pytest.approx(median - target if better == "higher" else target - median)


def _m(metric: str, peer: str, run: int, value: float) -> Measurement:
    return Measurement(metric, peer, run, value)


def test_ratios_are_taken_within_each_run() -> None:
    ms = [
        _m("frames_per_s", "ours", 0, 2.0),
        _m("frames_per_s", "limit", 0, 1.0),
        _m("frames_per_s", "ours", 1, 1.0),  # a slow run for both: the ratio holds
        _m("frames_per_s", "limit", 1, 0.5),
        _m("frames_per_s", "ours", 2, 3.0),
        _m("frames_per_s", "limit", 2, 1.0),
        _m("rss_drift_bytes", "ours", 0, 4096.0),
        _m("rss_drift_bytes", "uvloop", 0, 0.0),
    ]
    w = [
        Wanted("frames_per_s", "ours", "limit", "ratio", "higher", 0.6, ""),
        Wanted("rss_drift_bytes", "ours", "uvloop", "difference", "lower", 0.0, ""),
        Wanted("rss_drift_bytes", "ours", "pyzmq", "difference", "lower", 0.0, ""),  # no pyzmq: left out
    ]
    got = {r.peer: r for r in model.ratios(ms, w)}
    assert set(got) == {"limit", "uvloop"}
    frames = got["limit"]
    assert frames.runs == (2.0, 2.0, 3.0) and frames.median == 2.0 and frames.minimum == 2.0
    assert frames.spread == pytest.approx(frames.q3 / frames.q1) and frames.verdict == "met"
    assert got["uvloop"].runs == (4096.0,) and got["uvloop"].verdict == "MISSED"


def test_every_competitor_is_compared_on_every_metric_and_targets_name_references() -> None:
    found = {(c.metric, c.ours, c.peer): c for c in catalogue.comparisons()}
    for metric in catalogue.METRICS:
        for peer in catalogue.PEERS:
            if peer.role == "competitor" and metric.scenario in peer.scenarios:
                assert (metric.id, "ours", peer.id) in found, (metric.id, peer.id)
    assert found[("frames_per_s", "ours-core", "limit")].target == 0.9
    assert found[("frames_per_s", "ours", "limit")].target == 0.6
    assert found[("cycles_per_s", "ours", "uvloop")].target == 1.0
    assert not any(c.peer in ("ours", "ours-core") for c in found.values())
    assert {w.compare for w in wanted() if w.metric == "rss_drift_bytes"} == {"difference"}


def _results() -> model.Results:
    profile = [
        vars(threads.ThreadLoad("client", "main", 0.2, 0.0, 0.9, 0.0, 200.0, 0, 0, 0)),
        vars(threads.ThreadLoad("server", "netcore-server", 0.1, 0.0, 0.5, 0.0, 100.0, 0, 4, 0)),
    ]
    ms = []
    for run, (ours, limit) in enumerate([(3.0e6, 1.0e6), (2.0e6, 1.1e6), (4.0e6, 0.9e6)]):
        ms.append(Measurement("frames_per_s", "ours-core", run, ours, {"received": 1000, "threads": profile}))
        ms.append(Measurement("frames_per_s", "limit", run, limit, {"received": 1000, "threads": []}))
    meta = {
        "runs": 3,
        "cpus": 2,
        "seconds": 1.0,
        "started": "2026-12-02T00:00:00+0000",
        "loadavg_at_start": (0.5, 0.4, 0.3),
        "loadavg_at_end": (0.6, 0.5, 0.4),
        "loadavg_per_run": [(0.5, 0.4, 0.3)] * 3,
    }
    return model.Results(meta, ("a note",), tuple(ms), model.summarize(ms), model.ratios(ms, wanted()), {})


def test_text_table_shows_load_spread_verdict_and_threads() -> None:
    out = io.StringIO()
    table.render(_results(), out)
    text = out.getvalue()
    assert "load average (1, 5, 15 min) before: 0.50, 0.40, 0.30; after: 0.60, 0.50, 0.40" in text
    assert "ours-core / limit" in text and "met" in text and "IQR" in text
    assert "client main" in text and "ns/frame" in text
    shaky = replace(_results(), ratios=tuple(replace(r, verdict="inconclusive") for r in _results().ratios))
    out = io.StringIO()
    table.render(shaky, out)
    assert "targets: 0 of 1 met; inconclusive: frames_per_s ours-core/limit" in out.getvalue()


def test_markdown_follows_the_results() -> None:
    doc = _results().to_json()
    text = markdown.render(doc)
    assert "| `ours-core` / `limit` | 3.00x | 1.82x .. 4.44x | 1.55x | ≥ 0.90x | 3.33x | met |" in text
    assert "| `ours-core` | client main | 90% |" in text
    assert "load average (1, 5, 15 min) before 0.50, 0.40, 0.30, after 0.60, 0.50, 0.40" in text
    doc["ratios"][0]["median"] = 9.0
    assert markdown.render(doc) != text
