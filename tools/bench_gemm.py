"""GEMM GFLOP/s at BERT shapes: kbert's packed-weight GEMM (kb_gemm.c, the weight packed once as in
inference) with classical packs (the default) and Strassen packs (`--strassen`; GFLOP/s counted as
2·M·N·K over the time, so above the core's FMA peak when the seven half-size products save enough), kbert's `sgemm` (Debian OpenBLAS via cblas_sgemm, `--no-pack`) and numpy (its
bundled OpenBLAS), measured in the same run, same shapes, same thread count.
C[M,N] = A[M,K] · B[N,K]ᵀ (a linear layer).

    python3 tools/bench_gemm.py --kbert .build/release/kbert [--threads 1 2] [--iters 10]
"""
import argparse, json, os, subprocess, sys, textwrap

ap = argparse.ArgumentParser()
ap.add_argument("--kbert", default=".build/release/kbert")
ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
ap.add_argument("--iters", type=int, default=10)
ap.add_argument("--ms", type=int, nargs="+", default=[128, 512, 4096])
ap.add_argument("--json-out")
args = ap.parse_args()
SHAPES = [(768, 768), (768, 2304), (768, 3072), (3072, 768), (384, 384), (384, 1152), (384, 1536), (1536, 384)]  # K x N (in x out)

NUMPY = textwrap.dedent("""
    import json, sys, time, numpy as np
    m, n, k, iters = map(int, sys.argv[1:5])
    a = (np.arange(m * k, dtype=np.float32) % 13 * 0.01 - 0.06).reshape(m, k)
    b = (np.arange(n * k, dtype=np.float32) % 7 * 0.02 - 0.06).reshape(n, k)
    c = np.empty((m, n), dtype=np.float32)
    for _ in range(iters): np.matmul(a, b.T, out=c)
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
            packed, strassen, ours, ref = [], [], [], []
            # At least ~0.2 s of warm-up and of timed calls: GCD starts its second worker lazily, and
            # a few sub-millisecond calls can all run on the calling thread (2 warm-ups and 10 calls
            # measured one-thread speed at two threads for the 128-row shapes, for either engine).
            calls = max(args.iters, int(4e10 / (2 * m * n * k)))
            base = [args.kbert, "bench", "--mode", "gemm", "--m", str(m), "--n", str(n), "--k", str(k),
                    "--threads", str(t), "--iters", str(calls), "--warmup", str(calls), "--json"]
            for _ in range(3):
                packed.append(run(base, env)["gflops"])
                strassen.append(run(base + ["--strassen"], env)["gflops"])
                ours.append(run(base + ["--no-pack"], env)["gflops"])
                ref.append(run([sys.executable, "-c", NUMPY, str(m), str(n), str(k), str(calls)], env)["gflops"])
            p, c, o, r = max(packed), max(strassen), max(ours), max(ref)
            rows.append(dict(threads=t, m=m, k=k, n=n, packed_gflops=p, strassen_gflops=c, kbert_gflops=o, numpy_gflops=r,
                             ratio=o / r, packed_ratio=p / r, strassen_gain=c / p))
            print(f"threads={t} M={m:5d} K×N={k}×{n}: packed {p:6.1f}, Strassen {c:6.1f}, sgemm {o:6.1f}, numpy {r:6.1f} GFLOP/s",
                  file=sys.stderr)

print("| threads | M | K×N | kbert packed GFLOP/s | kbert --strassen GFLOP/s | kbert sgemm GFLOP/s | numpy GFLOP/s | Strassen / packed | packed / numpy | sgemm / numpy |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['threads']} | {r['m']} | {r['k']}×{r['n']} | {r['packed_gflops']:.1f} | {r['strassen_gflops']:.1f} | {r['kbert_gflops']:.1f} | "
          f"{r['numpy_gflops']:.1f} | {r['strassen_gain']:.3f} | {r['packed_ratio']:.3f} | {r['ratio']:.3f} |")
print(f"\nworst ratio: Strassen / packed {min(r['strassen_gain'] for r in rows):.3f}, packed {min(r['packed_ratio'] for r in rows):.3f}, "
      f"sgemm {min(r['ratio'] for r in rows):.3f}")
if args.json_out:
    json.dump(rows, open(args.json_out, "w"), indent=1)
