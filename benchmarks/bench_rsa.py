"""RSA speed: nfd_rsa vs rsatoolbox 0.3.2 on the same inputs, run side by side.

Workload (defaults): 2,000 stimuli x 1,000 neurons, a 10-unit model; correlation RDMs of both;
Spearman and Kendall tau-a similarity; 1,000 stimulus permutations and 1,000 stimulus
bootstrap samples for each of the two comparisons.

Reference: ``rsatoolbox.rdm.calc_rdm`` (correlation), ``rsatoolbox.rdm.compare``, a Python
loop over permutations (rsatoolbox 0.3.2 has no permutation test) and
``rsatoolbox.inference.eval_bootstrap_pattern`` (one call per comparison method, as a user
runs it). rsatoolbox's loops take ~1.5 s per sample here, so they run ``--ref-iters`` samples
and the full cost is extrapolated linearly (said in the output). Ours runs in full.

Checks that the values agree (1e-6 relative): observed similarities, the permutation samples
the reference ran, and the bootstrap samples (rsatoolbox draws them from numpy's global RNG,
which is seeded and replayed here).

    python benchmarks/bench_rsa.py            # full size
    python benchmarks/bench_rsa.py --quick    # 500 stimuli, 100 + 100 samples
    python benchmarks/bench_rsa.py --n-jobs 1 # one thread (default 0: every core)

The reference runs one thread; ours runs ``--n-jobs`` threads in parallel blocks of samples
(identical values), so the wall-clock ratio is the "every core" one; the CPU-time ratio is the
single-thread one. The machine's load average is printed before and after: on a shared
machine the wall-clock gain from threads is only as large as the idle cores.

Where our time goes (per sample, 2,000 stimuli): one gather of the model's ranks in the data's
sorted order, a dot product for Spearman, and tau-a's discordance count, streamed through
``nfd_rsa._rank.Inversions`` (value bands, each counted in L2 by numba-compiled kernels, so
threads do not evict each other's; compiled once per machine, warmed up before timing).
Measured numbers, with dates and load averages, are in docs/metrics/rsa.md ("Speed"): e.g.
2026-12-05, load average 4-6 from other sessions, 200 + 200 samples: CPU-time ratio 12.4x with
2 threads and 12.5x with one; ~0.17 s CPU per permutation and ~0.21 s per bootstrap sample,
values identical to the whole-sequence counter; later that evening (load 3.5-4.6, 150 + 150
samples) 12.5x -> 14.3x, a bootstrap sample ~0.19 -> ~0.15 s of CPU (the model's side
sequential, in integers). About 2/3 of a permutation was scipy's counter itself; the compiled
counter (same evening, load 2.3-4.3) took a permutation from ~0.15 to ~0.08 s of CPU and a
bootstrap sample to ~0.14 s. Full size on the idle machine (22:41, load 0.57): 42.2x wall on 2
threads (96.2 s vs 4,057 s extrapolated), 22.2x less CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")  # rsatoolbox's progress bars
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from nfd_rsa import PairedRDMs, calc_rdm  # noqa: E402

METHODS = ["spearman", "tau-a"]


def simulate(n: int, p: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, k))
    tuning = rng.standard_normal((k, p))
    responses = factors @ tuning + 3.0 * rng.standard_normal((n, p))
    latents = factors + 0.5 * rng.standard_normal((n, k))
    return responses, latents


def warm_up() -> float:
    """Compile (or load from numba's cache) the counter's kernels; seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    pair = PairedRDMs(rng.random(45), rng.random(45))  # 10 stimuli
    pair.permutation_null([rng.permutation(10)], METHODS)
    pair.bootstrap([rng.integers(0, 10, 10)], METHODS)
    return time.perf_counter() - t0


def run_ours(responses, latents, perms, samples, n_jobs=1):
    t0, c0 = time.perf_counter(), time.process_time()
    d = calc_rdm(responses, "correlation")
    m = calc_rdm(latents, "correlation")
    pair = PairedRDMs(d, m)
    observed = pair.similarities(METHODS)
    null = pair.permutation_null(perms, METHODS, n_jobs=n_jobs)
    boot = pair.bootstrap(samples, METHODS, n_jobs=n_jobs)
    return (time.perf_counter() - t0, time.process_time() - c0), d, m, observed, null, boot


def run_reference(responses, latents, perms, n_boot_ref, seed):
    import rsatoolbox
    from rsatoolbox.inference import eval_bootstrap_pattern
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs, compare

    t, c = {}, {}
    t0, c0 = time.perf_counter(), time.process_time()
    d = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(responses), method="correlation")
    m = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(latents), method="correlation")
    observed = [compare(m, d, method=meth)[0, 0] for meth in METHODS]
    t["rdm+observed"] = time.perf_counter() - t0
    c["rdm+observed"] = time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    mat = m.get_matrices()[0]
    null = []
    for perm in perms:
        permuted = RDMs(mat[np.ix_(perm, perm)][None])
        null.append([compare(permuted, d, method=meth)[0, 0] for meth in METHODS])
    t["permutation"] = (time.perf_counter() - t0) / len(perms)
    c["permutation"] = (time.process_time() - c0) / len(perms)

    t0, c0 = time.perf_counter(), time.process_time()
    boot = []
    data = RDMs(d.get_vectors())  # with the 'index' pattern descriptor the bootstrap needs
    model = ModelFixed("model", RDMs(m.get_vectors()))
    for meth in METHODS:
        np.random.seed(seed)
        res = eval_bootstrap_pattern(model, data, method=meth, N=n_boot_ref,
                                     boot_noise_ceil=False)
        boot.append(res.evaluations[:, 0])
    t["bootstrap"] = (time.perf_counter() - t0) / n_boot_ref
    c["bootstrap"] = (time.process_time() - c0) / n_boot_ref
    return t, c, d.get_vectors()[0], m.get_vectors()[0], observed, np.array(null), \
        np.array(boot).T


