"""Benchmark of oncoatlas.xai: Grad-CAM latency, demo training time, saliency quality.

Figures are printed with the baseline they are measured against in the same run:

- Grad-CAM on a 96^3 CT patch (target < 1 s on CPU), against one plain forward pass.
- Training of the demo 3D CNN, against one inference pass over the same patches; the
  default run trains on synthetic patches, ``--demo DIR`` on the demo federation's nodules
  (target < 3 minutes), and then scores the saliency methods on held-out malignant lesions
  (pointing game >= 0.8 for Grad-CAM; randomisation Spearman < 0.5 for Grad-CAM and
  integrated gradients), against a centre-peaked map and a uniform map.

Usage: ``python benchmarks/bench_xai.py [--demo DIR] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_gradcam(repeats: int = 5) -> None:
    from oncoatlas.xai.models import nodule_net_3d
    from oncoatlas.xai.saliency import saliency_maps

    model = nodule_net_3d().eval()
    x = torch.rand(1, 1, 96, 96, 96)
    saliency_maps(model, x, "gradcam")  # warm-up
    cam, fwd, cpu = [], [], []
    for _ in range(repeats):
        t, c0 = time.perf_counter(), _cpu()
        saliency_maps(model, x, "gradcam")
        cam.append(time.perf_counter() - t)
        cpu.append(_cpu() - c0)
        t = time.perf_counter()
        with torch.no_grad():
            model(x)
        fwd.append(time.perf_counter() - t)
    c, f = statistics.median(cam), statistics.median(fwd)
    print(f"gradcam_96^3: {c:.3f} s wall, {statistics.median(cpu):.3f} s CPU over {torch.get_num_threads()} threads "
          f"(target < 1 s); baseline forward pass {f:.3f} s; ratio {c / f:.1f}x")


def bench_training(demo: str | None, epochs: int) -> None:
    from oncoatlas.xai.evaluate import evaluate_saliency, train_demo
    from oncoatlas.xai.inference import predict_proba
    from oncoatlas.xai.models import nodule_net_3d, window
    from oncoatlas.xai.synthetic import synthetic_patches
    from oncoatlas.xai.train import TrainConfig, train_model

    if demo is None:
        ps = synthetic_patches(96, 32, 3, seed=1, normal_fraction=0.5)
        x = window(ps.images)[:, None]
        model = nodule_net_3d()
        t, c = time.perf_counter(), _cpu()
        train_model(model, x, ps.labels, TrainConfig(epochs=epochs))
        wall, cpu = time.perf_counter() - t, _cpu() - c
        n = len(x)
    else:
        t, c = time.perf_counter(), _cpu()
        dm = train_demo(demo, "lung_nodule", epochs=epochs)
        wall, cpu = dm.train_seconds, _cpu() - c
        model, x, n = dm.model, dm.patches.model_input(), len(dm.train_idx)
        print(f"demo_model: AUC {dm.card.metrics['auc']['value']:.3f} "
              f"[{dm.card.metrics['auc']['ci_low']:.3f}, {dm.card.metrics['auc']['ci_high']:.3f}] on {dm.card.n_test} held-out patches")
    t = time.perf_counter()
    predict_proba(model, x)
    inf = time.perf_counter() - t
    print(f"training ({n} patches, {epochs} epochs): {wall:.1f} s wall, {cpu:.1f} s CPU (target < 180 s); "
          f"baseline one inference pass {inf:.2f} s; ratio {wall / inf:.0f}x")
    if demo is not None:
        test = dm.patches.subset(dm.test_idx)
        rep = evaluate_saliency(model, test)
        print(f"saliency on {rep['n_malignant_lesions']} held-out malignant lesions "
              f"(pointing-game tolerance {rep['pointing_game_tolerance_voxels']} voxels); baselines: "
              f"centre map pointing game {rep['baselines']['centre_pointing_game']:.2f}, "
              f"uniform map energy {rep['baselines']['uniform_energy_in_lesion']:.3f}")
        for name, r in rep["methods"].items():
            if "error" in r:
                print(f"  {name}: error {r['error']}")
                continue
            print(f"  {name:22s} pointing {r['pointing_game']:.2f} (strict {r['pointing_game_strict']:.2f}) "
                  f"energy {r['energy_in_lesion']:.3f} deletion {r['deletion_auc']:.3f} insertion {r['insertion_auc']:.3f} "
                  f"randomisation rho {r['randomization_spearman']:.2f} "
                  f"({'pass' if r['randomization_passes'] else 'FAIL'}) n={r['n_cases']}")
        print(json.dumps({"randomization_failures": rep["randomization_failures"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default=None, help="demo federation folder (oncoatlas demo generate)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    bench_gradcam()
    bench_training(args.demo, args.epochs or (15 if args.demo else 6))


if __name__ == "__main__":
    main()
