"""The shared triplet pool: references with two different distortions each, reused by every context.

A pool draw of a split is a folder of shards plus ``manifest.json``::

    results/pool/{split}/draw{k}/
        manifest.json        spec (seed, sizes, input sha256), the rule that wrote the draw, and
                             each shard's record: file, bytes, sha256, triplets
        shard_00000.npz      ref, p0, p1: uint8 (n, 3, S, S); ref_index, triplet: int64 (n,);
        shard_00001.npz      d0, d1: int64 (n,) distortion ids (positions in the draw's
                             distortion set); params0, params1: float64 (n, W), W = the
                             set's width (2 for the study's six)

The manifest's spec records the distortion set (names, ranges, plug-ins) the draw was made with;
:attr:`Pool.distortions` gives its names, which the ids index and every context must rank.
Every random choice (reference order, distortion pair, parameters, a plug-in's generator) comes
from a generator seeded by the config seed, the split, the draw and the shard number, so shards
are reproducible one by one.
Shards are written atomically into ``.draw{k}.partial/``; a job that crashes resumes from the
shards already there (if the spec is unchanged), and the folder is renamed into place at the end.
:func:`load_pool` checks every shard's size and sha256 against the manifest and raises
:class:`~dpsim.integrity.CorruptIntermediateError` on a difference (:mod:`dpsim.integrity`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dpsim import contexts, integrity, io
from dpsim.distortions import STUDY, DistortionSet
from dpsim.seeding import rng, seed_sequence

log = logging.getLogger(__name__)

#: 2: the spec records the distortion set; format 1 (no set) was always the study's six.
POOL_FORMAT = 2
ARRAYS = ("ref", "p0", "p1", "ref_index", "triplet", "d0", "d1", "params0", "params1")
#: Arrays only some draws hold: ``judge`` (float64 shares) in a draw made from judgments.
OPTIONAL_ARRAYS = ("judge",)


@dataclass(frozen=True)
class PoolSpec:
    """Everything that determines a pool draw's content; stored in its manifest."""

    split: str
    draw: int
    triplets: int
    shard_size: int
    seed: int
    image_size: int
    images_sha256: str
    distortions: dict = field(default_factory=STUDY.spec)
    format: int = POOL_FORMAT

    @property
    def shard_count(self) -> int:
        return -(-self.triplets // self.shard_size)

    def shard_bounds(self, shard: int) -> tuple[int, int]:
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.triplets)


