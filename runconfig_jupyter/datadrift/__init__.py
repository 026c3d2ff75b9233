"""``azureml.datadrift``: data drift monitors are an Azure ML service; importing it says what to use instead."""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "Data drift monitoring (azureml.datadrift)",
    "Compare the baseline and target datasets' to_pandas_dataframe() column statistics in a run of your own "
    "and log them with run.log / run.log_table.",
)
