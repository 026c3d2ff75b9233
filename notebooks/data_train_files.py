"""Training script of notebooks/data.ipynb's Docker section: standard library only, so the bare image runs it.

Fits y = a*x + b on every CSV file of the mounted input folder and writes the model into the output folder
(uploaded to the datastore when the run ends); the mounted input is read-only, which it checks.
"""

import argparse
import csv
import os

from runconfig_jupyter import Run

parser = argparse.ArgumentParser()
parser.add_argument("--points", help="folder of CSV files with columns x, y (a read-only mount)")
parser.add_argument("--model", help="folder to write the model to (uploaded at the end)")
args = parser.parse_args()

rows = []
for name in sorted(os.listdir(args.points)):
    if name.endswith(".csv"):
        with open(os.path.join(args.points, name), newline="") as source:
            rows += [(float(row["x"]), float(row["y"])) for row in csv.DictReader(source)]
mean_x = sum(x for x, _ in rows) / len(rows)
mean_y = sum(y for _, y in rows) / len(rows)
slope = sum((x - mean_x) * (y - mean_y) for x, y in rows) / sum((x - mean_x) ** 2 for x, _ in rows)
intercept = mean_y - slope * mean_x
try:
    open(os.path.join(args.points, "scratch.txt"), "w").close()
    writable = "writable"
except OSError:
    writable = "read-only"
run = Run.get_context()
run.log("slope", slope)
run.log("intercept", intercept)
print(f"fitted y = {slope:.2f} x + {intercept:.2f} on {len(rows)} rows in {args.points} ({writable})")
os.makedirs(args.model, exist_ok=True)
with open(os.path.join(args.model, "model.txt"), "w") as out:
    out.write(f"{slope} {intercept}\n")
