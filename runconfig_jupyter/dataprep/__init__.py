"""``azureml.dataprep`` (the Data Prep SDK): needs Azure ML's data engine; importing it says what to use instead.

The import fails with ``NotSupportedLocally`` (not ImportError), so a ported data preparation notebook stops at
its first line with the sentence below rather than at a missing name further down.
"""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "The Data Prep SDK (azureml.dataprep)",
    "Read the files with pandas (Dataset.Tabular.from_delimited_files(...).to_pandas_dataframe(), or "
    "pandas.read_csv on a file dataset's to_path()) and prepare the data frame with pandas.",
)
