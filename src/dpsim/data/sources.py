"""Image sources for the context triplets: train / val / test sets of square uint8 RGB images.

Sources (``images.source`` in the config):

- ``embedded``: colour photographs that ship inside installed packages (scikit-image's data
  module, matplotlib's sample data), downscaled by a few factors and cut into non-overlapping
  tiles. Needs no network; the default. Tiles of one photo can land in different splits, so the
  splits share photographs (never pixels of the same tile): fine for a demo, not for claims.
- ``folder``: every image under a folder, centre-cropped and resized; decoded by
  :func:`dpsim.data.image_file.read_rgb` (16-bit scaled, transparency composited on black).
- ``stl10`` / ``svhn``: the adaptation study's datasets through ``torchvision.datasets``; the
  official training split is divided 80/20 into train/val, the official test split is the test set.

Every source returns the same thing: a mapping ``split -> ImageSet``, split deterministically from
the config seed.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from dpsim import io
from dpsim.data import image_file
from dpsim.seeding import rng

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class DatasetMissingError(FileNotFoundError):
    """A dataset that must be downloaded or placed by hand is not where it should be."""


@dataclass
class ImageSet:
    """Images ``(N, 3, S, S)`` uint8 and one provenance row per image."""

    images: np.ndarray
    index: pd.DataFrame

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, S, S), got {self.images.shape}")
        if len(self.index) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.index)} index rows")

    def __len__(self) -> int:
        return len(self.images)

    def take(self, rows: np.ndarray) -> ImageSet:
        """The subset at ``rows`` (in that order)."""
        return ImageSet(self.images[rows], self.index.iloc[rows].reset_index(drop=True))


# ---------------------------------------------------------------- embedded photographs


def _skimage_photo(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[0] if isinstance(image, tuple) else image  # stereo pair: left view

    return load


def _matplotlib_photo(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data(filename, asfileobj=True) as handle:  # type: ignore[union-attr]
            return np.asarray(Image.open(handle).convert("RGB"))

    return load


#: Colour photographs shipped inside installed packages; no download is ever made.
EMBEDDED_PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage_photo("astronaut"),
    "chelsea": _skimage_photo("chelsea"),
    "coffee": _skimage_photo("coffee"),
    "hubble_deep_field": _skimage_photo("hubble_deep_field"),
    "immunohistochemistry": _skimage_photo("immunohistochemistry"),
    "motorcycle": _skimage_photo("stereo_motorcycle"),
    "retina": _skimage_photo("retina"),
    "rocket": _skimage_photo("rocket"),
    "grace_hopper": _matplotlib_photo("grace_hopper.jpg"),
}


def tile_photo(photo: np.ndarray, size: int, scale: float) -> tuple[np.ndarray, list[tuple]]:
    """Downscale an ``(H, W, 3)`` photo by ``scale`` and cut it into non-overlapping tiles.

    Returns tiles ``(K, 3, size, size)`` and their (row, column) pixel origins in the scaled photo.
    """
    image = Image.fromarray(np.ascontiguousarray(photo[..., :3]))
    if scale != 1.0:
        width, height = (max(1, round(d * scale)) for d in image.size)
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    rows, cols = pixels.shape[0] // size, pixels.shape[1] // size
    origins = [(r * size, c * size) for r in range(rows) for c in range(cols)]
    tiles = np.stack([pixels[y : y + size, x : x + size] for y, x in origins]) if origins else None
    if tiles is None:
        return np.zeros((0, 3, size, size), np.uint8), []
    return tiles.transpose(0, 3, 1, 2).copy(), origins


def embedded_images(photos: Sequence[str], size: int, scales: Sequence[float], min_std: float):
    """All tiles of the embedded photos, near-flat tiles dropped; an :class:`ImageSet`."""
    tiles, rows = [], []
    for name in photos:
        photo = EMBEDDED_PHOTOS[name]()
        for scale in scales:
            cut, origins = tile_photo(photo, size, scale)
            keep = cut.reshape(len(cut), -1).std(axis=1) >= min_std
            tiles.append(cut[keep])
            rows += [
                {"origin": name, "scale": scale, "y": y, "x": x}
                for (y, x), kept in zip(origins, keep, strict=True)
                if kept
            ]
    return ImageSet(np.concatenate(tiles), pd.DataFrame(rows))


# ---------------------------------------------------------------- folder of images


def folder_images(folder: str | Path, size: int, skip_unreadable: bool) -> ImageSet:
    """Every image file under ``folder`` (recursive), centre-cropped square, resized to ``size``."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"images.folder.path: {root} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"images.folder.path: no image files ({', '.join(IMAGE_SUFFIXES)}) under {root}"
        )
    images, rows, bad = [], [], []
    notice = image_file.AlphaNotice(f"images.folder.path {root}")
    for path in files:
        try:
            images.append(_square_resize(path, size, notice))
            rows.append({"origin": str(path.relative_to(root))})
        except (OSError, ValueError) as error:
            bad.append(f"{path}: {error}")
    notice.warn()
    if bad and not skip_unreadable:
        shown = "\n  ".join(bad[:20]) + (
            f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        )
        raise ValueError(
            f"{len(bad)} of {len(files)} image files under {root} cannot be read:\n  {shown}\n"
            "Remove or fix them, or set images.folder.skip_unreadable: true to skip them."
        )
    for line in bad:
        log.warning("skipped unreadable image %s", line)
    if not images:
        raise ValueError(f"none of the {len(files)} image files under {root} could be read")
    return ImageSet(np.stack(images), pd.DataFrame(rows))


