"""Two CPU processes on gloo give the single-process loss and gradients on the whole batch."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fewshot_clce.losses import clce_loss, lacln_loss, supcon_loss

WORLD = 2


def _cases():
    """name -> (batch sizes per rank, loss of (logits, z, labels))."""
    return {
        "supcon": ((5, 3), lambda lg, z, y: supcon_loss(z, y, temperature=0.2)),
        "lacln": ((5, 3), lambda lg, z, y: lacln_loss(z, y, temperature=0.2, beta=1.5)),
        "lacln_full": (
            (2, 6),
            lambda lg, z, y: lacln_loss(z, y, temperature=0.2, beta=1.5, detach_weights=False),
        ),
        # CE is a per-rank mean: equal shares make the mean over ranks the global mean
        "clce": ((4, 4), lambda lg, z, y: clce_loss(lg, z, y, lam=0.6, temperature=0.2, beta=1.0)),
    }


def _batch(total):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(total, 2, 5, generator=g, dtype=torch.float64)  # [B, V, d]
    logits = torch.randn(total, 2, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 3, 3, 2])[:total]
    return logits, z, labels


def _worker(rank, port, out_path):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        results = {}
        for name, (sizes, fn) in _cases().items():
            logits, z, labels = _batch(sum(sizes))
            part = slice(sum(sizes[:rank]), sum(sizes[: rank + 1]))
            lg, zz = logits[part].clone().requires_grad_(), z[part].clone().requires_grad_()
            loss = fn(lg, zz, labels[part])
            loss.backward()
            results[name] = (loss.detach(), zz.grad, lg.grad)
        torch.save(results, f"{out_path}.{rank}")
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "result"
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(f"{out}.{r}", weights_only=True) for r in range(WORLD)]


@pytest.mark.parametrize("name", list(_cases()))
@pytest.mark.slow
def test_two_processes_equal_one(two_ranks, name):
    sizes, fn = _cases()[name]
    logits, z, labels = _batch(sum(sizes))
    lg, zz = logits.clone().requires_grad_(), z.clone().requires_grad_()
    single = fn(lg, zz, labels)
    single.backward()
    losses = [two_ranks[r][name][0] for r in range(WORLD)]
    # DDP averages the ranks' gradients: the mean of the ranks' losses is the loss it optimises
    torch.testing.assert_close(sum(losses) / WORLD, single.detach())
    assert not torch.allclose(losses[0], losses[1])  # the ranks really saw different anchors
    z_grad = torch.cat([two_ranks[r][name][1] for r in range(WORLD)]) / WORLD
    torch.testing.assert_close(z_grad, zz.grad)
    if name == "clce":
        lg_grad = torch.cat([two_ranks[r][name][2] for r in range(WORLD)]) / WORLD
        torch.testing.assert_close(lg_grad, lg.grad)
