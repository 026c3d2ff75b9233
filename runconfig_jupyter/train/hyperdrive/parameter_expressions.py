"""``azureml.train.hyperdrive.parameter_expressions``: the names v1 kept here (see the package docstring)."""

from runconfig_jupyter.train.hyperdrive import (
    choice,
    lognormal,
    loguniform,
    normal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)

__all__ = ["choice", "lognormal", "loguniform", "normal", "qloguniform", "qnormal", "quniform", "randint", "uniform"]
