"""``azureml.train.estimator``: ``from runconfig_jupyter.train.estimator import Estimator``."""

from runconfig_jupyter.core.config.estimators import Estimator

__all__ = ["Estimator"]
