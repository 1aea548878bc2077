"""An offline MOS set with synthetic quality scores, for the default (offline) run and the tests.

The real image-quality sets (KADID-10k, TID2013) need a download; this fixture lets the MOS
correlation step run end to end without one. It is written in the generic CSV layout of
:mod:`dpsim.data.mos` (so it loads through the same reader as a user's own set)::

    {out_dir}/mos.csv              reference,distorted,mos,distortion,strength,param1,param2,noise
    {out_dir}/reference/ref_0000.png
    {out_dir}/distorted/dist_00000.png
    {out_dir}/manifest.json        synthetic_mos: true, the observer, the seed, the counts
    {out_dir}/README.txt           the same warning in words

Row ``i`` distorts reference ``i mod N`` with one of the six study distortions
(:data:`dpsim.distortions.DISTORTIONS`, drawn uniformly) at parameters drawn by
:func:`dpsim.distortions.draw_params` in the study's ranges, then adds Gaussian pixel noise of a
standard deviation drawn uniformly in ``[0, noise]`` (on the [0, 1] scale; ``noise=0`` disables).

**The scores are synthetic, not human judgments.** A simulated observer (:class:`MosObserver`)
scores each distorted image ``x`` against its reference ``r``::

    impairment = w_rmse * min(RMSE(x, r) / rmse_scale, 1)       pixel difference, [0, 1] scale
               + w_strength * strength                          parameter strength, [0, 1]
               + w_kind * severity[distortion]                  distortion-specific offset
    MOS = clip(5 - 4 * impairment + N(0, rater_sd), 1, 5)

with weights summing to 1. ``strength`` places the drawn parameters within the study range
(0 = mildest, 1 = strongest; see :func:`distortion_strength`). Any report built on the fixture
must say that its MOS correlations come from these synthetic scores.
"""

from __future__ import annotations

import csv
import io as text_io
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from dpsim import distortions
from dpsim.data.mos import FIXTURE_CSV, FIXTURE_MANIFEST
from dpsim.io import atomic_dir, write_json
from dpsim.names import DISTORTIONS
from dpsim.seeding import rng

log = logging.getLogger(__name__)

#: Rows distorted per batch (bounds memory for large fixtures).
CHUNK = 256
CSV_COLUMNS = (
    "reference",
    "distorted",
    "mos",
    "distortion",
    "strength",
    "param1",
    "param2",
    "noise",
)


def _default_severity() -> dict[str, float]:
    return {
        "rotate": 0.8,
        "translate": 0.5,
        "darken": 0.4,
        "color": 0.7,
        "blur": 0.6,
        "zoom_in": 0.5,
    }


@dataclass(frozen=True)
class MosObserver:
    """The simulated observer behind the fixture's scores (formula in the module docstring).

    ``severity`` is how much the simulated observer dislikes each kind of distortion beyond its
    pixel difference, in [0, 1]: an arbitrary but fixed choice, so that the score is not a
    function of RMSE alone (which would favour pixel metrics by construction).
    """

    rmse_scale: float = 0.4
    w_rmse: float = 0.5
    w_strength: float = 0.3
    w_kind: float = 0.2
    rater_sd: float = 0.15
    severity: dict[str, float] = field(default_factory=_default_severity)

    def __post_init__(self) -> None:
        weights = (self.w_rmse, self.w_strength, self.w_kind)
        if min(weights) < 0 or not np.isclose(sum(weights), 1.0):
            raise ValueError(f"observer weights must be >= 0 and sum to 1, got {weights}")
        if set(self.severity) != set(DISTORTIONS):
            raise ValueError(
                f"observer severity needs one value per distortion {list(DISTORTIONS)}, "
                f"got {sorted(self.severity)}"
            )
        if self.rmse_scale <= 0 or self.rater_sd < 0:
            raise ValueError(
                f"rmse_scale must be > 0 and rater_sd >= 0, got {self.rmse_scale}, {self.rater_sd}"
            )

    def score(
        self, rmse: np.ndarray, strength: np.ndarray, ids: np.ndarray, noise: np.ndarray
    ) -> np.ndarray:
        """MOS in [1, 5] from pixel RMSE, strength, distortion ids and standard-normal draws."""
        severity = np.array([self.severity[name] for name in DISTORTIONS])[ids]
        impairment = (
            self.w_rmse * np.minimum(rmse / self.rmse_scale, 1.0)
            + self.w_strength * strength
            + self.w_kind * severity
        )
        return np.clip(5.0 - 4.0 * impairment + self.rater_sd * noise, 1.0, 5.0)


