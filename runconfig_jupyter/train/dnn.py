"""``azureml.train.dnn``: the deprecated framework estimators and their distribution settings."""

from runconfig_jupyter.core.config.estimators import Gloo, Mpi, Nccl, ParameterServer, PyTorch, TensorFlow

__all__ = ["Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]
