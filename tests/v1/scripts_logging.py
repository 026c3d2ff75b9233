"""v1-style training scripts, written from Azure ML v1's documented Run API (the logging-api sample's calls).

Kept as source text: the tests write them into a project folder and run them on real targets.
"""

from __future__ import annotations

# A PNG of one red pixel, written by the script itself so the docker image needs no imaging library.
LOGGING_API_SCRIPT = r"""
import base64, io, json, os, sys, warnings
from runconfig_jupyter import Run

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
run = Run.get_context()
run.log("alpha", 0.1, description="a scalar")
for i in range(3):
    run.log("loss", 1.0 / (i + 1))
run.log_list("fibonacci", [0, 1, 1, 2, 3, 5, 8])
run.log_row("Y over X", x=1, y=0.4)
run.log_row("Y over X", x=2, y=0.3)
run.log_table("Y over X table", {"x": [1, 2, 3], "y": [0.6, 0.7, 0.89]})
run.log_confusion_matrix("cm", {
    "schema_type": "confusion_matrix", "schema_version": "1.0.0",
    "data": {"class_labels": ["cat", "dog"], "matrix": [[3, 1], [0, 4]]},
})
run.log_residuals("residuals", json.dumps({
    "schema_type": "residuals", "schema_version": "1.0.0",
    "data": {"bin_edges": [50, 100, 200, 300, 350], "bin_counts": [0.88, 20, 30, 50.99]},
}))
run.log_predictions("predictions", {
    "schema_type": "predictions", "schema_version": "1.0.0",
    "data": {"bin_averages": [0.25, 0.75], "bin_errors": [0.013, 0.042], "bin_counts": [56, 34],
             "bin_edges": [0.0, 0.5, 1.0]},
})
run.log_accuracy_table("accuracy", {
    "schema_type": "accuracy_table", "schema_version": "1.0.1",
    "data": {"probability_tables": [[[82, 118, 0, 0], [78, 59, 59, 4]]], "percentile_tables": [[[82, 118, 0, 0]]],
             "probability_thresholds": [0.0, 0.5], "percentile_thresholds": [0.0], "class_labels": ["0", "1"]},
})
with open("pixel.png", "wb") as f:
    f.write(PNG)
run.log_image("pixel", path="pixel.png", description="one red pixel")
if os.environ.get("WITH_PLOT"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3], [3, 1, 2])
    run.log_image("curve", plot=plt)
    figure, axes = plt.subplots()
    axes.bar(["a", "b"], [1, 2])
    run.log_image("bars", plot=figure, description="a bar chart")

os.makedirs("extra/sub", exist_ok=True)
with open("extra/notes.txt", "w") as f:
    f.write("notes\n")
with open("extra/sub/deep.txt", "w") as f:
    f.write("deep\n")
run.upload_file(name="outputs/uploaded.txt", path_or_stream="extra/notes.txt")
run.upload_file("stream.bin", io.BytesIO(b"\x00\x01binary"))
run.upload_folder(name="folder", path="extra")

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert run.get_portal_url() is None
    assert run.get_portal_url() is None
    run.submit_child(None)
print("warnings:", len(caught), caught[0].message if caught else "")
try:
    run.lgo("x", 1)
except AttributeError as error:
    print("typo:", error)
print("done")
"""
