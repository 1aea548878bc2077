"""Images/s of each degradation, batched by dpsim, against its reference image by image.

For every one of the seven degradations (jpeg, noise, contrast, saturation, pixelate, sharpen,
occlusion) the same uint8 64x64 images and the same drawn parameters go through
``DistortionSet.apply_uint8`` in batches and through the reference the tests compare with
(torchvision's functional API or PIL), one image at a time, as a user's script would. The two
sides are timed in turns (dpsim, reference, dpsim, ...) and each round's ratio is kept.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from timing import interleaved_rates, round_ratios, summary
from torchvision.transforms.v2 import functional as TF2

from dpsim import distortions
from dpsim.names import DEGRADATIONS


def _pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.numpy().transpose(1, 2, 0))


def _jpeg(image: torch.Tensor, p: np.ndarray) -> object:
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="JPEG", quality=int(p[0]))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _noise(image: torch.Tensor, p: np.ndarray) -> object:
    torch.manual_seed(int(p[1]))
    return TF2.gaussian_noise(image.float() / 255, sigma=float(p[0]))


def _pixelate(image: torch.Tensor, p: np.ndarray) -> object:
    size = image.shape[-1]
    small = max(1, size // int(p[0]))
    return _pil(image).resize((small, small), Image.BOX).resize((size, size), Image.NEAREST)


def _occlusion(image: torch.Tensor, p: np.ndarray) -> object:
    left, top, side = (int(v) for v in p[:3])
    return TF.erase(image, top, left, side, side, 0)


#: The reference of each degradation, on one uint8 image and its parameter row.
REFERENCES = {
    "jpeg": _jpeg,
    "noise": _noise,
    "contrast": lambda image, p: TF.adjust_contrast(image, float(p[0])),
    "saturation": lambda image, p: TF.adjust_saturation(image, float(p[0])),
    "pixelate": _pixelate,
    "sharpen": lambda image, p: TF.adjust_sharpness(image, float(p[0])),
    "occlusion": _occlusion,
}


def one_distortion(name: str, images: torch.Tensor, batch: int, rounds: int, device: str) -> dict:
    dset = distortions.of_names([name, "blur"])  # any partner: only id 0 is applied
    ids = np.zeros(len(images), dtype=np.int64)
    params = dset.draw_params(np.random.default_rng(0), ids, images.shape[-1])
    on_device = images.to(device)

    def batched() -> None:
        for lo in range(0, len(images), batch):
            dset.apply_uint8(
                on_device[lo : lo + batch], ids[lo : lo + batch], params[lo : lo + batch]
            )
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def reference() -> None:
        for image, row in zip(images, params, strict=True):
            REFERENCES[name](image, row)

    batched(), reference()  # warm-up
    rates = interleaved_rates({"dpsim": batched, "reference": reference}, len(images), rounds)
    return {
        "dpsim_images_per_s": summary(rates["dpsim"], 1),
        "reference_images_per_s": summary(rates["reference"], 1),
        "ratio": summary(round_ratios(rates["dpsim"], rates["reference"]), 2),
    }


def run(images: int = 512, batch: int = 512, rounds: int = 3, device: str = "cpu") -> dict:
    generator = np.random.default_rng(1)
    pixels = torch.from_numpy(generator.integers(0, 256, (images, 3, 64, 64), dtype=np.uint8))
    return {
        "what": "images/s of each degradation: dpsim batched vs its reference image by image",
        "images": images,
        "batch_size": batch,
        "device": device,
        "rounds": rounds,
        "distortions": {n: one_distortion(n, pixels, batch, rounds, device) for n in DEGRADATIONS},
    }
