"""The benchmark's configuration (a typed dataclass) and its named presets.

A preset fills the fields it names; anything given explicitly (on the command line or as a
keyword) wins over the preset, which wins over the defaults below. The resolved configuration
is written to ``config.json`` in the output folder; a later run into the same folder must
resolve to the same :meth:`BenchmarkConfig.identity` (or pass ``--force``).

Timings of the presets: ``demo`` and ``paper-glyphs`` were measured on this project's 2-core CPU
(see the README); the GPU / real-dataset figures are estimates, marked so.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

# Fields that say how to run, not what is measured: they may change between a run and its resume.
RUNTIME_FIELDS = ("preset", "data_root", "device", "time_budget", "progress", "command")
SWEEPS = ("lam", "temperature", "beta", "batch_size")


@dataclass
class BenchmarkConfig:
    """Everything that defines a benchmark (the CLI ``fewshot-clce benchmark`` is built from it).

    ``lam``, ``temperature``, ``beta`` and ``batch_size`` are lists: every combination that a
    loss uses is trained (a sweep), and the choice among them is made on the val split's
    episodes. ``None`` in a list means the loss's own default.
    """

    datasets: List[str] = field(default_factory=lambda: ["glyphs"])
    losses: List[str] = field(default_factory=lambda: ["ce", "supcon", "clce"])
    backbone: str = "conv4"
    shots: List[int] = field(default_factory=lambda: [1, 5])
    ways: int = 5
    queries: int = 15
    heads: List[str] = field(default_factory=lambda: ["centroid", "logistic"])
    episodes: int = 1000
    val_episodes: int = 300
    seeds: List[int] = field(default_factory=lambda: [0])
    lam: List[Optional[float]] = field(default_factory=lambda: [None])
    temperature: List[Optional[float]] = field(default_factory=lambda: [None])
    beta: List[Optional[float]] = field(default_factory=lambda: [None])
    batch_size: List[int] = field(default_factory=lambda: [64])
    epochs: int = 10
    lr: Optional[float] = None
    train_options: Dict[str, Any] = field(default_factory=dict)
    episode_seed: int = 0
    manifests_dir: Optional[str] = None
    baseline: str = "ce"
    n_boot: int = 2000
    boot_seed: int = 0
    tsne: bool = True
    tsne_classes: int = 10
    tsne_per_class: int = 30
    # runtime
    preset: Optional[str] = None
    data_root: Optional[str] = None
    device: str = "auto"
    time_budget: Optional[float] = None
    progress: bool = True
    command: str = ""

    def identity(self) -> Dict[str, Any]:
        """The fields that define the results (all but the runtime ones)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_FIELDS}

    def check(self) -> None:
        """Fail fast on values that cannot work, naming them.

        Raises:
            ValueError: empty lists, sizes below 1, 1-way episodes, negative seeds, NaN or
                out-of-range hyper-parameters, episode counts too large to hold, a baseline not
                among the losses.
        """
        from ..utils import checks as _checks
        from ..episodes.manifest import check_episode_count
        from ..losses.hparams import check_value

        for name in ("datasets", "losses", "shots", "heads", "seeds", "batch_size", "lam", "temperature", "beta"):
            if not getattr(self, name):
                raise _checks.SettingError(name, "{setting} needs at least one value")
        _checks.ways("ways", self.ways)
        for name in ("queries", "episodes", "epochs", "n_boot", "tsne_classes", "tsne_per_class"):
            _checks.at_least(name, getattr(self, name))
        _checks.at_least("val_episodes", self.val_episodes, 0)
        for name in ("shots", "batch_size"):
            bad = [v for v in getattr(self, name) if not (_checks.is_integer(v) and v >= 1)]
            if bad:
                raise _checks.SettingError(name, "{setting} values must be at least 1, got " + str(bad))
        _checks.each(_checks.seed, "seeds", self.seeds)
        for name in ("episode_seed", "boot_seed"):
            _checks.seed(name, getattr(self, name))
        for name in ("lam", "temperature", "beta"):
            for v in getattr(self, name):
                if v is not None:
                    check_value(name, v)
        if self.lr is not None:
            _checks.positive("lr", self.lr)
        if self.time_budget is not None:
            _checks.positive("time_budget", self.time_budget, hint=" (minutes)")
        for name in ("datasets", "losses", "shots", "heads", "seeds") + SWEEPS:
            vals = getattr(self, name)
            if len(set(vals)) != len(vals):
                raise _checks.SettingError(name, "{setting} repeats a value: " + str(vals))
        if self.baseline not in self.losses:
            raise _checks.SettingError("losses", f"the baseline loss {self.baseline!r} is not among " + "{setting} "
                                       + f"{self.losses}; add it (paired differences are taken against it)")
        for name in ("episodes", "val_episodes"):
            for k in self.shots:  # a manifest of this size is drawn per split and shot count
                check_episode_count(getattr(self, name), self.ways, k, self.queries, name)
        swept = [s for s in SWEEPS if len(getattr(self, s)) > 1]
        if swept and self.val_episodes < 1:
            raise _checks.SettingError("val_episodes", f"{', '.join(swept)} swept but " + "{setting} is 0: the choice is "
                                       "made on val episodes; set {setting} to at least 1")


# Command-line flags that are not the field name with dashes (the others: --field-name).
FLAGS = {"datasets": "--dataset", "lam": "--lambda", "manifests_dir": "--manifests", "data_root": "--root"}


