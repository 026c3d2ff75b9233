"""The scripts every distributed test runs, whatever the target.

RANKS_SCRIPT: each rank says it started, one chosen rank fails, the rest wait. Rank from RANK (PyTorch-style
launch) or OMPI_COMM_WORLD_RANK (MPI, set by us or by mpirun); argv[1] is the rank that exits with code 3
(-1: none). The others sleep long enough that only a cancel or the failure ends them.

DDP_SCRIPT: real torch.distributed (gloo, CPU) from the variables the target set (env://). Every rank
all-reduces rank + 1 and prints ``rank R/W node N local L sum S master M``; rank 0 logs the sum as the
metric ``sum`` and writes it to ``outputs/sum.txt``. The sum proves every rank joined one group.
"""

RANKS_SCRIPT = """
import os, sys, time
rank = int(os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "-1")))
fail_rank = int(sys.argv[1])
print("started", rank, os.getpid(), flush=True)
if rank == fail_rank:
    time.sleep(1.0)  # let the others start, so the test can see them stopped
    sys.exit(3)
time.sleep(120)
"""

DDP_SCRIPT = """
import os
import torch
import torch.distributed as dist
from runconfig_jupyter import Run

dist.init_process_group("gloo")  # env:// - MASTER_ADDR/PORT, RANK, WORLD_SIZE from the target
rank, world = dist.get_rank(), dist.get_world_size()
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
node, local, master = os.environ["NODE_RANK"], os.environ["LOCAL_RANK"], os.environ["MASTER_ADDR"]
print(f"rank {rank}/{world} node {node} local {local} sum {value.item():g} master {master}")
if rank == 0:
    Run.get_context().log("sum", value.item())
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/sum.txt", "w") as out:
        out.write(f"{value.item():g}\\n")
dist.destroy_process_group()
"""
