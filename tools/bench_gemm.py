"""GEMM GFLOP/s at BERT shapes: kbert (Debian OpenBLAS via cblas_sgemm) vs numpy (its bundled OpenBLAS),
measured in the same run, same shapes, same thread count. C[M,N] = A[M,K] · B[N,K]ᵀ (a linear layer).

    python3 tools/bench_gemm.py --kbert .build/release/kbert [--threads 1 2] [--iters 10]
"""
import argparse, json, os, subprocess, sys, textwrap

ap = argparse.ArgumentParser()
ap.add_argument("--kbert", default=".build/release/kbert")
ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
ap.add_argument("--iters", type=int, default=10)
ap.add_argument("--ms", type=int, nargs="+", default=[512, 2048, 4096])
ap.add_argument("--json-out")
args = ap.parse_args()
SHAPES = [(768, 768), (768, 3072), (3072, 768), (384, 384), (384, 1536), (1536, 384)]  # K x N (in x out)

NUMPY = textwrap.dedent("""
    import json, sys, time, numpy as np
    m, n, k, iters = map(int, sys.argv[1:5])
    a = (np.arange(m * k, dtype=np.float32) % 13 * 0.01 - 0.06).reshape(m, k)
    b = (np.arange(n * k, dtype=np.float32) % 7 * 0.02 - 0.06).reshape(n, k)
    c = np.empty((m, n), dtype=np.float32)
    for _ in range(2): np.matmul(a, b.T, out=c)
    ts = []
    for _ in range(iters):
        t = time.perf_counter(); np.matmul(a, b.T, out=c); ts.append(time.perf_counter() - t)
    ts.sort(); med = ts[len(ts) // 2] if len(ts) % 2 else (ts[len(ts)//2 - 1] + ts[len(ts)//2]) / 2
    print(json.dumps({"median_ms": med * 1e3, "gflops": 2 * m * n * k / med / 1e9}))
""")

def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])

rows = []
for t in args.threads:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
    for m in args.ms:
        for k, n in SHAPES:
            # Alternate the two a few times and keep each one's best median (the machine is shared).
            ours, ref = [], []
            for _ in range(3):
                ours.append(run([args.kbert, "bench", "--mode", "gemm", "--m", str(m), "--n", str(n), "--k", str(k),
                                 "--threads", str(t), "--iters", str(args.iters), "--json"], env)["gflops"])
                ref.append(run([sys.executable, "-c", NUMPY, str(m), str(n), str(k), str(args.iters)], env)["gflops"])
            o, r = max(ours), max(ref)
            rows.append(dict(threads=t, m=m, k=k, n=n, kbert_gflops=o, numpy_gflops=r, ratio=o / r))
            print(f"threads={t} M={m:5d} K×N={k}×{n}: kbert {o:6.1f} GFLOP/s, numpy {r:6.1f} GFLOP/s, ratio {o/r:.3f}", file=sys.stderr)

print("| threads | M | K×N | kbert GFLOP/s | numpy GFLOP/s | kbert / numpy |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['threads']} | {r['m']} | {r['k']}×{r['n']} | {r['kbert_gflops']:.1f} | {r['numpy_gflops']:.1f} | {r['ratio']:.3f} |")
print(f"\nworst ratio: {min(r['ratio'] for r in rows):.3f}")
if args.json_out:
    json.dump(rows, open(args.json_out, "w"), indent=1)
