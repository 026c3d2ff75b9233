"""A run from submit to its end.

The store (index), the run folder, the driver and standby, ScriptRun, and the in-script API.
"""
