"""Example runconfig-jupyter target plug-in (see docs/ADDING_A_TARGET.md)."""
