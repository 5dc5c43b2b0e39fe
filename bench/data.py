#!/usr/bin/env python3
"""bench/data.py -- the data-ingest benchmark behind bench/data.sh (run that, not this).

For one MNIST-sized CSV (and its safetensors conversion) measures, RUNS times each, in one run:
  nngen convert     CSV read by nngen's reader (its own wall and CPU seconds, printed by convert)
  nngen train       start-up (time to the first output line, minus the compile time it prints)
                    and memory at that moment (VmHWM, RssAnon), for .csv and .safetensors
  ./train           the standalone program: time to its first stderr line (data read, split,
                    standardised) and VmHWM / RssAnon then, for .csv and .safetensors
  numpy.loadtxt     and pandas.read_csv (C engine), in fresh processes: wall, CPU, peak RSS
then the peak RSS of one whole epoch for nngen train and ./train (/usr/bin/time), and prints one
table of medians. Ratios are of medians measured in this same run (the machine may be busy).
"""
import os, re, resource, statistics, subprocess, sys, time

NNGEN, TRAIN_DIR, MODEL, CSV, ST, RUNS, PY = sys.argv[1:8]
RUNS = int(RUNS)
MB = 1e6


def status(pid):
    with open(f"/proc/{pid}/stat") as f:  # utime, stime: fields 14 and 15 after the command name
        fields = f.read().rsplit(")", 1)[1].split()
    out = {"cpu": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "RssAnon"):
                out[k] = int(v.split()[0]) * 1024
    return out


def first_line(cmd, stream, pattern):
    """Starts cmd, waits for a line matching pattern on stream, returns (seconds, line, status), kills it."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    src = p.stdout if stream == "out" else p.stderr
    for line in src:
        if re.search(pattern, line):
            t = time.perf_counter() - t0
            st = status(p.pid)
            p.kill()
            p.wait()
            return t, line, st
    p.wait()
    raise SystemExit(f"no line matching {pattern!r} from {' '.join(cmd)}: {p.stderr.read()}")


def python_reader(what):
    code = f"""
import resource, time, sys
t0, c0 = time.perf_counter(), time.process_time()
if {what!r} == "numpy":
    import numpy as np
    a = np.loadtxt({CSV!r}, delimiter=",", skiprows=1, dtype=np.float32)
else:
    import pandas as pd
    a = pd.read_csv({CSV!r}, engine="c", dtype="float32")
t, c = time.perf_counter() - t0, time.process_time() - c0
print(t, c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, a.shape[0])
"""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def peak_of_run(cmd):
    r = subprocess.run(["/usr/bin/time", "-f", "PEAK %M"] + cmd, capture_output=True, text=True)
    m = re.search(r"PEAK (\d+)", r.stderr)
    return int(m.group(1)) * 1024 if m else float("nan")


size = os.path.getsize(CSV)
rows = {}  # name -> list of (wall, cpu or None, hwm, anon)


def add(name, wall, cpu, hwm, anon):
    rows.setdefault(name, []).append((wall, cpu, hwm, anon))


train = os.path.join(TRAIN_DIR, "train")
for _ in range(RUNS):
    out = subprocess.run([NNGEN, "convert", CSV, "-o", ST + ".bench.safetensors"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"in ([\d.]+) s, ([\d.]+) s of CPU", out)
    add("nngen (convert: CSV read)", float(m.group(1)), float(m.group(2)), None, None)
    for data, label in ((CSV, "csv"), (ST, "safetensors")):
        t, line, st = first_line([NNGEN, "train", MODEL, "--data", data, "--standardize", "--backend", "tcc", "--epochs", "1"],
                                 "out", r"^training ")
        compile_ms = float(re.search(r"compiled in (\d+) ms", line).group(1))
        add(f"nngen train start-up, {label}", t - compile_ms / 1000, None, st["VmHWM"], st["RssAnon"])
        add(f"nngen train start-up + compile (CPU), {label}", t, st["cpu"], None, None)
        t, line, st = first_line([train, data, "--epochs", "1"], "err", r"samples from")
        add(f"./train start-up, {label}", t, st["cpu"], st["VmHWM"], st["RssAnon"])
    for what, label in (("numpy", "numpy.loadtxt"), ("pandas", "pandas.read_csv (C engine)")):
        t, c, peak = python_reader(what)
        add(label, t, c, peak, None)
os.remove(ST + ".bench.safetensors")

full = {
    "nngen train, 1 epoch, csv": peak_of_run([NNGEN, "train", MODEL, "--data", CSV, "--standardize", "--backend", "cc", "--epochs", "1"]),
    "./train, 1 epoch, csv": peak_of_run([train, CSV, "--epochs", "1"]),
    "nngen train, 1 epoch, safetensors": peak_of_run([NNGEN, "train", MODEL, "--data", ST, "--standardize", "--backend", "cc", "--epochs", "1"]),
    "./train, 1 epoch, safetensors": peak_of_run([train, ST, "--epochs", "1"]),
}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, unit):
    if v is None:
        return "-"
    return f"{v:.3f}" if unit == "s" else f"{v / MB:.0f}"


print(f"data: {CSV}: {size / MB:.1f} MB; medians of {RUNS} runs; float32 data = {os.path.getsize(ST) / MB:.0f} MB (the .safetensors)")
print(f"{'reader':44} {'wall s':>8} {'CPU s':>8} {'MB/s CPU':>9} {'peak MB':>8} {'anon MB':>8}")
table = {}
for name, vals in rows.items():
    wall, cpu = med([v[0] for v in vals]), med([v[1] for v in vals])
    hwm, anon = med([v[2] for v in vals]), med([v[3] for v in vals])
    table[name] = (wall, cpu)
    rate = f"{size / MB / cpu:.0f}" if cpu and "start-up" not in name else "-"
    print(f"{name:44} {fmt(wall, 's'):>8} {fmt(cpu, 's'):>8} {rate:>9} {fmt(hwm, 'mb'):>8} {fmt(anon, 'mb'):>8}")
for name, peak in full.items():
    print(f"{'peak RSS, ' + name:44} {'':>8} {'':>8} {'':>9} {fmt(peak, 'mb'):>8} {'':>8}")
nn = table["nngen (convert: CSV read)"]
pd_ = table["pandas.read_csv (C engine)"]
np_ = table["numpy.loadtxt"]
print(f"ratios: pandas/nngen {pd_[0] / nn[0]:.1f}x wall, {pd_[1] / nn[1]:.1f}x CPU; "
      f"numpy/nngen {np_[0] / nn[0]:.1f}x wall, {np_[1] / nn[1]:.1f}x CPU")
