"""``azureml.train.automl.run``: importing it imports the package, which says automated ML needs Azure."""
