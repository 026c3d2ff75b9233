"""``Model.Framework``: standard library only, so the in-script stand-in package (core/runs/shim.py) ships it
and a script in a container can name ``Model.Framework.SCIKITLEARN`` for ``run.register_model``."""

from __future__ import annotations


class Framework:
    """v1's ``Model.Framework`` constants: what ``model_framework=`` records (and ``Model(ws, name,
    model_framework=...)`` filters on), so ``register_model(..., model_framework=Model.Framework.PYTORCH)``
    ports unchanged. Azure used them to pick a deployment image; here they are only a label on the model."""

    CUSTOM = "Custom"
    MULTI = "Multi"
    ONNX = "Onnx"
    PYTORCH = "PyTorch"
    SCIKITLEARN = "ScikitLearn"
    TENSORFLOW = "TensorFlow"
    TFKERAS = "TfKeras"


__all__ = ["Framework"]
