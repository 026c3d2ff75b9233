"""The names of the distributed frameworks and the world-size guard.

Shared by core/runs/distributed.py (which run is distributed, the variables of each process) and
core/runs/rank_layout.py (the ranks), which imports nothing back from it.
"""

from __future__ import annotations

PYTORCH = "pytorch"
MPI = "mpi"
TENSORFLOW = "tensorflow"
# A guard against typos like process_count=1000 on a laptop; raise it in the plan if you mean it.
MAX_WORLD_SIZE = 256
