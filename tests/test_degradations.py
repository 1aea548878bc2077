"""The degradations beyond the six, image by image against their reference implementations.

Tolerances, per distortion (on float images in [0, 1] unless said otherwise):

- contrast, saturation, sharpen: torchvision's functional API, the same float arithmetic: 1e-6;
- noise: torchvision's ``gaussian_noise`` after ``torch.manual_seed(seed)`` (the image's seed
  parameter), the same generator and draw order: 1e-6;
- occlusion: ``torchvision.transforms.functional.erase`` with value 0: exact;
- pixelate: PIL's ``BOX`` down then ``NEAREST`` up on uint8 images: at most 1 grey level
  (PIL rounds the down-sampled image to 8 bits in each of its two passes);
- jpeg: PIL's encoder and decoder, another build of libjpeg(-turbo) than torchvision's: on
  this machine equal to the bit; allowed at most 4 levels, 0.1 on average.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms.v2 import functional as TF2

from dpsim import distortion_params, distortions
from dpsim.names import BUILTIN_DISTORTIONS, DEGRADATIONS, DISTORTIONS

ALL = distortions.of_names(BUILTIN_DISTORTIONS)


def _drawn(name: str, count: int, size: int, seed: int = 0, **ranges):
    dset = distortions.DistortionSet((name, "rotate"), {name: ranges} if ranges else {})
    generator = np.random.default_rng(seed)
    ids = np.zeros(count, dtype=np.int64)
    return dset, ids, dset.draw_params(generator, ids, size)


def _float_images(count: int, size: int, seed: int = 1) -> torch.Tensor:
    generator = np.random.default_rng(seed)
    return torch.from_numpy(generator.random((count, 3, size, size), dtype=np.float32))


def _uint8_images(count: int, size: int, seed: int = 2) -> torch.Tensor:
    """Smooth colour gradients with texture: compressible like photos, not like white noise."""
    generator = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, size)
    base = np.stack([np.outer(x, 1 - x) * 4, np.outer(1 - x, x) * 4, np.outer(x, x)])
    images = [
        np.roll(base, 7 * k, axis=2) + generator.normal(0, 0.05, base.shape) for k in range(count)
    ]
    return torch.from_numpy((np.clip(np.stack(images), 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("contrast", TF.adjust_contrast),
        ("saturation", TF.adjust_saturation),
        ("sharpen", TF.adjust_sharpness),
    ],
)
def test_colour_and_sharpness_equal_torchvision_image_by_image(name, reference):
    images = _float_images(10, 40)
    dset, ids, params = _drawn(name, 10, 40)
    batch = dset.apply(images, ids, params)
    for i in range(len(images)):
        expected = reference(images[i], float(params[i, 0]))
        torch.testing.assert_close(batch[i], expected, atol=1e-6, rtol=0)


def test_noise_equals_torchvision_seeded_by_the_images_own_seed():
    images = _float_images(6, 32)
    dset, ids, params = _drawn("noise", 6, 32)
    assert len(np.unique(params[:, 1])) == 6  # one seed per image
    batch = dset.apply(images, ids, params)
    for i in range(len(images)):
        torch.manual_seed(int(params[i, 1]))
        expected = TF2.gaussian_noise(images[i], mean=0.0, sigma=float(params[i, 0]), clip=True)
        torch.testing.assert_close(batch[i], expected, atol=1e-6, rtol=0)
    alone = dset.apply(images[3:4], ids[3:4], params[3:4])  # the noise is the image's own
    assert torch.equal(alone[0], batch[3])


def test_occlusion_equals_torchvision_erase_and_stays_inside_the_image():
    images = _float_images(30, 48)
    dset, ids, params = _drawn("occlusion", 30, 48)
    batch = dset.apply(images, ids, params)
    for i in range(len(images)):
        left, top, side = params[i].astype(int)
        assert min(left, top) >= 0 and max(left, top) + side <= 48
        expected = TF.erase(images[i], top, left, side, side, 0.0)
        assert torch.equal(batch[i], expected)
    sides = params[:, 2] / 48
    assert sides.min() >= 0.2 - 1 / 96 and sides.max() <= 0.5 + 1 / 96


@pytest.mark.parametrize("size", [64, 50, 37, 33])
@pytest.mark.parametrize("factor", [2, 3, 4, 5, 8])
def test_pixelate_equals_pil_box_then_nearest_within_one_level(size, factor):
    images = _uint8_images(3, size)
    dset = distortions.DistortionSet(("pixelate", "rotate"), {"pixelate": {"factors": [factor]}})
    ids = np.zeros(3, dtype=np.int64)
    params = dset.draw_params(np.random.default_rng(0), ids, size)
    batch = dset.apply_uint8(images, ids, params).numpy().astype(int)
    small = max(1, size // factor)
    for i in range(len(images)):
        picture = Image.fromarray(images[i].numpy().transpose(1, 2, 0))
        expected = picture.resize((small, small), Image.BOX).resize((size, size), Image.NEAREST)
        difference = np.abs(batch[i] - np.asarray(expected).transpose(2, 0, 1).astype(int))
        assert difference.max() <= 1


def test_jpeg_matches_pil_at_the_drawn_quality():
    images = _uint8_images(6, 64)
    dset, ids, params = _drawn("jpeg", 6, 64, quality=[5, 90])
    assert np.all(params[:, 0] == np.round(params[:, 0]))
    batch = dset.apply_uint8(images, ids, params).numpy().astype(int)
    differences = []
    for i in range(len(images)):
        buffer = io.BytesIO()
        picture = Image.fromarray(images[i].numpy().transpose(1, 2, 0))
        picture.save(buffer, format="JPEG", quality=int(params[i, 0]))
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        differences.append(np.abs(batch[i] - decoded.transpose(2, 0, 1).astype(int)))
    assert max(d.max() for d in differences) <= 4
    assert np.mean(differences) <= 0.1
    assert np.abs(batch - images.numpy().astype(int)).mean() > 1  # it did compress


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_parameters_lie_in_the_default_ranges_and_use_them(name):
    _, _, params = _drawn(name, 5000, 64)
    option = distortion_params.SPECS[name].options[0]
    values = params[:, 0] if name != "occlusion" else params[:, 2] / 64
    if option.kind == "choices":
        assert sorted(np.unique(values).tolist()) == sorted(option.default)
    else:
        lo, hi = option.default
        slack = 1 / 128 if name == "occlusion" else 1e-12
        assert values.min() >= lo - slack and values.max() <= hi + slack
        assert values.min() < lo + 0.05 * (hi - lo) + slack
        assert values.max() > hi - 0.05 * (hi - lo) - slack


def test_configured_ranges_replace_the_defaults():
    assert set(_drawn("jpeg", 500, 32, quality=[70, 72])[2][:, 0]) == {70, 71, 72}
    sigma = _drawn("noise", 500, 32, sigma=[0.5, 0.6])[2][:, 0]
    assert sigma.min() >= 0.5 and sigma.max() <= 0.6
    assert set(_drawn("pixelate", 500, 32, factors=[3])[2][:, 0]) == {3}


def test_a_mixed_batch_of_all_thirteen_equals_each_image_alone():
    images = _uint8_images(26, 32)
    ids = np.tile(np.arange(len(BUILTIN_DISTORTIONS)), 2)
    params = ALL.draw_params(np.random.default_rng(4), ids, 32)
    batch = ALL.apply_uint8(images, ids, params)
    for i in range(len(images)):
        alone = ALL.apply_uint8(images[i : i + 1], ids[i : i + 1], params[i : i + 1])
        assert torch.equal(batch[i], alone[0]), BUILTIN_DISTORTIONS[ids[i]]
    assert all(not torch.equal(batch[i], images[i]) for i in range(len(images)))


def test_the_study_set_draws_exactly_as_before_and_wider_sets_store_more():
    assert distortions.STUDY.names == DISTORTIONS and distortions.STUDY.width == 2
    assert distortions.of_names(["blur", "occlusion"]).width == 3
    with_plugin = distortions.DistortionSet(("blur", "mine"), plugins={"mine": "a.b:c"})
    assert with_plugin.width == 4
    ids = np.array([0, 4, 1])
    study = distortions.STUDY.draw_params(np.random.default_rng(9), ids, 64)
    uniforms = np.random.default_rng(9).random((3, 2))  # two uniforms an image, in order
    assert study[0, 0] == pytest.approx(30 + 300 * uniforms[0, 0])
    wide = distortions.of_names([*DISTORTIONS, "occlusion"])
    assert np.array_equal(wide.draw_params(np.random.default_rng(9), ids, 64)[:, :2], study)


def test_pairs_are_uniform_over_a_sets_ordered_pairs():
    dset = distortions.of_names(["jpeg", "noise", "blur"])
    first, second = dset.draw_pairs(np.random.default_rng(0), 30_000)
    counts = np.bincount(first * 3 + second, minlength=9).reshape(3, 3)
    assert np.all(np.diag(counts) == 0)
    off = counts[~np.eye(3, dtype=bool)]
    assert off.min() > 5000 * 0.9 and off.max() < 5000 * 1.1


def test_a_set_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="two or more different"):
        distortions.of_names(["blur"])
    with pytest.raises(ValueError, match="two or more different"):
        distortions.of_names(["blur", "blur"])
    with pytest.raises(ValueError, match="did you mean 'pixelate'"):
        distortions.of_names(["blur", "pixelated"])


def test_labels_describe_each_degradation():
    texts = [
        ALL.describe(i, p)
        for i, p in enumerate(ALL.draw_params(np.random.default_rng(0), np.arange(13), 64))
    ]
    assert texts[6].startswith("jpeg (q=") and texts[12].startswith("occlusion (")
    assert distortions.describe_named("mine", np.array([0.5, 2.0, 0, 0])) == "mine (0.5, 2)"
    assert distortions.describe_named("mine", np.zeros(4)) == "mine (0)"
    assert ALL.describe(12, np.array([3.0, 4.0, 20.0])) == "occlusion (20 px at x=3, y=4)"


def test_the_cpu_chunking_changes_no_pixel(monkeypatch):
    """Float arithmetic runs CPU_CHUNK images at a time on the CPU; images are independent."""
    images = _uint8_images(40, 32)
    ids = np.repeat(np.arange(len(BUILTIN_DISTORTIONS)), 40 // 13 + 1)[:40]
    params = ALL.draw_params(np.random.default_rng(8), ids, 32)
    together = ALL.apply_uint8(images, ids, params)
    monkeypatch.setattr(distortions, "CPU_CHUNK", 2)
    assert torch.equal(ALL.apply_uint8(images, ids, params), together)