def replay_rsatoolbox_samples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The pattern samples eval_bootstrap_pattern draws (bootstrap_sample_pattern)."""
    np.random.seed(seed)
    return np.stack([np.random.randint(0, n, size=n) for _ in range(n_boot)])


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-stimuli", type=int, default=2000)
    ap.add_argument("--n-neurons", type=int, default=1000)
    ap.add_argument("--n-units", type=int, default=10)
    ap.add_argument("--n-perm", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--ref-iters", type=int, default=10,
                    help="permutations and bootstrap samples the reference runs (extrapolated)")
    ap.add_argument("--n-jobs", type=int, default=0,
                    help="threads for our loops (0 = every core; gains need idle cores)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n_stimuli, args.n_perm, args.n_boot, args.ref_iters = 500, 100, 100, 10
    warnings.simplefilter("ignore")
    from nfd_rsa._compare import workers

    jobs = workers(args.n_jobs)
    load_before = os.getloadavg()
    n = args.n_stimuli
    responses, latents = simulate(n, args.n_neurons, args.n_units)
    rng = np.random.default_rng(1)
    perms = np.stack([rng.permutation(n) for _ in range(args.n_perm)])
    samples = rng.integers(0, n, size=(args.n_boot, n))
    print(f"RSA benchmark: {n} stimuli x {args.n_neurons} neurons, {args.n_units} units; "
          f"{', '.join(METHODS)}; {args.n_perm} permutations + {args.n_boot} bootstraps")

    print(f"  compiled counter ready in {warm_up():.1f} s (numba compiles it once per machine, "
          "~3.5 s of CPU, then loads it from its cache; not in the times below)")
    (t_ours, c_ours), d, m, observed, null, boot = run_ours(responses, latents, perms, samples,
                                                  jobs)
    # memory in a separate short run: tracemalloc slows allocation-heavy loops ~2x
    tracemalloc.start()
    run_ours(responses, latents, perms[:5], samples[:5])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    seed = 12345
    tracemalloc.start()
    run_reference(responses, latents, perms[:2], 2, seed)
    _, peak_ref = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t_ref, c_ref, d_ref, m_ref, obs_ref, null_ref, boot_ref = run_reference(
        responses, latents, perms[: args.ref_iters], args.ref_iters, seed)
    ref_total = (t_ref["rdm+observed"] + t_ref["permutation"] * args.n_perm
                 + t_ref["bootstrap"] * args.n_boot)
    ref_cpu = (c_ref["rdm+observed"] + c_ref["permutation"] * args.n_perm
               + c_ref["bootstrap"] * args.n_boot)

    # equality on the same inputs
    pair = PairedRDMs(d, m)
    replay = replay_rsatoolbox_samples(n, args.ref_iters, seed)
    boot_same = pair.bootstrap(replay, METHODS)
    print(f"  equality (max relative difference): RDMs {max(rel(d, d_ref), rel(m, m_ref)):.1e}, "
          f"observed {rel(observed, obs_ref):.1e}, permutations "
          f"{rel(null[: args.ref_iters], null_ref):.1e}, bootstrap {rel(boot_same, boot_ref):.1e}")
    print(f"  observed: spearman {observed[0]:.4f}, tau-a {observed[1]:.4f}")
    print(f"  reference rsatoolbox: RDMs+compare {t_ref['rdm+observed']:.2f} s, "
          f"{t_ref['permutation']:.3f} s/permutation, {t_ref['bootstrap']:.3f} s/bootstrap "
          f"(measured on {args.ref_iters} each) -> {ref_total:.0f} s extrapolated")
    print(f"  nfd_rsa ({jobs} thread(s) on {os.cpu_count()} cores): {t_ours:.1f} s in full "
          f"({t_ours / (args.n_perm + args.n_boot):.3f} s per sample)")
    print(f"  speed-up, wall clock, {jobs} thread(s): {ref_total / t_ours:.1f}x (target >= 25x "
          "on 2 cores)")
    print(f"  CPU time (all threads): reference {ref_cpu:.0f} s extrapolated, ours {c_ours:.0f} s "
          f"-> {ref_cpu / c_ours:.1f}x less work (the single-thread speed-up; robust to a "
          "busy machine)")
    resp_bytes = responses.nbytes
    print(f"  peak memory (tracemalloc, ours): {peak / 2**20:.0f} MiB = "
          f"{peak / resp_bytes:.1f}x the response matrix ({resp_bytes / 2**20:.0f} MiB); "
          f"one condensed RDM alone is {d.nbytes / 2**20:.0f} MiB; rsatoolbox's peak on the "
          f"same steps: {peak_ref / 2**20:.0f} MiB")
    load_after = os.getloadavg()
    print(f"  machine load (1-min load average, {os.cpu_count()} cores): {load_before[0]:.2f} "
          f"before, {load_after[0]:.2f} after (a load above 1 leaves our threads less than "
          "every core)")


if __name__ == "__main__":
    main()
