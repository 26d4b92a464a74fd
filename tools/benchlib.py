"""What the benchmark scripts share (tools/bench_*.py): the repository root, the common options,
running `kbert ... --json` or a PyTorch/onnxruntime snippet in a child process and reading the JSON
of its last line, and the ratio-8 / ratio-21 shapes of scripts/kd_full.sh."""
import argparse, json, os, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# `kbert compress` options of the distillation runs' students (scripts/kd_full.sh).
KD_SHAPES = {"r8": ["--attention", "192x192", "--ffn", "8x4", "--embedding", "8"],
             "r21": ["--attention", "192x24", "--ffn", "16x2", "--embedding", "32"]}


def parser(doc, iters):
    """An ArgumentParser with the options every benchmark takes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kbert", default=str(ROOT / ".build/release/kbert"))
    ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    ap.add_argument("--base-config", default=str(ROOT / "configs/bert-base-uncased.json"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--iters", type=int, default=iters)
    return ap


def model_flag(kind, path):
    """`--model DIR` for a folder, `--config FILE` for random weights of a config."""
    return ["--model", str(path)] if kind == "folder" else ["--config", str(path)]


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def kbert_json(kbert, *args):
    """Runs `kbert ARGS` and returns the JSON object it prints last (`--json` output)."""
    out = subprocess.run([str(kbert), *map(str, args)], capture_output=True, text=True, check=True)
    return last_json(out.stdout)


def python_json(script, threads, *args):
    """Runs a Python snippet in a child process with THREADS threads (OMP/MKL) and returns the JSON
    object it prints last."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=True, env=env)
    return last_json(out.stdout)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
