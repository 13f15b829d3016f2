"""Write every command output the docs show, from the current code: ``make docs-samples``.

Each sample is ``docs/samples/<name>.txt``: the command as typed (``$ fewshot-clce ...``) and what
it printed on standard output (for the commands in :data:`ERRORS`, the one-line error it printed
on standard error), then any files in :data:`SHOW` as ``$ cat FILE`` and their text. The commands
run on the embedded ``digits`` data with tiny budgets, in a scratch folder (so the paths they print
are the short relative ones the docs use), one after another, as a reader would type them. The
loss of one's own they use is the ``# my_loss.py`` block of ``docs/tutorials/own-loss.md``, so the
tutorial shows the code that ran. The pages include the files with ``--8<-- "NAME.txt"``.

Usage: python scripts/docs_samples.py [--only NAME ...] [--keep DIR]
(--only still runs the commands before the last sample it names, without writing their samples)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "docs" / "samples"

# (sample name, command line); later commands use what earlier ones wrote.
COMMANDS = [
    ("datasets", "fewshot-clce datasets"),
    (
        "train",
        (
            "fewshot-clce train --dataset digits --backbone conv4 --losses clce --epochs 1 "
            "--steps-per-epoch 10 --out runs/digits-clce"
        ),
    ),
    (
        "train-ce",
        (
            "fewshot-clce train --dataset digits --backbone conv4 --losses ce --epochs 1 "
            "--steps-per-epoch 10 --out runs/digits-ce"
        ),
    ),
    (
        "evaluate",
        "fewshot-clce evaluate runs/digits-clce --dataset digits --heads centroid logistic",
    ),
    (
        "evaluate-manifests",
        (
            "fewshot-clce evaluate runs/digits-clce --manifests "
            "episodes/digits_novel_5way_1shot_15query.npz --heads 'logistic[C=0.1]' "
            "--out runs/digits-clce/logistic-c0.1.csv"
        ),
    ),
    (
        "compare",
        "fewshot-clce compare runs/digits-clce runs/digits-ce --dataset digits --heads logistic",
    ),
    (
        "episodes-make",
        (
            "fewshot-clce episodes make --dataset digits --split novel --shots 1 5 --episodes 500 "
            "--out-dir my-episodes"
        ),
    ),
    ("episodes-show", "fewshot-clce episodes show episodes/digits_novel_5way_5shot_15query.npz"),
    (
        "cross-domain",
        (
            "fewshot-clce evaluate runs/digits-clce --dataset 'glyphs[max_per_block=2]' --shots 1 5 "
            "--episodes 200 --out runs/digits-clce/on-glyphs.csv"
        ),
    ),
    (
        "folder-train",
        (
            "fewshot-clce train --dataset folder:my-images --backbone conv4 --losses ce --epochs 1 "
            "--steps-per-epoch 10 --val-ways 3 --out runs/folder-ce"
        ),
    ),
    (
        "folder-evaluate",
        (
            "fewshot-clce evaluate runs/folder-ce --dataset folder:my-images --ways 3 --shots 1 5 "
            "--episodes 300"
        ),
    ),
    (
        "benchmark",
        (
            "fewshot-clce benchmark --dataset digits --losses ce clce --seeds 0 1 --epochs 1 "
            "--episodes 200 --val-episodes 50 --no-default-grids --no-tsne --out results/digits-tiny"
        ),
    ),
    ("report", "fewshot-clce report results/digits-tiny"),
    ("plan", "fewshot-clce benchmark --preset demo --plan --out results/demo"),
    (
        "budget",
        (
            "fewshot-clce benchmark --dataset digits --losses ce clce --seeds 0 1 --epochs 1 2 "
            "--steps-per-epoch 5 --episodes 100 --val-episodes 50 --no-default-grids --no-tsne "
            "--out results/digits-budget"
        ),
    ),
    (
        "own-loss-train",
        (
            "fewshot-clce train --dataset digits --backbone conv4 "
            "--losses './my_loss.py:MarginCE[margin=0.3]' --epochs 1 --steps-per-epoch 10 "
            "--out runs/digits-margince"
        ),
    ),
    (
        "own-loss-benchmark",
        (
            "fewshot-clce benchmark --dataset digits --losses ce ./my_loss.py:MarginCE "
            "--hp margince.margin=0.25,1 --seeds 0 --epochs 1 --steps-per-epoch 10 --episodes 100 "
            "--val-episodes 50 --no-tsne --out results/digits-mine"
        ),
    ),
    (
        "own-loss-error",
        (
            "fewshot-clce benchmark --dataset digits --losses ce './my_loss.py:MarginCE[gamma=1]' "
            "--out results/digits-mine-2"
        ),
    ),
    (
        "own-loss-changed",
        (
            "fewshot-clce benchmark --dataset digits --losses ce ./my_loss.py:MarginCE "
            "--hp margince.margin=0.25,1 --seeds 0 --epochs 1 --steps-per-epoch 10 --episodes 100 "
            "--val-episodes 50 --no-tsne --out results/digits-mine --plan"
        ),
    ),
]
# Samples of commands that are refused: their one-line error (standard error) is the sample.
ERRORS = {"own-loss-error"}
# Files shown after a sample's command, as a reader would open them.
SHOW = {"budget": ["results/digits-budget/BUDGET.md"]}
OWN_LOSS_PAGE = REPO / "docs" / "tutorials" / "own-loss.md"
OWN_LOSS_FIRST_LINE = "# my_loss.py"


def _write_own_loss(work: Path) -> None:
    """``my_loss.py``: the tutorial's code block that starts with :data:`OWN_LOSS_FIRST_LINE`."""
    lines = OWN_LOSS_PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(OWN_LOSS_FIRST_LINE)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    (work / "my_loss.py").write_text("\n".join(lines[start:end]) + "\n", encoding="utf-8")