def flag(name: str) -> str:
    """The ``fewshot-clce benchmark`` flag of a setting."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass(frozen=True)
class Preset:
    """A named benchmark setting."""

    description: str
    values: Dict[str, Any]
    expected: str  # expected wall time and where, saying whether measured or estimated


_ABLATION = dict(losses=["ce", "supcon", "clce"], shots=[1, 5], heads=["centroid"], episodes=1000,
                 val_episodes=200, epochs=3, seeds=[0, 1], train_options={"val_episodes": 100, "warmup_epochs": 0.5})
# Estimates below: about 70 s per conv4 training on glyphs (3 epochs of ~21 s, measured when the
# 2-core machine was quiet, plus its evaluation); several times more when the machine is loaded.

PRESETS: Dict[str, Preset] = {
    "demo": Preset(
        "what `make demo` runs: glyphs, CE/SupCon/CLCE, conv4, 5-way 1- and 5-shot, centroid and logistic heads, 1 seed, 3 epochs",
        dict(datasets=["glyphs"], losses=["ce", "supcon", "clce"], backbone="conv4", shots=[1, 5],
             heads=["centroid", "logistic"], episodes=1000, val_episodes=200, seeds=[0], epochs=3, batch_size=[64],
             train_options={"val_episodes": 100, "warmup_epochs": 0.5}, tsne_classes=10, tsne_per_class=25),
        "measured: 4.0 min on the quiet 2-core CPU (5.5-12 min when loaded by other jobs)"),
    "paper-glyphs": Preset(
        "the README's results: glyphs, CE/SupCon/CLCE, 3 seeds, both heads, β (0 = the SupCon+CE hybrid, or 1) "
        "chosen on val",
        dict(datasets=["glyphs"], losses=["ce", "supcon", "clce"], backbone="conv4", shots=[1, 5],
             heads=["centroid", "logistic"], episodes=1000, val_episodes=200, seeds=[0, 1, 2], epochs=3,
             beta=[0.0, 1.0], batch_size=[64], train_options={"val_episodes": 100, "warmup_epochs": 0.5}),
        "measured: 23.5 min on the 2-core CPU, partly loaded by other jobs"),
    "ablation-lambda": Preset("weight λ of the contrastive term in CLCE",
                              dict(_ABLATION, losses=["ce", "clce"], lam=[0.1, 0.3, 0.5, 0.7, 0.9]),
                              "estimate: 12 trainings, ~15 min on a quiet 2-core CPU"),
    "ablation-beta": Preset("hard-negative concentration β: 0 (the SupCon+CE hybrid) against 1 and 2",
                            dict(_ABLATION, losses=["ce", "clce"], beta=[0.0, 1.0, 2.0]),
                            "estimate: 8 trainings, ~10 min on a quiet 2-core CPU"),
    "ablation-temperature": Preset("temperature τ of the contrastive terms",
                                   dict(_ABLATION, temperature=[0.05, 0.1, 0.2, 0.5]),
                                   "estimate: 18 trainings, ~21 min on a quiet 2-core CPU"),
    "ablation-batch": Preset("training batch size 32 / 64 / 256 for CE, SupCon and CLCE (the small-batch claim)",
                             dict(_ABLATION, batch_size=[32, 64, 256]),
                             "estimate: 18 trainings, ~21 min on a quiet 2-core CPU"),
    "ablation-heads": Preset("nearest-centroid against logistic-regression heads on the same features",
                             dict(_ABLATION, heads=["centroid", "logistic"]),
                             "estimate: 6 trainings, ~7 min on a quiet 2-core CPU"),
    "mini-imagenet-gpu": Preset(
        "miniImageNet, ResNet-12 at 84x84, CE/SupCon/CLCE, 3 seeds, 2,000 episodes, both heads",
        dict(datasets=["mini-imagenet"], backbone="resnet12", heads=["centroid", "logistic"], episodes=2000,
             val_episodes=500, seeds=[0, 1, 2], epochs=90, batch_size=[128], lam=[0.5, 0.9],
             train_options={"image_size": 84, "num_workers": 8}),
        "estimate, not measured (no GPU here): ~1 h per training on one recent GPU, ~12 h for the 12 trainings"),
    "cifar-fs-gpu": Preset(
        "CIFAR-FS, ResNet-12 at 32x32, CE/SupCon/CLCE, 3 seeds, 2,000 episodes, both heads",
        dict(datasets=["cifar-fs"], backbone="resnet12", heads=["centroid", "logistic"], episodes=2000,
             val_episodes=500, seeds=[0, 1, 2], epochs=90, batch_size=[128], train_options={"num_workers": 8}),
        "estimate, not measured (no GPU here): ~20 min per training on one recent GPU, ~3 h for the 9 trainings"),
}


def resolve(preset: Optional[str] = None, **given: Any) -> BenchmarkConfig:
    """Defaults, then the preset's values, then every ``given`` value that is not None.

    Raises:
        ValueError: on an unknown preset (listing the valid ones) or an unknown field.
    """
    values: Dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
        values.update(PRESETS[preset].values)
    names = {f.name for f in dataclasses.fields(BenchmarkConfig)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ValueError(f"unknown benchmark setting(s) {unknown}; valid: {', '.join(sorted(names))}")
    values.update({k: v for k, v in given.items() if v is not None})
    cfg = BenchmarkConfig(preset=preset, **{k: v for k, v in values.items() if k != "preset"})
    cfg.check()
    return cfg
