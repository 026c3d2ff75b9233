"""``azureml.contrib.notebook``: ``NotebookRunConfig`` ran a notebook with papermill as the run's script and logged
its scrapbook ``glue`` values. A notebook runs here as the command of an ordinary run, so importing this says so."""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "Notebook runs (azureml.contrib.notebook: NotebookRunConfig, AzureMLNotebookHandler)",
    "Run the notebook as a run's command: ScriptRunConfig(source_directory, command='jupyter nbconvert --to notebook "
    "--execute NOTEBOOK.ipynb --output-dir outputs'); in it, Run.get_context().log(name, value) takes the place of "
    "scrapbook's glue, and the executed notebook is among the run's outputs.",
)
