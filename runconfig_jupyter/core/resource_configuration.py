"""``azureml.core.resource_configuration``: ``ResourceConfiguration(cpu=, memory_in_gb=, gpu=)``.

v1 attached it to a registered model so Azure's no-code deployment knew what to give the web service. Deployment
is yours to run locally; the values are kept with the model (``model.resource_configuration``) so that the
registration cell of the sklearn/TensorFlow training samples works and what it said is not lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ResourceConfiguration:
    """The resources a model's service asks for; no local effect."""

    cpu: float | None = None
    memory_in_gb: float | None = None
    gpu: int | None = None

    def serialize(self) -> dict[str, Any]:
        """Azure's keys, as ``Model.serialize()`` shows them."""
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    @staticmethod
    def deserialize(payload: dict[str, Any] | None) -> ResourceConfiguration | None:
        if not payload:
            return None
        return ResourceConfiguration(payload.get("cpu"), payload.get("memoryInGB"), payload.get("gpu"))


__all__ = ["ResourceConfiguration"]
