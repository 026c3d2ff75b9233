"""``azureml.train.automl`` (``AutoMLConfig``, ``.run.AutoMLRun``): automated ML is a service of Azure ML.

The import fails with ``NotSupportedLocally`` (not ImportError), so a ported AutoML tutorial stops at that line
with what to do instead; submodules (``azureml.train.automl.run``) import this package first and say the same.
"""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "Automated ML (azureml.train.automl)",
    "Train each candidate model in a script of your own, submit one ScriptRunConfig per model or setting, and "
    "compare their run.get_metrics() (or run an AutoML library such as FLAML inside the script).",
)
