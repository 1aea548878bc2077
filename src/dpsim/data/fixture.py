"""An offline, BAPPS-format data set with synthetic human judgments, for the demo and the tests.

The tree has BAPPS's layout (PROTOCOL §8) so it loads through exactly the code path of the real
benchmark::

    {root}/2afc/{train,val}/{subset}/{ref,p0,p1}/000000.png   judge/000000.npy
    {root}/jnd/val/{subset}/{p0,p1}/000000.png                 same/000000.npy

Images are tiles of the embedded photographs. Subsets:

- ``traditional``: one of five classic distortions at a random strength t in [0, 1]: additive
  Gaussian noise (sigma 0-0.25), Gaussian blur (sigma 0-3 px), JPEG (quality 60 down to 5),
  contrast reduction (factor 1 down to 0.3) and a colour shift (hue up to 0.15 turn, saturation
  x0.4-1.6).
- ``superres``: down-sampling by a factor 1.5-4 and up-sampling back with a random filter
  (nearest, bilinear, bicubic), as super-resolution artefacts.

**The judgments are synthetic.** A simulated observer compares each distorted image with the
reference through ``D = RMS(blur(x) - blur(ref))`` (images in [0, 1], Gaussian blur sigma 1 px: a
crude contrast-sensitivity low-pass). In 2AFC, each of ``n`` raters (2 for train, 5 for val, as in
BAPPS) picks p1 as closer with probability ``sigmoid((D0 - D1) / noise)``; ``judge`` is the share
that did. In JND, the pair is (reference, distorted) and each of 3 raters answers "same" with
probability ``sigmoid((threshold - D) / noise)``; ``same`` is the share. Any report built on the
fixture must say that its BAPPS numbers come from these synthetic judgments.
"""

from __future__ import annotations

import io as bytes_io
import logging
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm.auto import tqdm

from dpsim.seeding import rng

log = logging.getLogger(__name__)

SUBSETS: tuple[str, ...] = ("traditional", "superres")
RATERS = {"train": 2, "val": 5, "jnd": 3}


@dataclass(frozen=True)
class ObserverModel:
    """The simulated observer behind the synthetic judgments (see the module docstring)."""

    blur_sigma: float = 1.0
    noise: float = 0.02
    jnd_threshold: float = 0.04


@dataclass(frozen=True)
class FixtureSpec:
    """Size and seed of the fixture; stored in its ``fixture.json``."""

    train_items: int = 256
    val_items: int = 128
    jnd_items: int = 128
    image_size: int = 64
    seed: int = 0
    observer: ObserverModel = ObserverModel()


# ---------------------------------------------------------------- distortions (HWC float [0, 1])


def _noise(image: np.ndarray, t: float, generator: np.random.Generator) -> np.ndarray:
    return image + generator.normal(0.0, 0.25 * t, image.shape)


def _blur(image: np.ndarray, t: float, _: np.random.Generator) -> np.ndarray:
    return ndimage.gaussian_filter(image, sigma=(3.0 * t, 3.0 * t, 0)) if t > 0 else image


def _jpeg(image: np.ndarray, t: float, _: np.random.Generator) -> np.ndarray:
    buffer = bytes_io.BytesIO()
    Image.fromarray(_to_uint8(image)).save(buffer, format="JPEG", quality=round(60 - 55 * t))
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64) / 255.0


def _contrast(image: np.ndarray, t: float, _: np.random.Generator) -> np.ndarray:
    mean = image.mean(axis=(0, 1), keepdims=True)
    return mean + (1.0 - 0.7 * t) * (image - mean)


def _color_shift(image: np.ndarray, t: float, generator: np.random.Generator) -> np.ndarray:
    hsv = np.asarray(Image.fromarray(_to_uint8(image)).convert("HSV"), dtype=np.float64) / 255.0
    hsv[..., 0] = (hsv[..., 0] + generator.choice((-1, 1)) * 0.15 * t) % 1.0
    hsv[..., 1] *= 1.0 + generator.choice((-0.6, 0.6)) * t
    shifted = Image.fromarray(_to_uint8(np.clip(hsv, 0, 1)), mode="HSV").convert("RGB")
    return np.asarray(shifted, dtype=np.float64) / 255.0


def _superres(image: np.ndarray, t: float, generator: np.random.Generator) -> np.ndarray:
    size = image.shape[0]
    factor = 1.5 + 2.5 * t
    small = max(2, round(size / factor))
    filters = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)
    chosen = filters[int(generator.integers(len(filters)))]
    pil = Image.fromarray(_to_uint8(image)).resize((small, small), Image.Resampling.BOX)
    return np.asarray(pil.resize((size, size), chosen), dtype=np.float64) / 255.0


Distortion = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
SUBSET_DISTORTIONS: dict[str, tuple[Distortion, ...]] = {
    "traditional": (_noise, _blur, _jpeg, _contrast, _color_shift),
    "superres": (_superres,),
}


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def distort(image: np.ndarray, subset: str, generator: np.random.Generator) -> np.ndarray:
    """One random distortion of ``subset`` at a random strength; uint8 HWC in and out."""
    choices = SUBSET_DISTORTIONS[subset]
    function = choices[int(generator.integers(len(choices)))]
    strength = float(generator.random())
    return _to_uint8(function(image.astype(np.float64) / 255.0, strength, generator))


# ---------------------------------------------------------------- the simulated observer


