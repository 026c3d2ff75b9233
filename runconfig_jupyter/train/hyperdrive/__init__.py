"""``azureml.train.hyperdrive``: importable, but HyperDrive is an Azure service.

Every class raises ``NotSupportedLocally`` when created, and every parameter expression when
called, with the local way to sweep parameters. v1's submodules (``.runconfig``, ``.sampling``, ``.policy``,
``.parameter_expressions``, ``.run``) hold the same names, so ``from azureml.train.hyperdrive.runconfig import
HyperDriveConfig`` ports as well.
"""

from __future__ import annotations

from enum import Enum

from runconfig_jupyter.core.azure_only import declare_azure_only

SWEEP = (
    "Sweep locally: loop over the parameter values, submit one ScriptRunConfig per value (e.g. as child runs with "
    "run.submit_child(config)), then compare their run.get_metrics()."
)


class PrimaryMetricGoal(str, Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


__all__ = [
    "PrimaryMetricGoal",
    *declare_azure_only(
        globals(),
        "HyperDrive",
        SWEEP,
        (
            "HyperDriveConfig",
            "HyperDriveRunConfig",
            "HyperDriveRun",
            "RandomParameterSampling",
            "GridParameterSampling",
            "BayesianParameterSampling",
            "BanditPolicy",
            "MedianStoppingPolicy",
            "TruncationSelectionPolicy",
            "NoTerminationPolicy",
        ),
        ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal"),
    ),
]
