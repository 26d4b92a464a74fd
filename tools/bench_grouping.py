"""Training throughput with plain shuffled batches against batches grouped by length
(`--group-by-length`), same run, same binary: `kbert finetune` for --steps optimizer steps from
all-MiniLM-L6-v2 on each task (batch 32, max length 128), the two settings alternated for
--rounds rounds; examples per second from the run's log.jsonl (the last step's running rate,
so start-up and the final dev evaluation are not counted). Reports the median per setting and
the ratio.

    python3 tools/bench_grouping.py [--tasks stsb cola sst2 mrpc rte] [--threads 1 2] [--steps 15] [--rounds 3]
"""
import json, pathlib, shutil, statistics, subprocess, sys, tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib

ap = benchlib.parser(__doc__, 0)
ap.add_argument("--tasks", nargs="+", default=["stsb", "cola", "sst2", "mrpc", "rte"])
ap.add_argument("--steps", type=int, default=15)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--group", type=int, default=50)
args = ap.parse_args()


def rate(task, group, threads, tmp):
    out = pathlib.Path(tmp) / f"{task}-{group}"
    subprocess.run([args.kbert, "finetune", "--model", args.model, "--task", task, "--out", str(out), "--epochs", "1",
                    "--max-steps", str(args.steps), "--batch-size", "32", "--max-length", "128", "--threads", str(threads),
                    "--save-every", "0", "--group-by-length", str(group)],
                   check=True, capture_output=True, text=True)
    last = json.loads((out / "log.jsonl").read_text().strip().splitlines()[-1])
    shutil.rmtree(out)
    return last["examples_per_s"]


print(f"| task | threads | plain ex/s | grouped ({args.group}) ex/s | speed-up |\n|---|---|---|---|---|")
with tempfile.TemporaryDirectory() as tmp:
    for t in args.tasks:
        for th in args.threads:
            plain, grouped = [], []
            for _ in range(args.rounds):
                plain.append(rate(t, 0, th, tmp))
                grouped.append(rate(t, args.group, th, tmp))
            p, g = statistics.median(plain), statistics.median(grouped)
            print(f"| {t} | {th} | {p:.1f} | {g:.1f} | {g / p:.2f}x |", flush=True)
