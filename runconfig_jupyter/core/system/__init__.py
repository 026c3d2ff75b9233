"""Operating-system plumbing shared by core.

The run home, atomic files, process identity, file events, detached processes.
"""
