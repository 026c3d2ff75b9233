"""``azureml.contrib.train``: importable, as in v1; its ``rl`` module (reinforcement learning) says what to use."""
