"""v1-style launch scripts (source text the tests write into a project folder).

``PER_NODE_TRAIN`` is what Azure ML's distributed PyTorch docs pair with the per-node launch:
``torch.distributed.launch`` starts the processes of one node, the script reads LOCAL_RANK
(``--use_env``) and joins the group through ``env://``.
"""

from __future__ import annotations

ECHO_ARGS = r"""
import json, os, sys
from runconfig_jupyter import Run
print("ARGV " + json.dumps(sys.argv[1:]), flush=True)
print("PWNED " + json.dumps(sorted(p for p in os.listdir(".") if p.startswith("pwned"))), flush=True)
Run.get_context().log("task_index", int(os.environ["AZ_BATCHAI_TASK_INDEX"]))
"""

PER_NODE_TRAIN = r"""
import argparse, os
import torch
import torch.distributed as dist
from runconfig_jupyter import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--node-index", type=int, required=True)
args = parser.parse_args()
dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
local_rank = int(os.environ["LOCAL_RANK"])
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
# one write per line: two processes of a node share one output pipe
os.write(1, f"rank {rank}/{world} node {args.node_index} local {local_rank} sum {value.item():.0f}\n".encode())
if rank == 0:
    run = Run.get_context()
    run.log("world_size", world)
    run.log("rank_sum", value.item())
dist.barrier()
dist.destroy_process_group()
"""

# Azure ML's documented per-node launch, given as a list (``.split()`` of the line), as in its docs.
PER_NODE_LINE = (
    "python -m torch.distributed.launch --nproc_per_node 2 --nnodes 2 --node_rank $NODE_RANK "
    "--master_addr $MASTER_ADDR --master_port $MASTER_PORT --use_env "
    "train.py --epochs 1 --node-index $AZ_BATCHAI_TASK_INDEX"
)
PER_NODE_COMMAND = PER_NODE_LINE.split()
