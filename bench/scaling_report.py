#!/usr/bin/env python3
"""bench/scaling_report.py -- the table and the plot of bench/scaling.sh (run that, not this).

  scaling_report.py ROWS.jsonl [PLOT.svg]

ROWS.jsonl holds one JSON object per timed row (`nngen bench --json` for cc and tcc,
bench/scaling_jax.py for JAX), several rounds per model. Per model and back end it takes the
median of the rounds' medians and the minimum of their minimums, and prints one Markdown table:
GFLOP/s is docs/BENCHMARKS.md's count (step_flops, from nngen's cc row) over the median, for JAX
too; "JAX / cc" is JAX's time over nngen cc's (above 1: nngen is faster). With PLOT.svg it draws
two panels against the width (log scale): step time (log scale) and GFLOP/s, one solid line per
back end through the medians, a dashed one through the minimums (open dots). Standard library only.
"""
import json, math, statistics, sys

BACKENDS = [("cc", "nngen cc", "#1f77b4"), ("tcc", "nngen tcc", "#ff7f0e"), ("jax", "JAX jit", "#2ca02c")]

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs, info = {}, {}
for r in rows:
    width = int(r["model"].rsplit("_", 1)[1])
    runs.setdefault((width, r["backend"]), []).append(r)
    if r["backend"] == "cc":
        info[width] = (r["params_bytes"] // 4, r["step_flops"])
widths = sorted(info)
best = {}  # (width, backend) -> (median us, min us, GFLOP/s)
for (width, backend), rs in runs.items():
    med = statistics.median(r["step_us_median"] for r in rs)
    best[(width, backend)] = (med, min(r["step_us_min"] for r in rs), info[width][1] / med / 1e3)
jax_version = next((r["jax"] for r in rows if r["backend"] == "jax"), "?")


def cell(width, backend, i, fmt):
    v = best.get((width, backend))
    return fmt % v[i] if v else "-"


def ratio(width, i):
    c, j = best.get((width, "cc")), best.get((width, "jax"))
    return "%.2f" % (j[i] / c[i]) if c and j else "-"


print("JAX %s; %d rounds per row" % (jax_version, max(len(v) for v in runs.values())))
print()
print("| width | params | GFLOP/step | cc median us | cc min us | cc GFLOP/s | tcc median us | tcc min us"
      " | tcc GFLOP/s | JAX median us | JAX min us | JAX GFLOP/s | JAX / cc (median) | JAX / cc (min) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for w in widths:
    params, flops = info[w]
    line = ["%d" % w, "{:,}".format(params), "%.3f" % (flops / 1e9)]
    for b, _, _ in BACKENDS:
        line += [cell(w, b, 0, "%.0f"), cell(w, b, 1, "%.0f"), cell(w, b, 2, "%.1f")]
    line += [ratio(w, 0), ratio(w, 1)]
    print("| " + " | ".join(line) + " |")

if len(sys.argv) < 3 or not sys.argv[2] or not widths:
    sys.exit(0)

# The plot: two panels, x = log2(width).
W, H, PW, PH, TOP, LEFT, GAP = 960, 420, 380, 300, 50, 70, 100
out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
       'font-family="sans-serif" font-size="12">' % (W, H, W, H),
       '<rect width="100%" height="100%" fill="white"/>',
       '<text x="%d" y="22" font-size="15" text-anchor="middle">Training step of an MLP 784 -&gt; W -&gt; W -&gt; 10, '
       'batch 128, float32, one core</text>' % (W // 2)]
xlo, xhi = math.log2(widths[0]) - 0.3, math.log2(widths[-1]) + 0.3


def panel(x0, title, ylabel, value, log):
    vals = [value(v) for k, v in best.items() if k[0] in info] + [value(at_min(v)) for v in best.values()]
    if log:
        lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
        ticks = [10.0 ** e * m for e in range(lo, hi + 1) for m in (1, 2, 5) if lo <= e + math.log10(m) <= hi]
        fy = lambda v: TOP + PH - (math.log10(v) - lo) / (hi - lo or 1) * PH
    else:
        step = 10 ** math.floor(math.log10(max(vals))) / 2
        hi = math.ceil(max(vals) * 1.05 / step) * step
        ticks = [i * step for i in range(int(round(hi / step)) + 1)]
        fy = lambda v: TOP + PH - v / hi * PH
    fx = lambda w: x0 + (math.log2(w) - xlo) / (xhi - xlo) * PW
    out.append('<text x="%d" y="%d" font-size="13" text-anchor="middle">%s</text>' % (x0 + PW // 2, TOP - 10, title))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (x0, TOP, PW, PH))
    for t in ticks:
        y = fy(t)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (x0, y, x0 + PW, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (x0 - 5, y + 4, ("%g" % t)))
    for w in widths:
        x = fx(w)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, TOP, x, TOP + PH))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (x, TOP + PH + 16, w))
    out.append('<text x="%d" y="%d" text-anchor="middle">width W (log scale)</text>' % (x0 + PW // 2, TOP + PH + 34))
    out.append('<text transform="translate(%d %d) rotate(-90)" text-anchor="middle">%s</text>'
               % (x0 - 48, TOP + PH // 2, ylabel))
    for b, _, color in BACKENDS:
        pts = [(fx(w), fy(value(best[(w, b)]))) for w in widths if (w, b) in best]
        if not pts:
            continue
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (color, " ".join("%.1f,%.1f" % p for p in pts)))
        out.extend('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, color) for x, y in pts)
        lows = [(fx(w), fy(value(at_min(best[(w, b)])))) for w in widths if (w, b) in best]
        out.append('<polyline fill="none" stroke="%s" stroke-width="1" stroke-dasharray="4 3" points="%s"/>'
                   % (color, " ".join("%.1f,%.1f" % p for p in lows)))
        out.extend('<circle cx="%.1f" cy="%.1f" r="3" fill="white" stroke="%s"/>' % (x, y, color) for x, y in lows)


def at_min(v):
    """The (time, time, GFLOP/s) of a row's minimum instead of its median."""
    med, mn, g = v
    return mn, mn, g * med / mn


panel(LEFT, "step time (ms, log scale)", "ms per step", lambda v: v[0] / 1e3, True)
panel(LEFT + PW + GAP, "GFLOP/s (3 x forward products / step time)", "GFLOP/s", lambda v: v[2], False)
ly = TOP + PH + 52
for i, (b, label, color) in enumerate(BACKENDS):
    x = LEFT + 10 + i * 150
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>' % (x, ly, x + 24, ly, color))
    out.append('<text x="%d" y="%d">%s</text>' % (x + 30, ly + 4, label))
out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444" stroke-dasharray="4 3"/>'
           '<circle cx="%d" cy="%d" r="3" fill="white" stroke="#444"/><text x="%d" y="%d">solid: medians; dashed, open dots: minimums</text>'
           % (LEFT + 470, ly, LEFT + 494, ly, LEFT + 482, ly, LEFT + 500, ly + 4))
out.append("</svg>")
with open(sys.argv[2], "w") as f:
    f.write("\n".join(out) + "\n")