def distortion_strength(ids: np.ndarray, params: np.ndarray, image_size: int) -> np.ndarray:
    """Where each drawn parameter lies in its study range: 0 = mildest, 1 = strongest.

    rotate: angular distance from upright, 30-180 degrees; translate: shift length over its
    maximum (half the image along both axes); darken: factor 0.5 down to 0.1; color: absolute hue
    shift 0-0.5 turn; blur: sigma 4-10; zoom_in: scale 1.1-2.
    """
    ids = np.asarray(ids, dtype=np.int64)
    a, b = params[:, 0], params[:, 1]
    lo_rot = distortions.ROTATE_DEGREES[0]
    angle = np.minimum(a % 360.0, 360.0 - a % 360.0)
    max_shift = distortions.TRANSLATE_FRACTION * image_size
    lo_dark, hi_dark = distortions.DARKEN_FACTOR
    lo_sigma, hi_sigma = distortions.BLUR_SIGMA
    lo_zoom, hi_zoom = distortions.ZOOM_SCALE
    by_kind = np.stack(
        [
            (angle - lo_rot) / (180.0 - lo_rot),
            np.hypot(a, b) / np.hypot(max_shift, max_shift),
            (hi_dark - a) / (hi_dark - lo_dark),
            np.abs(a) / max(abs(v) for v in distortions.HUE_SHIFT),
            (b - lo_sigma) / (hi_sigma - lo_sigma),
            (a - lo_zoom) / (hi_zoom - lo_zoom),
        ]
    )
    return np.clip(by_kind[ids, np.arange(len(ids))], 0.0, 1.0)


def write_mos_fixture(
    out_dir: str | Path,
    images: np.ndarray,
    count: int,
    seed: int,
    *,
    noise: float = 0.03,
    observer: MosObserver | None = None,
) -> Path:
    """Write the synthetic MOS fixture (layout and observer in the module docstring).

    Args:
        out_dir: folder to create (replaced atomically if it exists).
        images: reference images, uint8 ``(N, 3, S, S)``; row ``i`` uses image ``i mod N``.
        count: number of (reference, distorted) rows.
        seed: config seed; every draw comes from ``dpsim.seeding.rng(seed, "mos_fixture")``.
        noise: largest standard deviation of the added pixel noise, on the [0, 1] scale.
        observer: the simulated observer (default :class:`MosObserver`).

    Returns:
        ``out_dir`` as a Path; read it with :func:`dpsim.data.mos.read_fixture_set`.
    """
    images = _check_images(images)
    if not isinstance(count, int | np.integer) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie in [0, 1], got {noise}")
    observer = observer or MosObserver()
    size = images.shape[-1]
    generator = rng(seed, "mos_fixture")
    ids = generator.integers(0, len(DISTORTIONS), size=count)
    params = distortions.draw_params(generator, ids, size)
    noise_sd = generator.uniform(0.0, noise, size=count)
    ref_index = np.arange(count) % len(images)
    width = max(5, len(str(count - 1)))
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as temp:
        (temp / "reference").mkdir()
        (temp / "distorted").mkdir()
        ref_names = _write_references(temp, images[: min(count, len(images))])
        rmse = np.empty(count)
        names = [f"distorted/dist_{i:0{width}d}.png" for i in range(count)]
        for start in tqdm(range(0, count, CHUNK), desc="MOS fixture", unit="batch", leave=False):
            rows = slice(start, min(start + CHUNK, count))
            refs = images[ref_index[rows]]
            out = _distort(refs, ids[rows], params[rows], noise_sd[rows], generator)
            rmse[rows] = _rmse(out, refs)
            for name, image in zip(names[rows], out, strict=True):
                _save_png(image, temp / name)
        strength = distortion_strength(ids, params, size)
        mos = observer.score(rmse, strength, ids, generator.standard_normal(count))
        table = _csv_text(ref_names, ref_index, names, mos, ids, strength, params, noise_sd)
        (temp / FIXTURE_CSV).write_text(table, encoding="utf-8")
        manifest = _manifest(count, len(images), size, seed, noise, observer, ids)
        write_json(manifest, temp / FIXTURE_MANIFEST)
        (temp / "README.txt").write_text(_readme(manifest), encoding="utf-8")
    log.info("wrote MOS fixture with %d synthetic scores to %s", count, out_dir)
    return out_dir


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"images must be uint8 of shape (N, 3, S, S), got {images.dtype} {images.shape}"
        )
    if images.shape[2] != images.shape[3] or len(images) == 0:
        raise ValueError(f"images must be square and at least one, got shape {images.shape}")
    return images


