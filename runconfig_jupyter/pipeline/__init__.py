"""``azureml.pipeline``: importable, but pipelines run on Azure ML only (see pipeline/core.py)."""
