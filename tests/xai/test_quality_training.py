from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from oncoatlas.xai import quality  # noqa: E402
from oncoatlas.xai.models import nodule_net_3d, window  # noqa: E402
from oncoatlas.xai.saliency import saliency_maps  # noqa: E402
from oncoatlas.xai.train import (  # noqa: E402
    TrainConfig,
    bootstrap_ci,
    classification_metrics,
    patient_split,
    train_model,
)


def test_pointing_game_and_energy_by_hand():
    mask = np.zeros((2, 5, 5), dtype=bool)
    mask[:, 1:3, 1:3] = True
    sal = np.zeros((2, 5, 5))
    sal[0, 1, 1] = 1.0  # peak inside
    sal[1, 4, 2] = 1.0  # peak outside, two voxels from the mask
    sal[1, 2, 2] = 0.5
    np.testing.assert_array_equal(quality.pointing_game(sal, mask), [True, False])
    np.testing.assert_array_equal(quality.pointing_game(sal, mask, tolerance=2), [True, True])
    np.testing.assert_allclose(quality.energy_in_lesion(sal, mask), [1.0, 0.5 / 1.5])


def test_constant_map_misses_and_shape_mismatch():
    assert not quality.pointing_game(np.ones((1, 4, 4)), np.ones((1, 4, 4), bool))[0]
    with pytest.raises(ValueError, match=r"saliency shape \(1, 4, 4\) does not match mask shape \(1, 3, 3\)"):
        quality.energy_in_lesion(np.ones((1, 4, 4)), np.ones((1, 3, 3), bool))


def test_spearman_of_identical_and_constant_maps():
    a = np.random.default_rng(0).random((2, 10))
    np.testing.assert_allclose(quality.spearman_maps(a, a), [1.0, 1.0])
    assert quality.spearman_maps(a, np.zeros_like(a)).tolist() == [0.0, 0.0]


def test_patient_split_keeps_patients_apart():
    table = pd.DataFrame({"patient_id": np.repeat([f"P{i}" for i in range(20)], 2), "label": np.tile([0, 1], 20)})
    tr, te = patient_split(table, 0.25, seed=3)
    assert set(table.patient_id.iloc[tr]).isdisjoint(table.patient_id.iloc[te])
    assert len(tr) + len(te) == len(table)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        patient_split(table, 1.5)


def test_bootstrap_ci_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    m = classification_metrics(y, s, n_boot=200)
    assert m["auc"]["ci_low"] <= m["auc"]["value"] <= m["auc"]["ci_high"]
    assert m["n"]["value"] == 200
    lo, hi = bootstrap_ci(y, s, lambda a, b: float(np.mean(a)), n_boot=100)
    assert lo < y.mean() < hi


@pytest.mark.torch
def test_training_is_deterministic(patches3d):
    x = window(patches3d.images[:8])[:, None]
    outs = []
    for _ in range(2):
        torch.manual_seed(11)  # same initial weights; train_model seeds the rest
        m = nodule_net_3d(channels=(4, 8, 8, 8))
        train_model(m, x, patches3d.labels[:8], TrainConfig(epochs=1, seed=5))
        outs.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    torch.testing.assert_close(outs[0], outs[1])


@pytest.mark.torch
def test_trained_model_classifies_and_gradcam_localises(trained3d, heldout3d):
    x = window(heldout3d.images)[:, None]
    with torch.no_grad():
        prob = torch.softmax(trained3d(torch.as_tensor(x)), 1)[:, 1].numpy()
    assert classification_metrics(heldout3d.labels, prob, n_boot=50)["auc"]["value"] > 0.8
    mal = heldout3d.labels == 1
    maps = saliency_maps(trained3d, x[mal], "gradcam")
    hits = quality.pointing_game(maps, heldout3d.masks[mal], tolerance=2)
    energy = quality.energy_in_lesion(maps, heldout3d.masks[mal])
    assert hits.mean() >= 0.6
    # more of the map inside the lesion than a uniform map would put there
    assert np.nanmean(energy) > 2 * heldout3d.masks[mal].mean()


@pytest.mark.torch
def test_deletion_is_faster_with_the_map_than_against_it(trained3d, heldout3d):
    mal = heldout3d.labels == 1
    x = window(heldout3d.images[mal][:4])[:, None]
    maps = saliency_maps(trained3d, x, "integrated_gradients", ig_steps=8)
    del_good, ins_good = quality.deletion_insertion_auc(trained3d, x, maps, steps=10)
    del_bad, ins_bad = quality.deletion_insertion_auc(trained3d, x, 1.0 - maps, steps=10)
    assert del_good.mean() < del_bad.mean()
    assert ins_good.mean() > ins_bad.mean()


@pytest.mark.torch
def test_randomization_check_cascades_and_gradcam_passes(trained3d, heldout3d):
    mal = heldout3d.labels == 1
    x = window(heldout3d.images[mal][:4])[:, None]
    curve = quality.randomization_check(trained3d, x, "gradcam")
    assert curve["layer"].tolist() == trained3d.layer_names_top_down()
    assert curve["n_cases"].tolist() == [4] * len(curve)
    assert curve["spearman"].iloc[-1] < 0.5
    # the trained model is left untouched
    again = saliency_maps(trained3d, x, "gradcam")
    np.testing.assert_allclose(again, saliency_maps(trained3d, x, "gradcam"))
    with pytest.raises(ValueError, match="not sub-modules of the model"):
        quality.randomization_check(trained3d, x, "gradcam", layers=["nope"])
