"""``azureml.contrib.train.rl``: ``ReinforcementLearningEstimator`` and ``Ray()`` provisioned a Ray cluster on Azure
ML compute (head and worker runs) for an RLlib script. The script itself needs no Azure: it calls ``ray.init()`` and
``tune.run()``, so it runs as an ordinary run; importing this module says so instead of a ModuleNotFoundError that
reads like a broken install."""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "Reinforcement learning estimators (azureml.contrib.train.rl: ReinforcementLearningEstimator, Ray, "
    "WorkerConfiguration)",
    "Submit the RLlib training script as an ordinary run, ScriptRunConfig(source_directory, script='training.py', "
    "arguments=[...]) with ray[rllib] in its environment, where its ray.init() starts Ray on the target it runs on "
    "and Run.get_context().log records the episode rewards.",
)
