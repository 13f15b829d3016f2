import numpy as np
import pytest
import torch
from _cli import argv
from _evaltools import CountingNet, make_split

from fewshot_clce.features import FeatureTable, extract_features


def test_one_forward_per_image_batched_and_sorted():
    split, net = make_split(), CountingNet()
    t = extract_features(net, split, [5, 3, 3, 9, 5, 30], batch_size=2, cache=False)
    assert t.indices.tolist() == [3, 5, 9, 30]
    assert net.images == 4 and net.calls == 2
    expected = net.lin(split.get_images([9]).flatten(1)).detach()
    torch.testing.assert_close(t.lookup([[9]])[0], expected)
    assert t.lookup(np.array([[3, 30], [5, 9]])).shape == (2, 2, 6)
    with pytest.raises(KeyError, match="no features"):
        t.lookup([4])
    for outside in ([-1], [31], [10**6]):  # below, above, far above the largest index
        with pytest.raises(
            KeyError, match=rf"1 samples have no features \(e.g. \[{outside[0]}\]\)"
        ):
            t.lookup(outside)
    assert t.rows(np.array([[30, 3], [9, 5]])).tolist() == [[3, 0], [2, 1]]
    with pytest.raises(KeyError, match="no features"):
        FeatureTable(np.zeros(0, np.int64), torch.zeros(0, 6)).lookup([0])


def test_cache_second_call_does_no_forward(tmp_path):
    split, net = make_split(), CountingNet()
    kw = dict(checkpoint_id="ckpt-a", cache=tmp_path, batch_size=8)
    first = extract_features(net, split, range(0, 40, 2), **kw)
    calls = net.calls
    assert calls > 0
    again = extract_features(net, split, range(0, 40, 4), **kw)  # a subset: all cached
    assert net.calls == calls
    torch.testing.assert_close(again.features, first.lookup(again.indices))
    # New samples: only the missing ones go through the backbone.
    net.images = 0
    extract_features(net, split, range(0, 40), **kw)
    assert net.images == 20


def test_cache_keys_checkpoint_flip_and_preprocess(tmp_path):
    split = make_split()
    a, b = CountingNet(seed=0), CountingNet(seed=1)
    fa = extract_features(a, split, range(10), checkpoint_id="ckpt-a", cache=tmp_path)
    fb = extract_features(b, split, range(10), checkpoint_id="ckpt-b", cache=tmp_path)
    assert b.calls > 0  # another checkpoint id is recomputed, not served from a's entry
    assert not torch.allclose(fa.features, fb.features)
    n = b.calls
    extract_features(b, split, range(10), checkpoint_id="ckpt-b", cache=tmp_path, flip=True)
    assert b.calls > n
    with pytest.raises(ValueError, match="preprocess_id"):
        extract_features(
            b, split, range(10), preprocess=lambda x: x * 2, checkpoint_id="ckpt-b", cache=tmp_path
        )
    n = b.calls
    extract_features(
        b,
        split,
        range(10),
        preprocess=lambda x: x * 2,
        preprocess_id="x2",
        checkpoint_id="ckpt-b",
        cache=tmp_path,
    )
    assert b.calls > n


def test_cache_entry_of_another_checkpoint_is_detected_and_recomputed(tmp_path):
    split = make_split()
    a, b = CountingNet(seed=0), CountingNet(seed=1)
    extract_features(a, split, range(10), checkpoint_id="ckpt-a", cache=tmp_path)
    entry_a = next(tmp_path.glob("features-*.npz"))
    extract_features(b, split, range(10), checkpoint_id="ckpt-b", cache=tmp_path)
    entry_b = [p for p in tmp_path.glob("features-*.npz") if p != entry_a][0]
    entry_a.replace(entry_b)  # b's entry now holds a's features (a copied or renamed file)
    n = b.calls
    with pytest.warns(UserWarning, match="another checkpoint"):
        fb = extract_features(b, split, range(10), checkpoint_id="ckpt-b", cache=tmp_path)
    assert b.calls > n
    torch.testing.assert_close(fb.features, b.lin(split.get_images(range(10)).flatten(1)).detach())


