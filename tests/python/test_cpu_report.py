"""bench/cpu_report.py: each case's floor on the machine, and issue 17's targets sorted into met,
missed and out of reach."""

import importlib.util
import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # cpu_report imports its neighbours
_spec = importlib.util.spec_from_file_location("cpu_report", BENCH / "cpu_report.py")
cpu_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpu_report)

PEAK = 200e9  # FLOP/s


def section(lines, title):
    """The items listed under the heading that starts with `title`."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    items = []
    for line in lines[start + 1 :]:
        if not line.startswith("- "):
            break
        items.append(line[2:])
    return items


def test_floor_is_the_flops_at_peak():
    # 10 ms at 100 GFLOP/s is 1 GFLOP: 5 ms at 200 GFLOP/s.
    floor = cpu_report.floor_seconds("lstm/H:128/B:128/T:28/fwd/f32", 0.010, 100e9, PEAK, {})
    assert floor == pytest.approx(0.005)


def test_floor_at_batch_one_is_the_reads_of_w_h_where_they_take_longer():
    wh = 4 * 1024 * 1024 * 4  # bytes of W_h at H = 1024
    rates = {wh // 1024: 40e9}
    floor = cpu_report.floor_seconds("lstm/H:1024/B:1/T:100/fwd/f32", 0.05, 20e9, PEAK, rates)
    assert floor == pytest.approx(100 * wh / 40e9)  # 41.9 ms, above the FLOPs' 5 ms
    # Without a read rate for that size only the FLOPs count.
    flops_only = cpu_report.floor_seconds("lstm/H:1024/B:1/T:100/fwd/f32", 0.05, 20e9, PEAK, {})
    assert flops_only == pytest.approx(0.005)


def test_floor_unknown_without_a_peak():
    assert cpu_report.floor_seconds("lstm/H:128/B:128/T:28/fwd/f32", 0.01, 1e11, None, {}) is None


def test_targets_sorted_into_met_missed_and_out_of_reach():
    rows = [
        # 1.5x oneDNN: met; PyTorch 1.2x: missed, with a floor well below its target.
        ("lstm/H:128/B:128/T:28/fwd/f32", 1.0, {"oneDNN": 1.5, "PyTorch": 1.2}, 0.5, 0.6, 1.05),
        # Target 1.2 / 1.3 = 0.923 s, floor 1.0 s: no engine could meet it.
        ("gru/H:512/B:64/T:100/train/f32", 1.1, {"oneDNN": 1.2, "PyTorch": None}, 1.0, 0.8, None),
        # B = 1 asks 1.5x: 1.4x misses.
        ("lstm/H:256/B:1/T:100/fwd/f32", 1.0, {"oneDNN": 1.4, "PyTorch": None}, 0.3, 0.4, 1.2),
        # Not a target case: ignored.
        ("rnn_tanh/H:128/B:128/T:28/fwd/f32", 9.0, {"oneDNN": 1.0, "PyTorch": None}, 0.1, 0.1, 5.0),
        # The 512 forward's share of the FMA peak.
        ("lstm/H:512/B:64/T:100/fwd/f32", 1.0, {"oneDNN": None, "PyTorch": None}, 0.8, 0.65, None),
    ]
    lines = cpu_report.target_lines("cpu", rows)
    met = section(lines, "met (")
    missed = section(lines, "missed (")
    out = section(lines, "out of reach")
    assert [m.split(": ")[0] for m in met] == [
        "lstm/H:128/B:128/T:28/fwd/f32 vs oneDNN",
        "lstm/H:128/B:128/T:28/fwd/f32",  # 1.05x the GEMMs alone
    ]
    assert [m.split(": ")[0] for m in missed] == [
        "lstm/H:128/B:128/T:28/fwd/f32 vs PyTorch",
        "lstm/H:256/B:1/T:100/fwd/f32 vs oneDNN",
        "lstm/H:256/B:1/T:100/fwd/f32",  # 1.2x the GEMMs alone
        "lstm/H:512/B:64/T:100/fwd/f32",  # 0.65 of the peak
    ]
    assert [m.split(": ")[0] for m in out] == ["gru/H:512/B:64/T:100/train/f32 vs oneDNN"]
    assert "floor 1000.000 ms = 1.08 of the target" in out[0]
    assert "1.40x (target 1.5x" in missed[1]
    assert not any("rnn_tanh" in line for line in lines)
