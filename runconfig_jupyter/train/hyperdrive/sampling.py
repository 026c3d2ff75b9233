"""``azureml.train.hyperdrive.sampling``: the names v1 kept here (see the package docstring)."""

from runconfig_jupyter.train.hyperdrive import BayesianParameterSampling, GridParameterSampling, RandomParameterSampling

__all__ = ["BayesianParameterSampling", "GridParameterSampling", "RandomParameterSampling"]
