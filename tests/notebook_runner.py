"""Executing the notebooks in notebooks/ with nbclient, on a kernel that is this very interpreter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL_NAME = "fewshot-clce-tests"


def install_kernel(folder: Path) -> Path:
    """A kernelspec named KERNEL_NAME running ``sys.executable``; returns the folder for JUPYTER_PATH."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "fewshot-clce tests",
                "language": "python",
            }
        )
    )
    return folder


def run_notebook(name: str, timeout: int = 300):
    """Execute ``notebooks/<name>`` in its own folder; returns the executed notebook (raises on a cell error)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    return nb


def outputs_text(nb) -> str:
    """All text and markdown outputs of an executed notebook, joined."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for kind in ("text/plain", "text/markdown"):
                parts.append(str(out.get("data", {}).get(kind, "")))
    return "\n".join(parts)


def images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))
