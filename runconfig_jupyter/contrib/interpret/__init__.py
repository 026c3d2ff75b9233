"""``azureml.contrib.interpret``: model explanations uploaded to Azure ML; importing it says what to use instead (the
sentence is shared by every interpretability module: core/azure_only.py ``INTERPRET``)."""

from runconfig_jupyter.core.azure_only import INTERPRET
from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(*INTERPRET)
