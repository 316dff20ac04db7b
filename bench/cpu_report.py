"""The cpu suite's report: rnnx's cpu engine against oneDNN's RNN primitive, PyTorch, the GEMMs
alone and the machine's FMA peak, all measured in one run of scripts/bench-cpu.sh.

    python bench/cpu_report.py RNNX_BENCH.json [TORCH.json] --out FOLDER --commit C

Writes cpu-suite-DATE-ISA.json (both inputs, merged) and cpu-suite-DATE-ISA.md (the table) to
FOLDER and prints the table; ISA is the widest vector instruction set the cpu engine has code for
on this CPU (avx512 or avx2), so that runs on two kinds of machine on one day keep both files. A ratio is the time of rnnx's cpu engine over the peer's: below 1 is faster.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys

from result_files import replace_files
from timing import benchmark_results


def cpu_description():
    """The CPU's model name and its widest vector instruction set rnnx has code for ("avx512",
    "avx2" or "" for neither), from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "unknown CPU", ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    found = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(found.group(1).split()) if found else set()
    isa = "avx512" if "avx512f" in flags else "avx2" if {"avx2", "fma"} <= flags else ""
    return (model.group(1).strip() if model else "unknown CPU"), isa


# Issue 17's targets: in these cases rnnx's cpu engine is to be at least this many times as fast as
# each peer; the 512 forward is to reach this fraction of the FMA peak; the whole forward is to
# take at most this many times the GEMMs alone; the seed classifier is to train this many times
# as fast as PyTorch.
TARGET_CASE = re.compile(
    r"^(lstm|gru|gru_after)/H:(128/B:128/T:28|512/B:64/T:100)/(fwd|train)/f32$|"
    r"^lstm/H:(256|512|1024)/B:1/T:100/fwd/f32$"
)
TARGET_PEAK_FRACTION = 0.70
TARGET_GEMM_RATIO = 1.1
TARGET_SEED_SPEEDUP = 1.5


def target_speedup(case):
    """The speed-up over each peer a case's target asks for, or None outside the targets."""
    if not TARGET_CASE.match(case):
        return None
    return 1.5 if "/B:1/" in case else 1.3


