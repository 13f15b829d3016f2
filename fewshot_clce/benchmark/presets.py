"""The benchmark's named presets: each fills the :class:`~fewshot_clce.benchmark.config.BenchmarkConfig`
fields it names (anything given explicitly wins). Measured times of the presets are on the docs'
performance page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Preset:
    """A named benchmark setting."""

    description: str
    values: dict[str, Any]
    expected: str  # the work it plans, in the words the help shows ("about 5 trainings")
    budgets: Optional[list[int]] = None  # a budget study: the benchmark at each of these epochs


# The glyphs ablation (README, "Results"; results/glyphs-ablation/): 3 epochs of conv4 per training,
# 3 seeds, both heads, 1,000 novel and 200 val episodes per shot setting. Its grids bracket the
# values chosen on val on both sides; paper-glyphs is the union of the λ x β and τ ablations, so
# one output folder holds every training of both.
_ABLATION = dict(
    datasets=["glyphs"],
    losses=["ce", "supcon", "clce"],
    backbone="conv4",
    shots=[1, 5],
    heads=["centroid", "logistic"],
    episodes=1000,
    val_episodes=200,
    epochs=3,
    seeds=[0, 1, 2],
    batch_size=[64],
    train_options={"val_episodes": 100, "warmup_epochs": 0.5},
)
# The losses of the committed loss comparison (results/glyphs-losses/): the field's standard ones
# beside CE, SupCon and CLCE, and one pytorch-metric-learning loss through the adapter.
_LOSS_COMPARISON = (
    "ce",
    "baselinepp",
    "negmargin",
    "proto",
    "supcon",
    "clce",
    "pml:ArcFaceLoss",
)
_LAMBDAS = [0.02, 0.05, 0.1, 0.2, 0.5]
_BETAS = [0.0, 1.0, 2.0]
_TEMPERATURES = [0.025, 0.05, 0.1, 0.2]
_GPU_TRAINING = dict(
    backbone="resnet12",
    heads=["centroid", "logistic"],
    episodes=2000,
    val_episodes=500,
    seeds=[0, 1, 2],
    epochs=90,
    batch_size=[128],
)

# What `make demo` runs; the cross-domain demo is the same benchmark evaluated on digits too.
_DEMO = dict(
    datasets=["glyphs"],
    losses=["ce", "supcon", "clce"],
    backbone="conv4",
    shots=[1, 5],
    heads=["centroid", "logistic"],
    episodes=1000,
    val_episodes=200,
    seeds=[0],
    epochs=3,
    batch_size=[64],
    train_options={"val_episodes": 100, "warmup_epochs": 0.5},
    tsne_classes=10,
    tsne_per_class=25,
)

PRESETS: dict[str, Preset] = {
    "demo": Preset(
        "what `make demo` runs: glyphs, CE/SupCon/CLCE, conv4, 5-way 1- and 5-shot, centroid and "
        "logistic heads, 1 seed, 3 epochs, each loss's default grid chosen on val",
        dict(_DEMO),
        "about 5 trainings",
    ),
    "paper-glyphs": Preset(
        "the README's results: the union of the two ablations below (CLCE λ x β; τ of SupCon and "
        "CLCE), each loss's configuration chosen on val (the batch-size claim: ablation-batch)",
        dict(
            _ABLATION,
            sweeps=[
                {"lam": _LAMBDAS, "beta": _BETAS, "temperature": [0.1]},
                {"temperature": _TEMPERATURES},
            ],
        ),
        "about 69 trainings",
    ),
    "ablation-lambda": Preset(
        "CLCE's weight λ x hard-negative β (τ = 0.1) against CE; β = 0 is the SupCon+CE hybrid",
        dict(_ABLATION, losses=["ce", "clce"], lam=_LAMBDAS, beta=_BETAS, temperature=[0.1]),
        "about 48 trainings",
    ),
    "ablation-temperature": Preset(
        "temperature τ of SupCon and of CLCE (λ, β at their defaults) against CE",
        dict(_ABLATION, temperature=_TEMPERATURES),
        "about 27 trainings",
    ),
    "ablation-batch": Preset(
        "training batch size 32 / 64 / 256 for CE, SupCon and CLCE at their defaults (the "
        "small-batch claim)",
        dict(_ABLATION, batch_size=[32, 64, 256], default_grids=False),
        "about 27 trainings",
    ),
    "budget-glyphs": Preset(
        "the budget study: CE, SupCon and CLCE (each loss's default grid, chosen on val at each "
        "budget) at 3, 10 and 30 epochs, 3 seeds, both heads, 1- and 5-shot; results/glyphs-budget/",
        dict(_ABLATION),
        budgets=[3, 10, 30],
        expected="about 45 trainings, 15 per budget",
    ),
    "ablation-batch-steps": Preset(
        "the batch-size ablation at equal optimizer steps: batch 32 / 64 / 256 for CE, SupCon and "
        "CLCE at their defaults, every batch size taking the steps of batch 256 (12 epochs of it: "
        "on glyphs 900 steps with 150 of warm-up, against the 906 and 151 of batch 64 in the "
        "3-epoch ablation-batch run)",
        dict(
            _ABLATION,
            batch_size=[32, 64, 256],
            default_grids=False,
            epochs=12,
            train_options={"val_episodes": 100, "warmup_epochs": 2.0, "steps_as_batch": 256},
        ),
        "about 27 trainings",
    ),
    "losses-glyphs": Preset(
        "the loss comparison: CE, Baseline++, NegMargin, ProtoNet's loss, SupCon, CLCE and "
        "pytorch-metric-learning's ArcFace (its own defaults; the pml extra), each built-in "
        "loss's default grid chosen on val, 30 epochs (the budget study's longest: its 15 "
        "trainings of CE, SupCon and CLCE are these), 3 seeds, both heads, 1- and 5-shot; "
        "results/glyphs-losses/",
        dict(_ABLATION, losses=list(_LOSS_COMPARISON), epochs=30),
        "about 45 trainings",
    ),
    "mini-imagenet-gpu": Preset(
        "miniImageNet, ResNet-12 at 84x84, CE/SupCon/CLCE, 3 seeds, 2,000 episodes, both heads",
        dict(
            _GPU_TRAINING,
            datasets=["mini-imagenet"],
            train_options={"image_size": 84, "num_workers": 8},
            gpus_per_job=1,
            cpus_per_job=10,
            timeout_min=180,
        ),
        "about 15 trainings, for a GPU",
    ),
    "cross-domain-demo": Preset(
        "cross-domain on the embedded data: trained on glyphs, evaluated on glyphs and on the novel "
        "split of digits (8x8 images upsampled to 28x28), CE/SupCon/CLCE at their defaults, conv4, "
        "1 seed, the demo's 3 epochs",
        dict(_DEMO, eval_datasets=["digits"], default_grids=False),
        "about 3 trainings",
    ),
    "cross-domain-gpu": Preset(
        "cross-domain as in Chen et al. 2019: miniImageNet base classes -> CUB novel classes (and "
        "miniImageNet's own), ResNet-12 at 84x84, CE/SupCon/CLCE, 3 seeds, 2,000 episodes, both heads",
        dict(
            _GPU_TRAINING,
            datasets=["mini-imagenet"],
            eval_datasets=["cub"],
            train_options={"image_size": 84, "num_workers": 8},
        ),
        "about 15 trainings, for a GPU",
    ),
    "cifar-fs-gpu": Preset(
        "CIFAR-FS, ResNet-12 at 32x32, CE/SupCon/CLCE, 3 seeds, 2,000 episodes, both heads",
        dict(
            _GPU_TRAINING,
            datasets=["cifar-fs"],
            train_options={"num_workers": 8},
            gpus_per_job=1,
            cpus_per_job=10,
            timeout_min=60,
        ),
        "about 15 trainings, for a GPU",
    ),
}
