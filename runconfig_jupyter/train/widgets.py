"""``azureml.train.widgets``: where the first v1 releases kept ``RunDetails`` (later ``azureml.widgets``)."""

from runconfig_jupyter.widgets.run_details import RunDetails

__all__ = ["RunDetails"]