@pytest.mark.parametrize("damage", ["truncate", "text", "empty"])
def test_damaged_cache_entry_is_recomputed(tmp_path, damage):
    split, net = make_split(), CountingNet()
    first = extract_features(net, split, range(10), checkpoint_id="ckpt-a", cache=tmp_path)
    entry = next(tmp_path.glob("features-*.npz"))
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[: len(data) // 2], "text": b"hello", "empty": b""}[damage])
    n = net.calls
    with pytest.warns(UserWarning, match="feature cache .* is unreadable.*recomputing it"):
        again = extract_features(net, split, range(10), checkpoint_id="ckpt-a", cache=tmp_path)
    assert net.calls > n
    torch.testing.assert_close(again.features, first.features)
    n = net.calls
    extract_features(
        net, split, range(10), checkpoint_id="ckpt-a", cache=tmp_path
    )  # rewritten whole
    assert net.calls == n


def test_flip_averages_mirrored_images():
    split, net = make_split(), CountingNet()
    t = extract_features(net, split, [1, 2], flip=True, cache=False)
    x = split.get_images([1, 2])
    want = (net.lin(x.flatten(1)) + net.lin(x.flip(-1).flatten(1))).detach() / 2
    torch.testing.assert_close(t.features, want)


def test_nan_features_are_named(tmp_path):
    split = make_split()
    net = CountingNet(nan_rows={7, 12})
    with pytest.raises(
        ValueError, match=r"2 of 20 samples of toy/novel have non-finite.*\[7, 12\]"
    ):
        extract_features(net, split, range(20), checkpoint_id="bad", cache=tmp_path)
    assert not list(tmp_path.glob("features-*.npz"))  # nothing cached


def test_indices_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 40\)"):
        extract_features(CountingNet(), make_split(), [3, 40], cache=False)


