"""``azureml.train``: the deprecated estimators (estimator, dnn) and HyperDrive (Azure only)."""
