"""A small training script for the quickstart: fits y = 3x + 1 by gradient descent.

It uses only the standard library, logs metrics with the Azure ML v1 in-script
API and writes its model to ./outputs, which every target brings back.
"""

import argparse
import json
import os
import random
import time

from runconfig_jupyter import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--delay", type=float, default=0.05, help="seconds per epoch, to watch it live")
args = parser.parse_args()

run = Run.get_context()
random.seed(0)
points = [(x / 50, 3 * (x / 50) + 1 + random.gauss(0, 0.05)) for x in range(50)]
weight, bias = 0.0, 0.0
for epoch in range(args.epochs):
    grad_w = sum(2 * (weight * x + bias - y) * x for x, y in points) / len(points)
    grad_b = sum(2 * (weight * x + bias - y) for x, y in points) / len(points)
    weight -= args.lr * grad_w
    bias -= args.lr * grad_b
    loss = sum((weight * x + bias - y) ** 2 for x, y in points) / len(points)
    run.log("loss", loss)
    print(f"epoch {epoch:3d}  loss {loss:.4f}  w {weight:.3f}  b {bias:.3f}", flush=True)
    time.sleep(args.delay)

run.log_row("final", weight=weight, bias=bias)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as out:
    json.dump({"weight": weight, "bias": bias, "epochs": args.epochs}, out)
print("saved outputs/model.json")