def _square_resize(path: Path, size: int, notice: image_file.AlphaNotice) -> np.ndarray:
    image = image_file.read_rgb(path, notice)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image).transpose(2, 0, 1).copy()


# ---------------------------------------------------------------- torchvision datasets


@dataclass(frozen=True)
class TorchvisionSource:
    """Where a torchvision dataset lives, for loading and for the missing-data message."""

    class_name: str
    splits: tuple[str, str]  # names of the official train and test splits
    url: str
    expected: str  # a file that exists once the dataset is in place
    size_note: str


TORCHVISION_SOURCES = {
    "stl10": TorchvisionSource(
        "STL10",
        ("train", "test"),
        "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
        "stl10_binary/train_X.bin",
        "2.5 GB archive; extract it so that stl10_binary/ lies inside the root",
    ),
    "svhn": TorchvisionSource(
        "SVHN",
        ("train", "test"),
        "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
        "train_32x32.mat",
        "train_32x32.mat (182 MB) and test_32x32.mat (64 MB) from the same folder",
    ),
}


def torchvision_images(
    name: str, root: str | Path, size: int, download: bool, limit: int | None, seed: int
) -> tuple[ImageSet, ImageSet]:
    """Official (train, test) images of STL-10 or SVHN, resized to ``size`` (antialiased)."""
    import torchvision.datasets

    source = TORCHVISION_SOURCES[name]
    root = Path(root)
    if download:
        _check_reachable(source.url, name, root)
    cls = getattr(torchvision.datasets, source.class_name)
    sets = []
    for split in source.splits:
        try:
            dataset = cls(str(root), split=split, download=download)
        except RuntimeError as error:
            raise DatasetMissingError(_missing_message(name, root, str(error))) from None
        data = np.asarray(dataset.data)
        rows = np.arange(len(data))
        if limit is not None and limit < len(data):
            rows = np.sort(rng(seed, "images", name, split, "limit").permutation(len(data))[:limit])
        resized = resize_batch(data[rows], size)
        index = pd.DataFrame({"origin": f"{name}/{split}", "source_index": rows})
        sets.append(ImageSet(resized, index))
    return sets[0], sets[1]


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 ``(N, 3, H, W)`` images to ``size`` with antialiased bilinear filtering."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return np.ascontiguousarray(images)
    out = []
    for start in range(0, len(images), 1024):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + 1024])).float()
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True)
        out.append(batch.round().clamp(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out)


def _missing_message(name: str, root: Path, detail: str) -> str:
    source = TORCHVISION_SOURCES[name]
    return (
        f"images.source '{name}': the dataset is not under {root} ({detail.strip()}).\n"
        f"Download {source.url} ({source.size_note}) into {root}, so that "
        f"{root / source.expected} exists, or set images.torchvision.download: true on a machine "
        "with internet access. The offline default is images.source: embedded."
    )


def _check_reachable(url: str, name: str, root: Path, timeout: float = 5.0) -> None:
    """Fail within ``timeout`` seconds, with the manual steps, when the host is unreachable."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise DatasetMissingError(
            _missing_message(name, root, f"cannot reach {parsed.hostname}: {error}")
        ) from None


# ---------------------------------------------------------------- splits


def split_indices(count: int, val_fraction: float, test_fraction: float | None, seed: int):
    """Seeded shuffle into train / val / test index arrays (each sorted).

    ``test_fraction=None`` means the source has its own test split: only train / val are cut.
    """
    order = rng(seed, "images", "split").permutation(count)
    n_test = 0 if test_fraction is None else round(test_fraction * count)
    n_val = round(val_fraction * (count - n_test))
    if count - n_test - n_val < 1 or n_val < 1 or (test_fraction is not None and n_test < 1):
        raise ValueError(
            f"{count} images are too few to split with val_fraction={val_fraction} and "
            f"test_fraction={test_fraction}: every split needs at least one image"
        )
    test, val, train = np.split(order, [n_test, n_test + n_val])
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def build_image_splits(images: dict, seed: int) -> dict[str, ImageSet]:
    """The train / val / test image sets described by the config's ``images`` section."""
    source, size = images["source"], images["size"]
    if source in TORCHVISION_SOURCES:
        options = images["torchvision"]
        train, test = torchvision_images(
            source, options["root"], size, options["download"], options["limit"], seed
        )
        parts = split_indices(len(train), images["val_fraction"], None, seed)
        return {"train": train.take(parts["train"]), "val": train.take(parts["val"]), "test": test}
    if source == "embedded":
        options = images["embedded"]
        pool = embedded_images(options["photos"], size, options["scales"], options["min_std"])
    elif source == "folder":
        options = images["folder"]
        pool = folder_images(options["path"], size, options["skip_unreadable"])
    else:
        raise ValueError(f"images.source: unknown source {source!r}")
    parts = split_indices(len(pool), images["val_fraction"], images["test_fraction"], seed)
    return {split: pool.take(rows) for split, rows in parts.items()}


def write_split(image_set: ImageSet, images_path: str | Path, index_path: str | Path) -> None:
    """Write one split: images as ``.npy`` (memory-mappable) and provenance as Parquet."""
    io.write_npy(image_set.images, images_path)
    io.write_parquet(image_set.index, index_path)


def read_split_images(path: str | Path) -> np.ndarray:
    """Images of one split written by :func:`write_split`, memory-mapped."""
    return np.load(path, mmap_mode="r")
