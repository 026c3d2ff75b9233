"""``azureml.train.dnn``: the deprecated framework estimators and their distribution settings."""

from runconfig_jupyter.core.config.estimators import Chainer, Gloo, Mpi, Nccl, ParameterServer, PyTorch, TensorFlow

__all__ = ["Chainer", "Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]
