"""Distortions: parameter ranges (PROTOCOL §2), seeding, and equality with torchvision per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from dpsim import distortions as D

N = 20_000


def _params(name: str, seed: int = 0, size: int = 64) -> np.ndarray:
    ids = np.full(N, D.DISTORTIONS.index(name))
    return D.draw_params(np.random.default_rng(seed), ids, size)


def test_protocol_order_and_names():
    assert D.DISTORTIONS == ("rotate", "translate", "darken", "color", "blur", "zoom_in")


def test_rotation_angles_within_30_to_330_degrees():
    angle = _params("rotate")[:, 0]
    assert angle.min() >= 30 and angle.max() <= 330
    assert angle.min() < 31 and angle.max() > 329  # the whole range is used


def test_translation_is_whole_pixels_within_half_the_image():
    shift = _params("translate", size=64)
    assert np.all(shift == np.round(shift))
    assert shift.min() == -32 and shift.max() == 32


def test_brightness_factor_within_0_1_and_0_5():
    factor = _params("darken")[:, 0]
    assert factor.min() >= 0.1 and factor.max() <= 0.5


def test_hue_shift_within_half_a_turn():
    hue = _params("color")[:, 0]
    assert hue.min() >= -0.5 and hue.max() <= 0.5
    assert hue.min() < -0.49 and hue.max() > 0.49


def test_blur_kernel_odd_11_to_21_and_sigma_4_to_10():
    params = _params("blur")
    sizes, counts = np.unique(params[:, 0], return_counts=True)
    assert sizes.tolist() == [11, 13, 15, 17, 19, 21]
    assert counts.min() > N / 6 * 0.9  # each size about equally likely
    assert params[:, 1].min() >= 4 and params[:, 1].max() <= 10


def test_zoom_scale_within_1_1_and_2():
    scale = _params("zoom_in")[:, 0]
    assert scale.min() >= 1.1 and scale.max() <= 2.0


def test_parameters_reproducible_by_seed():
    assert np.array_equal(_params("rotate", seed=3), _params("rotate", seed=3))
    assert not np.array_equal(_params("rotate", seed=3), _params("rotate", seed=4))


def test_pairs_are_distinct_and_uniform_over_the_30_ordered_pairs():
    first, second = D.draw_distinct_pairs(np.random.default_rng(0), 60_000)
    assert np.all(first != second)
    counts = np.bincount(first * 6 + second, minlength=36).reshape(6, 6)
    assert np.all(np.diag(counts) == 0)
    off_diagonal = counts[~np.eye(6, dtype=bool)]
    assert off_diagonal.min() > 2000 * 0.85 and off_diagonal.max() < 2000 * 1.15


def _torchvision_reference(image: torch.Tensor, name: str, a: float, b: float) -> torch.Tensor:
    """The same distortion through torchvision's functional API, one image at a time."""
    if name == "rotate":
        return TF.rotate(image, a)
    if name == "translate":
        return TF.affine(image, angle=0.0, translate=[int(a), int(b)], scale=1.0, shear=[0.0])
    if name == "zoom_in":
        return TF.affine(image, angle=0.0, translate=[0, 0], scale=a, shear=[0.0])
    if name == "darken":
        return TF.adjust_brightness(image, a)
    if name == "color":
        return TF.adjust_hue(image, a)
    return TF.gaussian_blur(image, [int(a), int(a)], [b, b])


@pytest.mark.parametrize("name", D.DISTORTIONS)
def test_batch_equals_torchvision_applied_image_by_image(name):
    generator = np.random.default_rng(11)
    images = torch.from_numpy(generator.random((12, 3, 64, 64), dtype=np.float32))
    ids = np.full(12, D.DISTORTIONS.index(name))
    params = D.draw_params(generator, ids, 64)
    batch = D.apply(images, ids, params)
    for i in range(len(images)):
        expected = _torchvision_reference(images[i], name, *params[i])
        torch.testing.assert_close(batch[i], expected, atol=1e-5, rtol=0)


