"""The local target: the script as a process of this machine (the default that needs nothing)."""
