import numpy as np
import pytest
from _dataset_fixtures import write_tiered

from fewshot_clce.data import create_dataset, dataset_info
from fewshot_clce.data._classes import split_list
from fewshot_clce.data.tiered_imagenet import EncodedImageSplit

COUNTS = {"base": 351, "val": 97, "novel": 160}
PREFIX = {"base": "train", "val": "val", "novel": "test"}


def test_png_pickles(tmp_path):
    write_tiered(tmp_path, "png")
    ds = create_dataset("tiered-imagenet", root=tmp_path)
    for split, n in COUNTS.items():
        s = ds.split(split)
        assert isinstance(s, EncodedImageSplit)
        assert s.num_classes == n == dataset_info("tiered-imagenet")["classes"][split]
        assert s.class_names == list(split_list(f"tiered_imagenet_{PREFIX[split]}.txt"))
        assert s.labels.tolist() == list(range(n))
        x, _ = s[3]
        assert x.shape == (3, 8, 8) and x.dtype.is_floating_point
    again = create_dataset("tiered-imagenet", root=tmp_path)
    assert again.split("val").fingerprint == ds.split("val").fingerprint


def test_png_decodes_the_pixels(tmp_path):
    from _dataset_fixtures import rand_images

    write_tiered(tmp_path, "png", seed=3)
    s = create_dataset("tiered-imagenet", root=tmp_path).split("val")
    expect = rand_images(97, 8, 4)
    expect[..., 0] |= 0x80
    expect[..., 2] &= 0x7F
    got = (s.get_images([5]) * 255).round().to(int).numpy()[0].transpose(1, 2, 0)
    np.testing.assert_array_equal(got, expect[5])


@pytest.mark.parametrize("bgr", [False, True])
def test_npz_and_channel_order(tmp_path, bgr):
    write_tiered(tmp_path, "npz", bgr=bgr)
    s = create_dataset("tiered-imagenet", root=tmp_path).split("novel")
    assert s.num_classes == 160 and s.images.shape == (160, 8, 8, 3)
    # Detected and flipped back: channel 0 (red) is the bright one either way.
    assert s.images[..., 0].mean() > s.images[..., 2].mean()
    forced = create_dataset("tiered-imagenet", root=tmp_path, channels="rgb").split("novel")
    assert (forced.images[..., 0].mean() > forced.images[..., 2].mean()) == (not bgr)


def test_npz_without_class_names_uses_split_order(tmp_path):
    write_tiered(tmp_path, "npz", names=False)
    s = create_dataset("tiered-imagenet", root=tmp_path).split("base")
    assert s.class_names == list(split_list("tiered_imagenet_train.txt"))
    assert s.labels.tolist() == list(range(351))


def test_npz_with_pickled_objects_is_refused(tmp_path):
    folder = write_tiered(tmp_path, "npz")
    np.savez(folder / "val_images.npz", images=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="val_images.npz"):
        create_dataset("tiered-imagenet", root=tmp_path)


def test_decompression_bomb_blob_is_a_clear_error():
    from _dataset_fixtures import png_bytes, png_header_only, rand_images

    blobs = [png_bytes(rand_images(1, 8, 0)[0]), png_header_only(100_000, 100_000)]
    split = EncodedImageSplit("tiered-imagenet", "novel", blobs, [0, 1], ["a", "b"])
    assert split.get_image(0).shape == (3, 8, 8)
    with pytest.raises(
        ValueError, match="image 'tiered-imagenet novel image 1' declares more than"
    ):
        split.get_image(1)