def test_mixed_batch_applies_each_images_own_distortion():
    generator = np.random.default_rng(5)
    images = torch.from_numpy(generator.random((30, 3, 48, 48), dtype=np.float32))
    ids = np.tile(np.arange(6), 5)
    params = D.draw_params(generator, ids, 48)
    batch = D.apply(images, ids, params)
    for i in range(30):
        expected = _torchvision_reference(images[i], D.DISTORTIONS[ids[i]], *params[i])
        torch.testing.assert_close(batch[i], expected, atol=1e-5, rtol=0)


def test_geometric_distortions_fill_uncovered_area_black():
    white = torch.ones(1, 3, 64, 64)
    rotated = D.apply(white, np.array([0]), np.array([[45.0, 0.0]]))
    assert torch.all(rotated[0, :, 0, 0] == 0) and torch.all(rotated[0, :, 32, 32] == 1)
    shifted = D.apply(white, np.array([1]), np.array([[10.0, -5.0]]))
    assert torch.all(shifted[0, :, :, :10] == 0) and torch.all(shifted[0, :, -5:, :] == 0)
    assert torch.all(shifted[0, :, :-5, 10:] == 1)


def test_uint8_path_rounds_and_keeps_range():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    ids = np.arange(6)
    params = D.draw_params(np.random.default_rng(0), ids, 32)
    out = D.apply_uint8(images, ids, params)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    expected = (D.apply(images.float() / 255, ids, params) * 255).round().clamp(0, 255)
    assert torch.equal(out, expected.to(torch.uint8))


def test_gaussian_kernel_matches_the_closed_form():
    kernel = D.gaussian_kernels(np.array([11]), np.array([4.0]), 21)[0]
    offsets = np.arange(-5, 6)
    expected = np.exp(-(offsets**2) / (2 * 16.0))
    expected /= expected.sum()
    assert np.allclose(kernel[5:16], expected) and np.all(kernel[:5] == 0) and kernel.sum() == 1


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        D.apply(torch.rand(3, 64, 64), np.array([0]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="one id and 2 parameters"):
        D.apply(torch.rand(2, 3, 8, 8), np.array([0]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"0\.\.5"):
        D.apply(torch.rand(1, 3, 8, 8), np.array([6]), np.zeros((1, 2)))
    with pytest.raises(TypeError, match="uint8"):
        D.apply_uint8(torch.rand(1, 3, 8, 8), np.array([0]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="did you mean 'zoom_in'"):
        D.distortion_id("zoom")


def test_parameters_follow_two_uniforms_per_image():
    """Drawing for a batch equals drawing image by image with the same generator state."""
    ids = np.array([0, 4, 1])
    together = D.draw_params(np.random.default_rng(9), ids, 64)
    generator = np.random.default_rng(9)
    uniforms = generator.random((3, 2))
    assert together[0, 0] == pytest.approx(30 + 300 * uniforms[0, 0])
    assert together[1, 1] == pytest.approx(4 + 6 * uniforms[1, 1])
    assert together[2, 1] == pytest.approx(np.round(-32 + 64 * uniforms[2, 1]))


@pytest.mark.parametrize("name", D.DISTORTIONS)
def test_quantised_images_with_ties_match_torchvision(name):
    """uint8 photos have many equal channels (greys, saturated colours): hue tie rules matter."""
    generator = np.random.default_rng(12)
    levels = torch.tensor([0, 64, 128, 255], dtype=torch.float32) / 255
    images = levels[torch.from_numpy(generator.integers(0, 4, (8, 3, 32, 32)))]
    ids = np.full(8, D.DISTORTIONS.index(name))
    params = D.draw_params(generator, ids, 32)
    batch = D.apply(images, ids, params)
    for i in range(len(images)):
        expected = _torchvision_reference(images[i], name, *params[i])
        torch.testing.assert_close(batch[i], expected, atol=1e-5, rtol=0)
