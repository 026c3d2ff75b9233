"""A script every distributed test runs: each rank says it started, one chosen rank fails, the rest wait.

Rank from RANK (PyTorch-style launch) or OMPI_COMM_WORLD_RANK (MPI, set by us or by mpirun); argv[1] is the
rank that exits with code 3 (-1: none). The others sleep long enough that only a cancel or the failure ends them.
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
