import dataclasses

import pytest
import torch

from fewshot_clce.data.transforms import (
    PRESETS,
    Augment,
    Preprocess,
    choose_preset,
    eval_preprocess,
    normalize,
)


def _images(b=6, c=3, h=20, w=24, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_views_shape_and_seeding(preset):
    channels = 1 if preset == "glyph" else 3
    aug = Augment(preset, (16, 16), channels)
    x = _images(c=channels)
    a = aug(x, 2, torch.Generator().manual_seed(3))
    b = aug(x, 2, torch.Generator().manual_seed(3))
    c = aug(x, 2, torch.Generator().manual_seed(4))
    assert a.shape == (6, 2, channels, 16, 16)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[:, 0], a[:, 1]), "the two views of an image must differ"


def test_identity_preset_only_normalises():
    still = dataclasses.replace(
        PRESETS["cifar"],
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        hflip=False,
        jitter=0.0,
        grayscale_p=0.0,
    )
    x = _images()
    out = Augment(still, (20, 24), 3)(x, 3, torch.Generator().manual_seed(0))
    expected = normalize(x, still.mean, still.std)
    for v in range(3):
        torch.testing.assert_close(out[:, v], expected, atol=1e-5, rtol=1e-5)


def test_flip_only_preset_gives_the_image_or_its_mirror():
    flip = dataclasses.replace(
        PRESETS["cifar"],
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        jitter=0.0,
        grayscale_p=0.0,
        mean=(0.0,) * 3,
        std=(1.0,) * 3,
    )
    x = _images(b=32)
    out = Augment(flip, (20, 24), 3)(x, 1, torch.Generator().manual_seed(0))[:, 0]
    same = (out - x).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (out - x.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((same | mirrored).all()) and same.any() and mirrored.any()


def test_preprocess_resizes_and_normalises_without_randomness():
    pre = eval_preprocess("imagenet", (8, 8), 3)
    x = torch.full((2, 3, 32, 32), 0.5)
    out = pre(x)
    assert out.shape == (2, 3, 8, 8)
    torch.testing.assert_close(out[:, 0], torch.full((2, 8, 8), (0.5 - 0.485) / 0.229))
    assert repr(pre) == repr(eval_preprocess("imagenet", (8, 8), 3))
    assert pre == Preprocess((8, 8), PRESETS["imagenet"].mean, PRESETS["imagenet"].std)
    with pytest.raises(ValueError, match=r"expected images \[B, 3, H, W\]"):
        pre(torch.rand(2, 1, 8, 8))


def test_colour_preset_on_grayscale_uses_one_channel_statistics():
    pre = eval_preprocess("cifar", (32, 32), 1)
    assert len(pre.mean) == len(pre.std) == 1


def test_choose_preset():
    assert choose_preset((1, 8, 8)) == "glyph"
    assert choose_preset((1, 105, 105)) == "glyph"
    assert choose_preset((3, 32, 32)) == "cifar"
    assert choose_preset((3, 84, 84)) == "imagenet"


def test_large_images_are_shrunk_smoothly_before_cropping():
    still = dataclasses.replace(
        PRESETS["glyph"], crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), rotate_degrees=0.0
    )
    stripes = torch.zeros(2, 1, 105, 105)
    stripes[..., ::2] = 1.0  # one-pixel stripes: naive point sampling would alias them
    out = Augment(still, (28, 28), 1)(stripes, 1, torch.Generator().manual_seed(0))
    mean_value = (0.5 - still.mean[0]) / still.std[0]
    torch.testing.assert_close(out, torch.full_like(out, mean_value), atol=0.1, rtol=0)


def test_grayscale_images_are_repeated_into_rgb_for_a_colour_backbone():
    pre = Preprocess((6, 6), (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    gray = _images(b=3, c=1, h=6, w=6)
    out = pre.adapted_to((1, 6, 6))(gray)
    assert out.shape == (3, 3, 6, 6)
    for c, m in enumerate(
        (0.1, 0.2, 0.3)
    ):  # every plane is the gray one, normalised by its own mean
        torch.testing.assert_close(out[:, c], (gray[:, 0] - m) / 0.5)


def test_rgb_images_become_bt601_luminance_for_a_grayscale_backbone():
    import numpy as np
    from PIL import Image

    pre = Preprocess(None, (0.0,), (1.0,)).adapted_to((3, 5, 7))
    rgb = _images(b=2, c=3, h=5, w=7, seed=2)
    out = pre(rgb)
    assert out.shape == (2, 1, 5, 7)
    naive = torch.zeros(2, 5, 7)
    for c, w in enumerate((0.299, 0.587, 0.114)):  # ITU-R BT.601, written out
        naive += w * rgb[:, c]
    torch.testing.assert_close(out[:, 0], naive)
    # Pillow's RGB -> L conversion uses the same weights (in 8-bit integers)
    pixels = (rgb[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    pil = np.asarray(Image.fromarray(pixels, "RGB").convert("L"), dtype=np.float32) / 255
    assert np.abs(pil - out[0, 0].numpy()).max() <= 1.5 / 255


def test_resizing_and_channel_adaptation_commute_up_to_rounding():
    pre = Preprocess((8, 8), (0.5,), (0.5,)).adapted_to((3, 20, 24))
    rgb = _images(b=2, c=3)
    luma = Preprocess((8, 8), (0.5,), (0.5,))(
        (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    )
    torch.testing.assert_close(pre(rgb), luma, atol=1e-5, rtol=1e-5)


def test_a_channel_count_that_cannot_be_adapted_is_refused_naming_both():
    pre = Preprocess((8, 8), (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ValueError, match="have 4 channels but the backbone takes 3"):
        pre.adapted_to((4, 8, 8))
    with pytest.raises(ValueError, match="have 3 channels but the backbone takes 2"):
        Preprocess(None, (0.5,) * 2, (0.5,) * 2, in_channels=3)


def test_the_adaptation_is_described_and_keys_the_cache_only_when_there_is_one():
    pre = Preprocess((28, 28), (0.5,), (0.5,))
    assert pre.adapted_to((1, 28, 28)) == pre and repr(pre.adapted_to((1, 8, 8))) == repr(pre)
    assert "in_channels" not in repr(pre)
    rgb = pre.adapted_to((3, 32, 32))
    assert rgb != pre and "in_channels=3" in repr(rgb)
    assert pre.describe((1, 28, 28)) == "none"
    assert pre.describe((1, 8, 8)) == "8x8 -> 28x28"
    assert rgb.describe((3, 32, 32)) == "3 -> 1 channels (ITU-R BT.601 luminance), 32x32 -> 28x28"
    assert (
        Preprocess(None, (0.5,) * 3, (0.5,) * 3).describe((1, 8, 8))
        == "1 -> 3 channels (gray repeated)"
    )