def _write_references(folder: Path, images: np.ndarray) -> list[str]:
    names = [f"reference/ref_{i:04d}.png" for i in range(len(images))]
    for name, image in zip(names, images, strict=True):
        _save_png(image, folder / name)
    return names


def _distort(
    refs: np.ndarray,
    ids: np.ndarray,
    params: np.ndarray,
    noise_sd: np.ndarray,
    generator: np.random.Generator,
) -> np.ndarray:
    """Study distortion, then Gaussian pixel noise, on a batch; uint8 ``(n, 3, S, S)``."""
    with torch.no_grad():
        out = distortions.apply_uint8(torch.from_numpy(refs), ids, params).numpy()
    pixel_noise = generator.standard_normal(out.shape) * noise_sd[:, None, None, None]
    noisy = out.astype(np.float64) / 255.0 + pixel_noise
    return np.clip(np.round(noisy * 255.0), 0, 255).astype(np.uint8)


def _rmse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image RMS difference on the [0, 1] scale."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    return np.sqrt(np.mean(diff**2, axis=(1, 2, 3)))


def _save_png(image: np.ndarray, path: Path) -> None:
    Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(path, format="PNG")


def _csv_text(
    ref_names: list[str],
    ref_index: np.ndarray,
    names: list[str],
    mos: np.ndarray,
    ids: np.ndarray,
    strength: np.ndarray,
    params: np.ndarray,
    noise_sd: np.ndarray,
) -> str:
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, name in enumerate(names):
        writer.writerow(
            [
                ref_names[ref_index[i]],
                name,
                f"{mos[i]:.4f}",
                DISTORTIONS[ids[i]],
                f"{strength[i]:.4f}",
                f"{params[i, 0]:.6g}",
                f"{params[i, 1]:.6g}",
                f"{noise_sd[i]:.4f}",
            ]
        )
    return buffer.getvalue()


def _manifest(
    count: int,
    references: int,
    size: int,
    seed: int,
    noise: float,
    observer: MosObserver,
    ids: np.ndarray,
) -> dict[str, object]:
    return {
        "synthetic_mos": True,
        "warning": "MOS values are produced by a simulated observer, not by human raters.",
        "score_formula": (
            "impairment = w_rmse * min(RMSE / rmse_scale, 1) + w_strength * strength "
            "+ w_kind * severity[distortion]; MOS = clip(5 - 4 * impairment "
            "+ N(0, rater_sd), 1, 5)"
        ),
        "observer": asdict(observer),
        "higher_is_better": True,
        "count": count,
        "references": min(count, references),
        "image_size": size,
        "seed": seed,
        "rng_key": "mos_fixture",
        "max_pixel_noise_sd": noise,
        "distortion_counts": {name: int(np.sum(ids == k)) for k, name in enumerate(DISTORTIONS)},
        "csv": FIXTURE_CSV,
        "csv_columns": list(CSV_COLUMNS),
    }


def _readme(manifest: dict[str, object]) -> str:
    return (
        "Offline MOS fixture of dpsim (dpsim.data.mos_fixture).\n\n"
        "synthetic_mos: true\n"
        "THE SCORES IN mos.csv ARE SYNTHETIC, NOT HUMAN JUDGMENTS.\n\n"
        f"Each of the {manifest['count']} rows distorts one of {manifest['references']} "
        "reference images with one of the six study distortions (parameters drawn in the study "
        "ranges), adds Gaussian pixel noise, and gets a score from a simulated observer:\n\n"
        f"    {manifest['score_formula']}\n\n"
        f"Observer parameters: {manifest['observer']}\n"
        f"Seed: {manifest['seed']} (stream key 'mos_fixture'). Details: manifest.json.\n"
    )
