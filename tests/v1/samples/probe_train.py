# A v1-style training script (logging-api / train-on-local call patterns), ported by imports only.
import argparse
import os

from runconfig_jupyter.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()

run = Run.get_context()
run.log("lr", args.lr, description="learning rate")
for i in range(3):
    run.log(name="loss", value=1.0 / (i + 1))
run.log_list("accuracies", [0.1, 0.2, 0.3])
run.log_row("per epoch", epoch=1, acc=0.5)
run.log_table("curve", {"x": [1, 2], "y": [3, 4]})
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as model:
    model.write(f"lr={args.lr}")
run.upload_file(name="outputs/source.py", path_or_stream=__file__)
try:
    run.input_datasets["training_data"]
except KeyError as error:  # no input of that name was given to this run, as on Azure
    print("datasets:", type(error).__name__)
print("details", run.get_details()["runId"] == run.id, run.get_details()["status"])
print("trained with", args.lr)
