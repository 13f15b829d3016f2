import dataclasses

import pytest
import torch

from fewshot_clce.data.transforms import PRESETS, Augment, Preprocess, choose_preset, eval_preprocess, normalize


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
    still = dataclasses.replace(PRESETS["cifar"], crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=False,
                                jitter=0.0, grayscale_p=0.0)
    x = _images()
    out = Augment(still, (20, 24), 3)(x, 3, torch.Generator().manual_seed(0))
    expected = normalize(x, still.mean, still.std)
    for v in range(3):
        torch.testing.assert_close(out[:, v], expected, atol=1e-5, rtol=1e-5)


def test_flip_only_preset_gives_the_image_or_its_mirror():
    flip = dataclasses.replace(PRESETS["cifar"], crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter=0.0,
                               grayscale_p=0.0, mean=(0.0,) * 3, std=(1.0,) * 3)
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
    still = dataclasses.replace(PRESETS["glyph"], crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), rotate_degrees=0.0)
    stripes = torch.zeros(2, 1, 105, 105)
    stripes[..., ::2] = 1.0  # one-pixel stripes: naive point sampling would alias them
    out = Augment(still, (28, 28), 1)(stripes, 1, torch.Generator().manual_seed(0))
    mean_value = (0.5 - still.mean[0]) / still.std[0]
    torch.testing.assert_close(out, torch.full_like(out, mean_value), atol=0.1, rtol=0)
