"""The docker target: runs in containers of the local Docker engine (CPU and GPU)."""
