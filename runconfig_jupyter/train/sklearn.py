"""``azureml.train.sklearn``: ``from runconfig_jupyter.train.sklearn import SKLearn``."""

from runconfig_jupyter.core.config.estimators import SKLearn

__all__ = ["SKLearn"]
