"""Image files as people have them (any bit depth, colour mode, transparency) read as 8-bit RGB.

Every image a user hands to dpsim (the ``folder`` image source, MOS sets, ``dpsim distance``, a
BAPPS tree) is decoded by :func:`read_rgb`, so one picture gives the same pixels whichever way it
was saved. PIL's ``convert("RGB")`` alone is not enough: it *clips* 16-bit grey images (modes
``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, and ``I`` as older Pillow versions and some TIFFs give
them) at 255, so nearly every pixel turns white (one picture saved as 8-bit and as 16-bit PNG
scored 2.067 apart with random AlexNet at 128 px). And it drops an alpha channel, which exposes
whatever colour happens to be stored under transparent pixels. The rules:

- **16-bit grey** (``I;16*``, or ``I`` holding values in 0..65535) is scaled, not clipped:
  ``round(v * 255 / 65535)`` (exact: ``v = 257 k`` gives ``k``), then repeated into R, G, B.
- **16-bit RGB, RGBA and grey + alpha** (48/64/32-bit PNG, 16-bit RGB TIFF): Pillow already
  reduces these to 8 bit when it opens them (it keeps the high byte, within one level of the
  scaled value); they then follow the 8-bit rules.
- **Grey, bilevel, palette, CMYK, YCbCr**: PIL's conversion to RGB.
- **Transparency** (RGBA, LA, PA, premultiplied RGBa / La, or a palette / grey / RGB image with a
  transparent colour key): composited on **black**, ``round(c * alpha / 255)`` per channel
  (premultiplied alpha). Why black: a fully transparent pixel then contributes nothing, whatever
  colour it hides; the result does not depend on a viewer's background; and black is what the
  study's distortions fill empty areas with. An image whose alpha is 255 everywhere is unchanged.
  Each source warns once (:class:`AlphaNotice`) when it composited any image; flatten images
  yourself first to use another background.
- **32-bit float** (mode ``F``) has no defined range and is refused with a message.

Only the first frame of a multi-frame file (GIF, APNG, multi-page TIFF) is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["AlphaNotice", "ImageFileError", "read_rgb", "to_rgb"]

log = logging.getLogger(__name__)

#: Modes that carry an alpha channel (``RGBa`` and ``La`` are premultiplied).
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})

#: The largest value of a 16-bit sample.
MAX_16_BIT = 65535


class ImageFileError(ValueError):
    """An image file cannot be decoded, or holds pixels with no defined 8-bit meaning."""


class AlphaNotice:
    """Collects the files of one source whose transparent pixels :func:`read_rgb` composited on
    black, so that the source warns once (:meth:`warn`) instead of once per image.

    Args:
        source: How the warning names the source, e.g. ``"images.folder.path /data/photos"``.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.files: list[str] = []
        self.read = 0

    def warn(self) -> None:
        """Log one warning when any image read so far was composited (otherwise nothing)."""
        if not self.files:
            return
        log.warning(
            "%s: %d of %d images have transparent pixels; they were composited on black "
            "(colour x alpha / 255), e.g. %s. Flatten them onto another background first if "
            "black is not what you want.",
            self.source,
            len(self.files),
            self.read,
            self.files[0],
        )


def read_rgb(path: str | Path, notice: AlphaNotice | None = None) -> Image.Image:
    """Decode an image file as an 8-bit RGB PIL image by the rules of the module docstring.

    Args:
        path: The image file (any format PIL reads).
        notice: Where to record a file whose transparent pixels were composited on black; without
            one, such a file logs its own warning.

    Returns:
        A PIL image of mode ``RGB``, the size of the file's first frame.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageFileError: The file cannot be decoded, or its pixels have no 8-bit meaning; the
            message names the file.
    """
    try:
        with Image.open(path) as opened:
            opened.load()
            image, composited = to_rgb(opened)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {path} does not exist") from None
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ImageFileError(f"cannot read image {path}: {error}") from None
    if notice is not None:
        notice.read += 1
        if composited:
            notice.files.append(str(path))
    elif composited:
        log.warning("%s has transparent pixels; they were composited on black", path)
    return image


def to_rgb(image: Image.Image) -> tuple[Image.Image, bool]:
    """An opened PIL image as 8-bit RGB, and whether transparent pixels were composited on black.

    Raises:
        ValueError: A float image (mode ``F``), or an ``I`` image with values outside 0..65535.
    """
    key = image.info.get("transparency")
    if image.mode.startswith("I"):
        values = _sixteen_bit(image)
        grey = ((values * 255 + MAX_16_BIT // 2) // MAX_16_BIT).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        if not isinstance(key, int):
            return Image.fromarray(rgb), False
        alpha = np.where(values == key, 0, 255).astype(np.uint8)
    elif image.mode == "F":
        raise ValueError(
            "32-bit float pixels have no defined range; save the image as 8- or 16-bit"
        )
    elif image.mode in ALPHA_MODES or key is not None:
        rgba = np.asarray(image.convert("RGBA"))
        rgb, alpha = rgba[..., :3], rgba[..., 3]
    else:
        return image.convert("RGB"), False
    if bool((alpha == 255).all()):
        return Image.fromarray(np.ascontiguousarray(rgb)), False
    return Image.fromarray(composite_on_black(rgb, alpha)), True


def composite_on_black(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``round(rgb * alpha / 255)`` in integers: uint8 ``(H, W, 3)`` colour, ``(H, W)`` alpha.

    ``2 * rgb * alpha`` is even and 255 odd, so no value lies halfway and the integer form
    ``(rgb * alpha + 127) // 255`` is exact rounding.
    """
    product = rgb.astype(np.uint32) * alpha.astype(np.uint32)[..., None]
    return ((product + 127) // 255).astype(np.uint8)


def _sixteen_bit(image: Image.Image) -> np.ndarray:
    """The samples of a grey ``I``-family image as uint32, checked to lie in 0..65535."""
    values = np.asarray(image)
    low, high = int(values.min(initial=0)), int(values.max(initial=0))
    if low < 0 or high > MAX_16_BIT:
        raise ValueError(
            f"mode {image.mode} values span {low}..{high}, outside the 16-bit range "
            f"0..{MAX_16_BIT}; save the image as 8- or 16-bit"
        )
    return values.astype(np.uint32)
