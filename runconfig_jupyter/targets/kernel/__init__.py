"""The kernel target: runs on a remote Jupyter Server or Kernel Gateway through a kernel."""