@dataclass
class Pool:
    """A loaded pool draw: every array of :data:`ARRAYS`, concatenated over shards."""

    ref: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    ref_index: np.ndarray
    triplet: np.ndarray
    d0: np.ndarray
    d1: np.ndarray
    params0: np.ndarray
    params1: np.ndarray
    distortions: tuple[str, ...] = STUDY.names
    judge: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ref)

    @property
    def judged(self) -> contexts.Judged:
        """What decides the judges of the draw's triplets under a context."""
        return contexts.Judged(self.d0, self.d1, self.distortions, self.judge)

    def labels(self, ranking: tuple[str, ...]) -> np.ndarray:
        """The context's judge for every triplet: 0 if p0 is the closer image, else 1."""
        return self.judged.labels(ranking)


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's shape, dtype and bytes."""
    digest = hashlib.sha256(f"{array.shape}|{array.dtype}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def reference_order(spec: PoolSpec, image_count: int) -> np.ndarray:
    """Reference image of each triplet: seeded permutations of the images, cycled to length."""
    generator = rng(spec.seed, "pool", spec.split, spec.draw, "references")
    rounds = -(-spec.triplets // image_count)
    order = np.concatenate([generator.permutation(image_count) for _ in range(rounds)])
    return order[: spec.triplets]


def plugin_seed(spec: PoolSpec, shard: int, start: int, side: str) -> int:
    """The seed of the plug-in generators of one batch (from ``start``) of p0 or p1 in a shard."""
    sequence = seed_sequence(spec.seed, "pool", spec.split, spec.draw, "plugin", shard, start, side)
    return int(sequence.generate_state(1, dtype=np.uint64)[0] & np.uint64(2**62 - 1))


def synthesize_shard(
    images: np.ndarray,
    spec: PoolSpec,
    shard: int,
    refs: np.ndarray,
    batch: int,
    device: str,
    dset: DistortionSet = STUDY,
) -> dict[str, np.ndarray]:
    """Draw and apply the distortions of one shard; returns the shard's arrays."""
    start, stop = spec.shard_bounds(shard)
    generator = rng(spec.seed, "pool", spec.split, spec.draw, "shard", shard)
    d0, d1 = dset.draw_pairs(generator, stop - start)
    params0 = dset.draw_params(generator, d0, spec.image_size)
    params1 = dset.draw_params(generator, d1, spec.image_size)
    ref_index = refs[start:stop]
    ref = np.ascontiguousarray(images[ref_index])
    p0, p1 = np.empty_like(ref), np.empty_like(ref)
    for lo in range(0, len(ref), batch):
        hi = lo + batch
        chunk = torch.from_numpy(ref[lo:hi]).to(device)
        for side, ids, params, out in (("p0", d0, params0, p0), ("p1", d1, params1, p1)):
            seed = plugin_seed(spec, shard, lo, side)
            result, params[lo:hi] = dset.distort_uint8(chunk, ids[lo:hi], params[lo:hi], seed)
            out[lo:hi] = result.cpu().numpy()
    triplet = np.arange(start, stop, dtype=np.int64)
    return dict(
        ref=ref,
        p0=p0,
        p1=p1,
        ref_index=ref_index.astype(np.int64),
        triplet=triplet,
        d0=d0,
        d1=d1,
        params0=params0,
        params1=params1,
    )


def build_pool(
    images: np.ndarray,
    out_dir: str | Path,
    *,
    split: str,
    draw: int,
    triplets: int,
    shard_size: int,
    seed: int,
    batch_size: int = 512,
    device: str = "cpu",
    writer: str = "",
    dset: DistortionSet = STUDY,
) -> dict:
    """Write one pool draw of ``split`` from ``images`` into ``out_dir``; returns the manifest.

    ``dset``: the distortion set the pairs are drawn over (the study's six by default).

    ``writer``, the rule that writes the draw, goes into the manifest so that a reader finding a
    corrupt shard can say what rebuilds it.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be uint8 (N, 3, S, S), got {images.dtype} {images.shape}")
    if len(images) == 0:
        raise ValueError(f"the {split} split has no images to build triplets from")
    spec = PoolSpec(
        split,
        draw,
        triplets,
        shard_size,
        seed,
        images.shape[-1],
        array_sha256(images),
        dset.spec(),
    )
    out_dir = Path(out_dir)
    work = _prepare_work_dir(out_dir, spec)
    refs = reference_order(spec, len(images))
    shards = []
    progress = tqdm(range(spec.shard_count), desc=f"pool {split} draw {draw}", unit="shard")
    for shard in progress:
        path = work / f"shard_{shard:05d}.npz"
        if not path.exists():
            arrays = synthesize_shard(images, spec, shard, refs, batch_size, device, dset)
            io.write_npz(path, **arrays)
        else:
            log.info("reusing finished shard %s", path.name)
        start, stop = spec.shard_bounds(shard)
        shards.append({**integrity.file_record(path), "triplets": stop - start})
    return _publish(work, out_dir, spec, shards, writer)


def _publish(work: Path, out_dir: Path, spec: PoolSpec, shards: list, writer: str) -> dict:
    """Write the manifest into the partial folder and rename it into place."""
    manifest = {"spec": asdict(spec), "shards": shards, "rule": writer}
    io.write_json(manifest, work / "manifest.json")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    work.rename(out_dir)
    return manifest


def write_arrays_draw(
    arrays: dict[str, np.ndarray],
    out_dir: str | Path,
    spec: PoolSpec,
    writer: str = "",
) -> dict:
    """Write ready-made triplet arrays (all of :data:`ARRAYS`, maybe ``judge``) as a pool draw
    with ``spec`` in its manifest, sharded and atomically, as :func:`build_pool` writes one."""
    out_dir = Path(out_dir)
    work = _prepare_work_dir(out_dir, spec)
    shards = []
    for shard in range(spec.shard_count):
        start, stop = spec.shard_bounds(shard)
        path = work / f"shard_{shard:05d}.npz"
        io.write_npz(path, **{name: values[start:stop] for name, values in arrays.items()})
        shards.append({**integrity.file_record(path), "triplets": stop - start})
    return _publish(work, out_dir, spec, shards, writer)


def _prepare_work_dir(out_dir: Path, spec: PoolSpec) -> Path:
    """The partial folder for this spec: kept if its spec matches (resume), emptied otherwise."""
    work = out_dir.parent / f".{out_dir.name}.partial"
    spec_file = work / "spec.json"
    if work.exists():
        same = spec_file.exists() and json.loads(spec_file.read_text()) == asdict(spec)
        if same:
            log.info("resuming pool draw from %s", work)
            return work
        shutil.rmtree(work)
    work.mkdir(parents=True)
    io.write_json(asdict(spec), spec_file)
    return work


def pool_fingerprint(pool_dir: str | Path) -> str:
    """SHA-256 of a finished draw's manifest, which records the spec (seed, sizes, the source
    images' sha256) and every shard's sha256: it changes whenever the draw's content does."""
    manifest_path = Path(pool_dir) / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} is missing: {pool_dir} is not a finished pool draw"
        )
    return hashlib.sha256(manifest_path.read_bytes()).hexdigest()


