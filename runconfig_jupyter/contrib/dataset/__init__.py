"""``azureml.contrib.dataset``: labeled datasets come from Azure ML data labeling projects; importing it says what
to use instead."""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "The labeled datasets module (azureml.contrib.dataset)",
    "Export the labels with the images to a datastore and read them with Dataset.File.from_files (images) and "
    "Dataset.Tabular.from_delimited_files or from_json_lines_files (labels).",
)