def test_feature_table_mean():
    t = FeatureTable(np.array([0, 2]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    torch.testing.assert_close(t.mean(), torch.tensor([2.0, 3.0]))


def _pgm_digits(root, per_class=30):
    """sklearn's 8x8 digits as one folder of .pgm files per class. PGM files of one size all
    have the same byte size, so an image can be replaced by noise without changing its size."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for c in range(10):
        (root / f"d{c}").mkdir(parents=True)
        for i, j in enumerate(np.flatnonzero(d.target == c)[:per_class]):
            Image.fromarray((d.images[j] * 16).clip(0, 255).astype(np.uint8)).save(
                root / f"d{c}" / f"{i:03d}.pgm"
            )
    return root


def _accuracy(out):
    row = next(line for line in out.splitlines() if line.lstrip().startswith("folder:"))
    return float(row.split("±")[0].split()[-1])  # the accuracy: the number before its ± interval


@pytest.mark.slow  # trains a tiny run (about 10 s)
def test_changed_images_are_never_served_from_the_feature_cache(tmp_path, monkeypatch, capsys):
    """The issue's scenario end to end: train on a folder dataset, evaluate, replace every image of
    the two novel classes by noise of the same byte size, evaluate again."""
    from PIL import Image

    from fewshot_clce.cli import main
    from fewshot_clce.data import create_dataset

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path / "cache"))
    _pgm_digits(tmp_path / "dig")
    assert (
        main(
            argv(
                "train --dataset folder:dig --backbone conv4 --loss ce --out "
                "run --epochs 1 --steps-per-epoch 2 --batch-size 16 "
                "--val-episodes 5 --device cpu --no-progress"
            )
        )
        == 0
    )
    make = argv(
        "episodes make --dataset folder:dig --split novel --ways 2 "
        "--shots 1 --queries 5 --episodes 50 --out ep.npz"
    )
    evaluate = argv("evaluate run --episodes ep.npz --head centroid --out e.csv --force")
    assert main(make) == 0 and main(evaluate) == 0
    before = _accuracy(capsys.readouterr().out)
    cached = sorted((tmp_path / "cache" / "features").iterdir())

    rng = np.random.default_rng(0)
    novel = create_dataset("folder:dig").split("novel")
    for cls in novel.class_names:
        for f in sorted((tmp_path / "dig" / cls).iterdir()):
            size = f.stat().st_size
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(f)
            assert f.stat().st_size == size  # the same byte size, as in the issue
    # The manifest was drawn from the old images: it is refused by name, not evaluated on stale features.
    assert main(evaluate) == 2
    err = capsys.readouterr().err
    assert "fingerprint" in err and "Traceback" not in err
    assert main(make + ["--force"]) == 0 and main(evaluate) == 0
    after = _accuracy(capsys.readouterr().out)
    assert after != before
    assert len(list((tmp_path / "cache" / "features").iterdir())) > len(
        cached
    )  # features recomputed


def test_a_cache_that_cannot_be_written_warns_and_the_features_are_still_returned(
    tmp_path, monkeypatch
):
    """A full disk under the cache costs the cache, not the evaluation: one warning naming the entry."""
    from _faults import disk_full

    split, net = make_split(), CountingNet()
    monkeypatch.setattr(np, "savez", lambda *a, **k: disk_full())
    with pytest.warns(
        UserWarning,
        match=f"feature cache: could not write '{tmp_path}/features-.*No space left.*without caching",
    ):
        t = extract_features(net, split, range(6), checkpoint_id="ckpt-a", cache=tmp_path)
    assert t.indices.tolist() == list(range(6)) and not list(tmp_path.iterdir())


def test_lookup_fills_a_given_buffer():
    t = FeatureTable(np.array([2, 5, 9]), torch.arange(12, dtype=torch.float32).view(3, 4))
    buf = torch.full((2, 2, 4), -1.0)
    got = t.lookup(np.array([[9, 2], [5, 5]]), out=buf)
    assert got.data_ptr() == buf.data_ptr()
    torch.testing.assert_close(buf, t.features[torch.tensor([[2, 0], [1, 1]])])


def _conv4_with_batch_norm_statistics():
    from fewshot_clce.backbones import create_backbone

    torch.manual_seed(0)
    net = create_backbone("conv4", in_chans=1)
    g = torch.Generator().manual_seed(1)
    for m in net.modules():  # running statistics far from the identity, so folding them matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def test_inference_backbone_folds_batch_norm_into_a_channels_last_copy():
    from fewshot_clce.features import _inference_backbone

    net = _conv4_with_batch_norm_statistics()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = make_split().get_images(range(16)).repeat(1, 1, 2, 2)  # [16, 1, 16, 16]
    with torch.no_grad():
        want = net(x)
        with _inference_backbone(net) as fast:
            assert fast is not net
            assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
            conv = next(
                m for m in fast.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1
            )
            assert conv.weight.is_contiguous(memory_format=torch.channels_last)
            got = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    # The caller's module is untouched: same modules, same values, same memory layout.
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 4
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]) and v.is_contiguous(), k


def test_inference_backbone_without_batch_norm_is_the_module_itself_restored_afterwards():
    from fewshot_clce.features import _inference_backbone

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3)
    ).eval()
    with _inference_backbone(net) as fast:
        assert fast is net and net[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert net[0].weight.is_contiguous() and net[2].weight.is_contiguous()


def test_extracted_features_equal_the_plain_forward_pass():
    net = _conv4_with_batch_norm_statistics()
    split = make_split()
    t = extract_features(net, split, range(40), batch_size=16, cache=False)
    with torch.no_grad():
        want = net(split.get_images(range(40)))
    torch.testing.assert_close(t.features, want, rtol=1e-4, atol=1e-5)