def load_pool(pool_dir: str | Path, verify: bool = True) -> Pool:
    """Load a pool draw written by :func:`build_pool`, checking each shard against its record in
    the manifest: its size always, its sha256 with ``verify`` (the default; about 25 ms per
    38 MB shard, 2.3 to 3.5 times a load from the page cache: :mod:`dpsim.integrity`).

    Raises :class:`~dpsim.integrity.CorruptIntermediateError` naming the shard, the difference, the
    rule that writes the draw and the folder to delete, when a shard differs or cannot be read.
    """
    pool_dir = Path(pool_dir)
    manifest_path = pool_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} is missing: {pool_dir} is not a finished pool draw"
        )
    with integrity.readable(manifest_path, rebuild=pool_dir):
        manifest = json.loads(manifest_path.read_text())
    version = manifest["spec"].get("format")
    if version not in (1, POOL_FORMAT):
        raise ValueError(f"{manifest_path}: pool format {version} unknown")
    names = tuple(manifest["spec"].get("distortions", STUDY.spec())["names"])
    rule = manifest.get("rule", "")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ARRAYS}
    for shard in manifest["shards"]:
        path = pool_dir / shard["file"]
        integrity.check_file(
            path, shard, recorded_in=manifest_path, rule=rule, rebuild=pool_dir, sha256=verify
        )
        with integrity.readable(path, rule=rule, rebuild=pool_dir), np.load(path) as data:
            present = [name for name in OPTIONAL_ARRAYS if name in data.files]
            arrays = {name: data[name] for name in (*ARRAYS, *present)}
        if len(arrays["ref"]) != shard["triplets"]:
            raise integrity.CorruptIntermediateError.of(
                path,
                f"{len(arrays['ref'])} triplets, but {manifest_path} records {shard['triplets']}",
                rule=rule,
                rebuild=pool_dir,
            )
        for name in arrays:
            parts.setdefault(name, []).append(arrays[name])
    arrays = {name: np.concatenate(values) for name, values in parts.items()}
    return Pool(**arrays, distortions=names)
