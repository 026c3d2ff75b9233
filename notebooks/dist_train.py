"""Data-parallel training with torch.distributed (DDP), the way Azure ML v1 ran it.

Every process reads its place in the job from the environment the target sets
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK), so the same
script runs as 2 local processes, 2 x 2 simulated nodes, or ranks on a Ray
cluster. Each rank trains on its own shard of the data; DDP averages the
gradients, so every rank ends with the same model. Rank 0 logs metrics and
writes the model to ./outputs (the target brings rank 0's outputs back).

Runs on CPUs with the gloo backend; pass --backend nccl on GPUs.
"""

import argparse
import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from runconfig_jupyter import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--lr", type=float, default=0.5)
parser.add_argument("--backend", default="gloo")
args = parser.parse_args()

dist.init_process_group(args.backend)  # init_method env:// reads the variables above
rank, world = dist.get_rank(), dist.get_world_size()
run = Run.get_context()
print(
    f"rank {rank} of {world}: node {os.environ.get('NODE_RANK')}, local rank {os.environ.get('LOCAL_RANK')}, "
    f"master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
    flush=True,
)

# y = 3x + 1 with noise; each rank takes every world-th point.
generator = torch.Generator().manual_seed(0)
x = torch.linspace(0, 1, 256).unsqueeze(1)
y = 3 * x + 1 + 0.05 * torch.randn(x.shape, generator=generator)
x, y = x[rank::world], y[rank::world]

torch.manual_seed(0)
model = DistributedDataParallel(torch.nn.Linear(1, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
for epoch in range(args.epochs):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()  # gradients are all-reduced across the ranks here
    optimizer.step()
    total = loss.detach().clone()
    dist.all_reduce(total)
    if rank == 0:
        run.log("loss", total.item() / world, step=epoch)

weight, bias = model.module.weight.item(), model.module.bias.item()
print(f"rank {rank} finished: weight {weight:.3f} bias {bias:.3f}", flush=True)
if rank == 0:
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.json", "w") as out:
        json.dump({"weight": weight, "bias": bias, "world_size": world}, out)
    run.log("world_size", world)
dist.destroy_process_group()