def _edit_own_loss(work: Path) -> None:
    """An edit of the user's loss file (what ``own-loss-changed`` shows the effect of)."""
    with open(work / "my_loss.py", "a", encoding="utf-8") as f:
        f.write("# an edit: the loss is now another one\n")


# What a reader does before typing a sample's command.
BEFORE = {"own-loss-changed": _edit_own_loss}


def _write_image_folder(root: Path) -> None:
    """``my-images/<class>/<i>.png``: the 20 classes of the embedded digits, as a user's folder."""
    from PIL import Image

    from fewshot_clce import create_dataset

    ds = create_dataset("digits")
    for split_name in ("base", "val", "novel"):
        split = ds.split(split_name)
        counts: dict = {}
        for i in range(len(split)):
            image, label = split[i]
            name = split.class_names[int(label)].replace("/", "-")
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            k = counts[name] = counts.get(name, 0) + 1
            pixels = (image.squeeze(0).numpy() * 255).clip(0, 255).astype("uint8")
            Image.fromarray(pixels, "L").save(folder / f"{k:04d}.png")


def run_command(line: str, refused: bool = False) -> str:
    """Run ``fewshot-clce ...`` in this process; its standard output (stderr is left out), or with
    ``refused`` its standard error, for a command that must fail."""
    from fewshot_clce.cli import main

    argv = shlex.split(line)[1:]
    out, err = io.StringIO(), io.StringIO()
    errors = err if refused else sys.stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errors):
        code = main(argv)
    if refused:
        if code == 0:
            raise SystemExit(f"docs sample should have been refused: {line}")
        return err.getvalue()
    if code != 0:
        raise SystemExit(f"docs sample failed ({code}): {line}")
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="NAME", help="write only these samples"
    )
    parser.add_argument(
        "--keep",
        default=None,
        metavar="DIR",
        help="work in DIR and keep it (default: a temporary folder, removed)",
    )
    args = parser.parse_args(argv)
    names = [n for n, _ in COMMANDS]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"unknown sample {unknown[0]!r}; valid: {', '.join(names)}")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    work = Path(args.keep or tempfile.mkdtemp(prefix="fewshot-clce-samples-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # a cache of its own: the samples show a first use (glyphs not yet built), wherever they run
    os.environ["FEWSHOT_CLCE_CACHE"] = str(work / ".cache")
    (work / "episodes").exists() or (work / "episodes").symlink_to(REPO / "episodes")
    start_dir = os.getcwd()
    SAMPLES.mkdir(parents=True, exist_ok=True)
    try:
        os.chdir(work)
        _write_image_folder(work / "my-images")
        _write_own_loss(work)
        last = max(names.index(n) for n in args.only) if args.only else len(names) - 1
        for name, line in COMMANDS[
            : last + 1
        ]:  # the ones before a chosen sample make what it reads
            started = time.perf_counter()
            if name in BEFORE:
                BEFORE[name](work)
            text = run_command(line, refused=name in ERRORS)
            for shown in SHOW.get(name, ()):
                text += f"$ cat {shown}\n" + (work / shown).read_text(encoding="utf-8")
            text = text.replace(str(work / ".cache"), "~/.cache/fewshot-clce")
            text = text.replace(str(work) + os.sep, "").replace(str(work), ".")
            if args.only is None or name in args.only:
                (SAMPLES / f"{name}.txt").write_text(f"$ {line}\n{text}")
            print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        os.chdir(start_dir)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
