#!/usr/bin/python3
"""Plots goodput against loss rate from the CSV files of goodput.py: one line per series
(the CSV's label), the median of the rounds with their range as error bars, on a log scale.

    ./plot.py -o goodput.png goodput.csv [alone.csv ...]

Needs matplotlib: `apt install python3-matplotlib` (Debian and Ubuntu) puts it where this
file's first line looks, the system's /usr/bin/python3.
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402


def series(paths):
    """{label: {loss: [MiB/s, ...]}} from goodput.py's CSV files."""
    found = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                found[row["label"]][float(row["loss"])].append(float(row["mib_per_s"]))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default="goodput.png", help="the PNG to write")
    parser.add_argument("--title", default="tunws /echo: goodput against packet loss")
    parser.add_argument("csv", nargs="+", help="goodput.py --csv files")
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for label, by_loss in series(args.csv).items():
        losses = sorted(by_loss)
        medians = [statistics.median(by_loss[p]) for p in losses]
        low = [m - min(by_loss[p]) for p, m in zip(losses, medians)]
        high = [max(by_loss[p]) - m for p, m in zip(losses, medians)]
        ax.errorbar(losses, medians, yerr=[low, high], marker="o", capsize=3, label=label)
        for p, m in zip(losses, medians):
            print(f"{label}: {p:g} % loss -> {m:.2f} MiB/s (median of {len(by_loss[p])})")
    ax.set_yscale("log")
    ax.set_xlabel("packet loss, each direction (%)")
    ax.set_ylabel("goodput (MiB/s, log scale)")
    ax.set_title(args.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
