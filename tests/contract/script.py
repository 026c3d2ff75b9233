"""The one training script every contract check submits (written into each test's source directory).

Standard library plus the in-script API only, so it runs unchanged where runconfig_jupyter is not installed
(a container, a remote kernel, a Ray worker: the targets ship the shim).
"""

CONTRACT_SCRIPT = r"""
import argparse, os, subprocess, sys, time
from runconfig_jupyter import Run

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, default=3)
parser.add_argument("--pause", type=float, default=0.0)
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--hold", action="store_true", help="start a child process, then sleep until stopped")
args = parser.parse_args()
run = Run.get_context()

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) if args.hold else None
print(f"pids {os.getpid()} {child.pid if child else 0}", flush=True)
if args.hold:
    print("holding", flush=True)
    time.sleep(600)
for n in range(args.lines):
    stream, label = (sys.stderr, "err") if n % 2 else (sys.stdout, "out")
    print(f"line {n} {label}", file=stream, flush=True)
    run.log("loss", 1.0 / (n + 1))
    time.sleep(args.pause)
run.log_list("accuracies", [0.5, 0.75])
run.log_row("table", x=1, y=2)
run.log("greeting", os.environ.get("GREETING", "(unset)"))
os.makedirs("outputs/nested/deep", exist_ok=True)
with open("outputs/model.txt", "w") as out:
    out.write(f"{args.lines} lines\n")
with open("outputs/nested/deep/weights.bin", "wb") as out:
    out.write(bytes(range(256)) * 64)
print("last line", flush=True)
sys.exit(args.exit)
"""