def observer_distance(a: np.ndarray, b: np.ndarray, observer: ObserverModel) -> float:
    """RMS difference of two uint8 HWC images after a Gaussian low-pass, on the [0, 1] scale."""
    sigma = (observer.blur_sigma, observer.blur_sigma, 0)
    low_a = ndimage.gaussian_filter(a.astype(np.float64) / 255.0, sigma)
    low_b = ndimage.gaussian_filter(b.astype(np.float64) / 255.0, sigma)
    return float(np.sqrt(np.mean((low_a - low_b) ** 2)))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def two_afc_judge(d0: float, d1: float, raters: int, observer: ObserverModel, generator) -> float:
    """Share of ``raters`` simulated people who find p1 closer to the reference."""
    p_one = _sigmoid((d0 - d1) / observer.noise)
    return float(generator.binomial(raters, p_one) / raters)


def jnd_same(distance: float, raters: int, observer: ObserverModel, generator) -> float:
    """Share of ``raters`` simulated people who judge the pair identical."""
    p_same = _sigmoid((observer.jnd_threshold - distance) / observer.noise)
    return float(generator.binomial(raters, p_same) / raters)


# ---------------------------------------------------------------- writing the tree


def _save_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _save_value(value: float, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array([value], dtype=np.float32))


def _resize(tile: np.ndarray, size: int) -> np.ndarray:
    """CHW uint8 tile -> HWC uint8 at ``size`` (bicubic), as BAPPS stores larger files."""
    image = Image.fromarray(tile.transpose(1, 2, 0))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image)


def write_two_afc(root: Path, split: str, subset: str, tiles: np.ndarray, spec: FixtureSpec):
    """Write one 2AFC subset: ref, two distorted versions, and the synthetic judge."""
    generator = rng(spec.seed, "fixture", "2afc", split, subset)
    folder = root / "2afc" / split / subset
    for index, tile in enumerate(tqdm(tiles, desc=f"fixture 2afc/{split}/{subset}", leave=False)):
        ref = _resize(tile, spec.image_size)
        p0, p1 = distort(ref, subset, generator), distort(ref, subset, generator)
        d0 = observer_distance(p0, ref, spec.observer)
        d1 = observer_distance(p1, ref, spec.observer)
        judge = two_afc_judge(d0, d1, RATERS[split], spec.observer, generator)
        name = f"{index:06d}"
        for part, image in (("ref", ref), ("p0", p0), ("p1", p1)):
            _save_png(image, folder / part / f"{name}.png")
        _save_value(judge, folder / "judge" / f"{name}.npy")


def write_jnd(root: Path, subset: str, tiles: np.ndarray, spec: FixtureSpec) -> None:
    """Write one JND subset: (reference, distorted) pairs and the synthetic share of "same"."""
    generator = rng(spec.seed, "fixture", "jnd", subset)
    folder = root / "jnd" / "val" / subset
    for index, tile in enumerate(tqdm(tiles, desc=f"fixture jnd/val/{subset}", leave=False)):
        ref = _resize(tile, spec.image_size)
        distorted = distort(ref, subset, generator)
        distance = observer_distance(distorted, ref, spec.observer)
        same = jnd_same(distance, RATERS["jnd"], spec.observer, generator)
        name = f"{index:06d}"
        _save_png(ref, folder / "p0" / f"{name}.png")
        _save_png(distorted, folder / "p1" / f"{name}.png")
        _save_value(same, folder / "same" / f"{name}.npy")


def write_fixture(root: str | Path, tiles: np.ndarray, spec: FixtureSpec) -> dict:
    """Write the whole fixture under ``root`` from uint8 ``(N, 3, S, S)`` tiles; returns its spec.

    Train items use the first half of a seeded shuffle of the tiles, val and JND the second half,
    so no tile appears in both training and evaluation data.
    """
    root = Path(root)
    tiles = np.asarray(tiles)
    if tiles.dtype != np.uint8 or tiles.ndim != 4 or tiles.shape[1] != 3 or len(tiles) < 2:
        raise ValueError(f"tiles must be uint8 (N >= 2, 3, S, S), got {tiles.dtype} {tiles.shape}")
    order = rng(spec.seed, "fixture", "tiles").permutation(len(tiles))
    train_pool, eval_pool = np.array_split(order, 2)

    def take(pool: np.ndarray, count: int, key: str) -> np.ndarray:
        picks = rng(spec.seed, "fixture", "pick", key).choice(
            pool, count, replace=count > len(pool)
        )
        return tiles[picks]

    for subset in SUBSETS:
        write_two_afc(root, "train", subset, take(train_pool, spec.train_items, f"t{subset}"), spec)
        write_two_afc(root, "val", subset, take(eval_pool, spec.val_items, f"v{subset}"), spec)
        write_jnd(root, subset, take(eval_pool, spec.jnd_items, f"j{subset}"), spec)
    description = {"synthetic_judgments": True, "subsets": list(SUBSETS), **asdict(spec)}
    log.info("fixture written under %s: %s", root, description)
    return description


def write_archives(root: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Pack a fixture tree into the three BAPPS archives, with the official member prefixes.

    ``twoafc_train.tar.gz`` holds ``train/...`` and ``twoafc_val.tar.gz`` holds ``val/...`` (both
    meant for ``dataset/2afc/``); ``jnd.tar.gz`` holds ``jnd/...`` (for ``dataset/``). Used to
    test the download path end to end against a local server.
    """
    root, out_dir = Path(root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    members = {"twoafc_train": root / "2afc" / "train", "twoafc_val": root / "2afc" / "val"}
    members["jnd"] = root / "jnd"
    written = {}
    for name, folder in members.items():
        path = out_dir / f"{name}.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            archive.add(folder, arcname=folder.name)
        written[name] = path
    return written
