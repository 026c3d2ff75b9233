"""Training script of notebooks/data.ipynb: fits y = a*x + b on a tabular input, counts a file input's files."""

import argparse
import os

from runconfig_jupyter.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--points", help="placeholder of the tabular input (read through run.input_datasets)")
parser.add_argument("--files", help="folder of the downloaded file input")
parser.add_argument("--model", default=None, help="folder to write the model to (uploaded at the end)")
args = parser.parse_args()

run = Run.get_context()
points = run.input_datasets["points"].to_pandas_dataframe()
mean_x, mean_y = points.x.mean(), points.y.mean()
slope = ((points.x - mean_x) * (points.y - mean_y)).sum() / ((points.x - mean_x) ** 2).sum()
intercept = mean_y - slope * mean_x
run.log("rows", len(points))
run.log("slope", float(slope))
run.log("intercept", float(intercept))
file_count = sum(len(names) for _folder, _dirs, names in os.walk(args.files))
run.log("files", file_count)
print(f"fitted y = {slope:.2f} x + {intercept:.2f} on {len(points)} rows; {file_count} files in {args.files}")
for folder in filter(None, [args.model, "outputs"]):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.txt"), "w") as out:
        out.write(f"{slope} {intercept}\n")
