"""Built-in compute targets, one folder each; core finds them through the ``runconfig_jupyter.targets`` entry points."""