def floor_seconds(case, seconds, rate, peak, read_rate):
    """The least time any engine could take for a case on this machine: its FLOPs at the measured
    FMA peak and, at B = 1, where every step reads all of W_h (4 H x H floats), T such reads at
    the rate measured for a buffer that size (read_rate: KB -> bytes/s). None if unknown."""
    floors = []
    if rate and peak:
        floors.append(rate * seconds / peak)
    shape = re.match(r"^lstm/H:(\d+)/B:1/T:(\d+)/", case)
    if shape:
        hidden, steps = int(shape.group(1)), int(shape.group(2))
        wh_bytes = 4 * hidden * hidden * 4
        if read_rate.get(wh_bytes // 1024):
            floors.append(steps * wh_bytes / read_rate[wh_bytes // 1024])
    return max(floors) if floors else None


def target_lines(suite, rows):
    """What each target came to in one suite: rows are (case, rnnx s, {peer: s}, floor s, FMA
    fraction, GEMM ratio). A target the floor alone misses is out of reach on this machine."""
    met, missed, out_of_reach = [], [], []
    for case, mine, peers, floor, fraction, gemm_ratio in rows:
        factor = target_speedup(case)
        if factor is None:
            continue
        for peer, theirs in peers.items():
            if not theirs:
                continue
            goal = theirs / factor
            line = (
                f"{case} vs {peer}: {theirs / mine:.2f}x (target {factor}x: "
                f"{goal * 1e3:.3f} ms; rnnx {mine * 1e3:.3f} ms"
            )
            if floor:
                line += f", floor {floor * 1e3:.3f} ms = {floor / goal:.2f} of the target"
            line += ")"
            if mine <= goal:
                met.append(line)
            elif floor and floor > goal:
                out_of_reach.append(line)
            else:
                missed.append(line)
        if case.startswith("lstm/H:512/B:64") and case.endswith("/fwd/f32") and fraction:
            line = f"{case}: {fraction:.2f} of FMA peak (target {TARGET_PEAK_FRACTION:.2f})"
            (met if fraction >= TARGET_PEAK_FRACTION else missed).append(line)
        if gemm_ratio:
            line = f"{case}: {gemm_ratio:.2f}x the GEMMs alone (target {TARGET_GEMM_RATIO})"
            (met if gemm_ratio <= TARGET_GEMM_RATIO else missed).append(line)
    lines = [f"### {suite}: the targets", ""]
    for title, items in (
        ("met", met),
        ("missed", missed),
        ("out of reach here: even the floor is slower than the target", out_of_reach),
    ):
        lines.append(f"{title} ({len(items)}):")
        lines += [f"- {item}" for item in items] or ["- none"]
        lines.append("")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench")
    parser.add_argument("torch", nargs="?")
    parser.add_argument("--out", required=True)
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--seed-rnnx", help="seed_classifier's output (its samples/s)")
    parser.add_argument("--seed-torch", help="torch_seed_classifier.py's output")
    args = parser.parse_args()
    with open(args.bench) as f:
        bench = json.load(f)
    cases = benchmark_results(bench)
    torch = {}
    torch_context = None
    if args.torch and os.path.exists(args.torch):
        with open(args.torch) as f:
            peer = json.load(f)
        torch = peer["seconds"]
        torch_context = peer["context"]

    def seconds(name):
        if name in cases:
            return cases[name][0]
        return torch.get(name)

    date = datetime.date.today().isoformat()
    ctx = bench.get("context", {})
    model, isa = cpu_description()
    lines = [
        f"# cpu suite ({date}, commit {args.commit})",
        "",
        f"{platform.node()}: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz "
        f"({model}, {isa or 'neither AVX2 nor AVX-512'}); "
        f"float32; `scripts/bench-cpu.sh`. PyTorch: "
        + (f"torch {torch_context['torch']}" if torch_context else "not installed, no peer")
        + ". Times in ms; a ratio is rnnx cpu's time over the peer's (below 1: rnnx faster). "
        "`cpu` runs every engine on every core, `cpu1` on one thread.",
        "",
    ]
    for suite in ("cpu", "cpu1"):
        peak = cases.get(f"{suite}/fma_peak", (None, None))[1]
        lines += [
            f"## {suite}" + (f" (FMA peak measured: {peak / 1e9:.1f} GFLOP/s)" if peak else ""),
            "",
            "| case | rnnx cpu | oneDNN | PyTorch | GEMMs alone | cpu/oneDNN | cpu/PyTorch "
            "| cpu/GEMMs | of FMA peak | floor | floor/faster peer |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        read_rate = {
            int(n.rsplit(":", 1)[1]): cases[n][1]
            for n in cases
            if n.startswith(f"{suite}/read_rate/KB:")
        }
        rows = []
        for name in sorted(n for n in cases if n.startswith(f"{suite}/cpu/")):
            rest = name[len(f"{suite}/cpu/") :]
            mine, flops = cases[name]
            onednn = seconds(f"{suite}/onednn/{rest}")
            torch_s = seconds(f"{suite}/torch/{rest}")
            gemm = seconds(f"{suite}/sgemm/{rest}")

            def ms(v):
                return f"{v * 1e3:.3f}" if v else ""

            def ratio(v):
                return f"{mine / v:.2f}" if v else ""

            fraction = flops / peak if flops and peak else None
            floor = floor_seconds(rest, mine, flops, peak, read_rate)
            faster_peer = min((v for v in (onednn, torch_s) if v), default=None)
            lines.append(
                f"| {rest} | {ms(mine)} | {ms(onednn)} | {ms(torch_s)} | {ms(gemm)} | "
                f"{ratio(onednn)} | {ratio(torch_s)} | {ratio(gemm)} | "
                + (f"{fraction:.2f}" if fraction else "")
                + f" | {ms(floor)} | "
                + (f"{floor / faster_peer:.2f}" if floor and faster_peer else "")
                + " |"
            )
            rows.append(
                (
                    rest,
                    mine,
                    {"oneDNN": onednn, "PyTorch": torch_s},
                    floor,
                    fraction,
                    mine / gemm if gemm else None,
                )
            )
        rates = ", ".join(
            f"{kb // 1024} MB {rate / 1e9:.0f} GB/s"
            for kb, rate in sorted(read_rate.items())
            if rate
        )
        lines += [
            "",
            "The floor: the case's FLOPs at the measured FMA peak and, at B = 1, T reads of W_h at "
            "the rate measured for a buffer its size"
            + (f" ({rates})" if rates else "")
            + "; no engine doing this work in float32 can be faster on this machine. "
            "floor/faster peer is then the best ratio any engine could show here.",
            "",
        ]
        lines += target_lines(suite, rows)
    # Each run's figure: seed_classifier's "done:" line, the torch script's one line.
    seed, seed_runs = {}, {}
    for key, path in (("rnnx", args.seed_rnnx), ("torch", args.seed_torch)):
        if path and os.path.exists(path):
            with open(path) as f:
                found = re.findall(r"^(?:done:|torch ).* ([0-9.]+) samples/s", f.read(), re.M)
            if found:
                seed_runs[key] = [float(v) for v in found]
                seed[key] = statistics.median(seed_runs[key])

    def runs(key):
        return ", ".join(f"{v:.0f}" for v in seed_runs.get(key, []))

    if seed:
        lines += [
            "## The seed classifier (LSTM 128 on Fashion-MNIST rows, batch 128, Adam; 12,800 images)",
            "",
            "Medians of the runs (each run's figure in brackets), rnnx and PyTorch alternating.",
            "",
            "| rnnx (seed_classifier, cpu engine) | PyTorch (bench/torch_seed_classifier.py) | ratio |",
            "|---|---|---|",
            f"| {seed.get('rnnx', 0):.0f} samples/s [{runs('rnnx')}] | "
            f"{seed.get('torch', 0):.0f} samples/s [{runs('torch')}] | "
            + (f"{seed['rnnx'] / seed['torch']:.2f}x |" if len(seed) == 2 else " |"),
            "",
        ]
        if len(seed) == 2:
            speedup = seed["rnnx"] / seed["torch"]
            verdict = "met" if speedup >= TARGET_SEED_SPEEDUP else "missed"
            lines += [f"Target {TARGET_SEED_SPEEDUP}x PyTorch's samples/s: {verdict}.", ""]
    text = "\n".join(lines)
    merged = {
        "date": date,
        "commit": args.commit,
        "rnnx_bench": bench,
        "torch": torch,
        "seed_classifier_samples_per_second": seed,
        "seed_classifier_runs": seed_runs,
    }
    stem = f"cpu-suite-{date}" + (f"-{isa}" if isa else "")
    replace_files(args.out, {stem + ".md": text, stem + ".json": json.dumps(merged, indent=1)})
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
