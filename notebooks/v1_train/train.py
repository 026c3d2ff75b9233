"""A training script as written for Azure ML SDK v1 (only the import differs): ridge regression on one feature.

Standard library only, so it runs on any target without installing packages.
"""

import argparse
import os
import pickle
import random

from runconfig_jupyter import Run  # was: from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=0.5)
parser.add_argument("--samples", type=int, default=200)
args = parser.parse_args()

run = Run.get_context()
rng = random.Random(42)
xs = [rng.uniform(-1, 1) for _ in range(args.samples)]
ys = [3.0 * x + 0.5 + rng.gauss(0, 0.1) for x in xs]
split = int(0.8 * len(xs))

# Closed-form ridge on one centred feature.
mean_x = sum(xs[:split]) / split
mean_y = sum(ys[:split]) / split
sxx = sum((x - mean_x) ** 2 for x in xs[:split])
sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs[:split], ys[:split], strict=True))
slope = sxy / (sxx + args.alpha)
intercept = mean_y - slope * mean_x
mse = sum((slope * x + intercept - y) ** 2 for x, y in zip(xs[split:], ys[split:], strict=True)) / (len(xs) - split)

run.log("alpha", args.alpha)
run.log("mse", mse)
run.tag("model", "ridge")
print(f"alpha={args.alpha} slope={slope:.3f} mse={mse:.4f}")

os.makedirs("outputs", exist_ok=True)
with open(os.path.join("outputs", "model.pkl"), "wb") as out:
    pickle.dump({"slope": slope, "intercept": intercept}, out)
