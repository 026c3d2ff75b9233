"""``azureml.contrib``: only the names ported code meets are here; each says whether it is available locally."""
