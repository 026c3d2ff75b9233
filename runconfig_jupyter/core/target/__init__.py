"""The target interface core owns: what every compute target implements and what a run records of it."""

from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetInfo, TargetRunContext

__all__ = ["Capabilities", "ComputeTarget", "Outcome", "TargetInfo", "TargetRunContext"]
