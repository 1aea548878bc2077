"""BAPPS: layout checks, the manifest, packed uint8 caches, and the 2AFC / JND datasets.

The layout (PROTOCOL §8), under a root that holds ``2afc/`` and ``jnd/``::

    2afc/{train,val}/{subset}/{ref,p0,p1}/NAME.png   and  judge/NAME.npy (one float)
    jnd/val/{subset}/{p0,p1}/NAME.png                 and  same/NAME.npy  (one float)

Files of one item are paired by their stem (never by sorted position), and every part of a subset
must hold the same stems. Decoding thousands of PNGs for every evaluation is slow, so each subset
is packed once into a memory-mapped uint8 array at the evaluation size (64x64, the maintainers'
protocol; larger files are resized with PIL's bicubic filter and the resize is recorded). The same
code reads the real benchmark and the offline fixture (:mod:`dpsim.data.fixture`).

A packed subset's ``.json`` and the cache's ``index.json`` record each array file (size, sha256,
the rule that packed it); :class:`BappsDataset` checks the sizes when it opens a subset (not the
sha256: the arrays are memory-mapped and training reads a few rows of them at a time), and the
workflow checks them at every start (:mod:`dpsim.integrity`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from dpsim import integrity, io
from dpsim.data import image_file
from dpsim.inference import signed
from dpsim.names import FIT_DATASET

log = logging.getLogger(__name__)

#: Image parts and the label part of an item, per kind of subset.
PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    "2afc": (("ref", "p0", "p1"), "judge"),
    "jnd": (("p0", "p1"), "same"),
}

#: Exact item counts of the real 2AFC val subsets (PROTOCOL §8), checked after a download.
TWO_AFC_VAL_COUNTS = {
    "traditional": 4720,
    "cnn": 4720,
    "superres": 10856,
    "deblur": 9440,
    "color": 4720,
    "frameinterp": 1888,
}
RESIZE_FILTER = "PIL bicubic"
CACHE_FORMAT = 1
#: Judgments per 2AFC triplet in BAPPS (PROTOCOL §8, §11): 2 in train (and in the fit
#: subsets drawn from it), 5 in val.
VOTES_PER_TRIPLET = {"train": 2, "val": 5, "fit": 2}


class BappsError(ValueError):
    """The BAPPS tree or one of its files is not as the benchmark defines it."""


@dataclass(frozen=True)
class Subset:
    """One subset of BAPPS: its kind (``2afc`` or ``jnd``), split, name and item stems."""

    kind: str
    split: str
    name: str
    stems: tuple[str, ...]

    @property
    def key(self) -> str:
        """File-name-safe id, e.g. ``2afc-val-traditional``."""
        return f"{self.kind}-{self.split}-{self.name}"

    def folder(self, root: Path) -> Path:
        return Path(root) / self.kind / self.split / self.name


# ---------------------------------------------------------------- layout


def item_stems(folder: Path, kind: str) -> tuple[str, ...]:
    """Stems present in every part of a subset folder; raises naming any unpaired file."""
    image_parts, label_part = PARTS[kind]
    found: dict[str, set[str]] = {}
    for part in (*image_parts, label_part):
        part_dir = folder / part
        if not part_dir.is_dir():
            raise BappsError(
                f"{part_dir} is missing: a {kind} subset needs {image_parts} + {label_part}"
            )
        suffix = ".npy" if part == label_part else ".png"
        found[part] = {p.stem for p in part_dir.iterdir() if p.suffix == suffix}
    everything = set().union(*found.values())
    for part, stems in found.items():
        missing = sorted(everything - stems)
        if missing:
            raise BappsError(
                f"{folder / part} lacks {len(missing)} item(s) that other parts have, e.g. "
                f"{', '.join(missing[:3])}: the subset is incomplete; extract it again"
            )
    if not everything:
        raise BappsError(f"{folder} holds no items")
    return tuple(sorted(everything))


def scan(root: str | Path) -> list[Subset]:
    """Every subset under ``root`` (which holds ``2afc/`` and/or ``jnd/``), with its items."""
    root = Path(root)
    if not root.is_dir():
        raise BappsError(f"BAPPS root {root} is not a folder")
    subsets = []
    for kind in PARTS:
        for split_dir in sorted(p for p in (root / kind).glob("*") if p.is_dir()):
            subsets += split_subsets(root, kind, split_dir.name)
    if not subsets:
        raise BappsError(
            f"no BAPPS subsets under {root}: expected {root}/2afc/val/<subset>/ref/..."
        )
    return subsets


def split_subsets(root: str | Path, kind: str, split: str) -> list[Subset]:
    """Every subset under ``root/kind/split/`` with its items (none when that folder is absent);
    raises naming a subset whose parts are missing, unpaired or empty."""
    split_dir = Path(root) / kind / split
    if not split_dir.is_dir():
        return []
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir())
    return [Subset(kind, split, folder.name, item_stems(folder, kind)) for folder in folders]


def check_real_counts(subsets: Sequence[Subset]) -> None:
    """Raise unless the 2AFC val subsets have the exact counts of the published benchmark."""
    counts = {s.name: len(s.stems) for s in subsets if s.kind == "2afc" and s.split == "val"}
    wrong = {
        name: (counts.get(name), expected)
        for name, expected in TWO_AFC_VAL_COUNTS.items()
        if counts.get(name) != expected
    }
    if wrong:
        details = ", ".join(
            f"{n}: {got} found, {want} expected" for n, (got, want) in wrong.items()
        )
        raise BappsError(
            f"2AFC val subsets differ from the published BAPPS ({details}); the download or "
            "extraction is incomplete: delete it and run again (or set bapps.check_counts: false)"
        )


def manifest(root: str | Path, subsets: Sequence[Subset], **extra: object) -> dict:
    """The manifest later stages read: root, per-subset item counts, and ``extra`` provenance."""
    return {
        "root": str(Path(root).resolve()),
        "subsets": [
            {"kind": s.kind, "split": s.split, "subset": s.name, "items": len(s.stems)}
            for s in subsets
        ],
        **extra,
    }


def subsets_from_manifest(data: dict) -> list[Subset]:
    """The subsets a manifest lists, re-scanned from disk (so stems are exact)."""
    root = Path(data["root"])
    listed = [(s["kind"], s["split"], s["subset"]) for s in data["subsets"]]
    return [
        Subset(kind, split, name, item_stems(root / kind / split / name, kind))
        for kind, split, name in listed
    ]


# ---------------------------------------------------------------- reading files


def read_image(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A PNG as uint8 ``(3, size, size)`` (bicubic resize if needed) and its size on disk.

    Decoded by :func:`dpsim.data.image_file.read_rgb`, like every other image a user supplies.
    """
    try:
        image = image_file.read_rgb(path)
    except (OSError, ValueError) as error:
        raise BappsError(f"{error}; the file is corrupt") from None
    original = image.size
    if original != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image).transpose(2, 0, 1), original


def read_label(path: Path) -> float:
    """The single judgment in a ``judge/`` or ``same/`` file, checked to lie in [0, 1]."""
    try:
        values = np.load(path, allow_pickle=False).reshape(-1)
    except (OSError, ValueError) as error:
        raise BappsError(f"cannot read judgment file {path}: {error}") from None
    if values.size != 1 or not np.isfinite(values[0]) or not 0.0 <= float(values[0]) <= 1.0:
        raise BappsError(f"{path} must hold one value in [0, 1], got {values[:5].tolist()}")
    return float(values[0])


def read_item(root: Path, subset: Subset, stem: str, size: int):
    """Images ``(K, 3, size, size)`` uint8, the label, and the original image sizes of one item."""
    image_parts, label_part = PARTS[subset.kind]
    folder = subset.folder(root)
    images, sizes = zip(
        *(read_image(folder / part / f"{stem}.png", size) for part in image_parts), strict=True
    )
    return np.stack(images), read_label(folder / label_part / f"{stem}.npy"), sizes


# ---------------------------------------------------------------- packed caches


def cache_paths(cache_dir: str | Path, subset_key: str) -> dict[str, Path]:
    base = Path(cache_dir)
    return {
        "images": base / f"{subset_key}.images.npy",
        "labels": base / f"{subset_key}.labels.npy",
        "votes": base / f"{subset_key}.votes.npy",
        "meta": base / f"{subset_key}.json",
    }


def write_packed(
    cache_dir: str | Path, key: str, arrays: dict[str, np.ndarray], meta: dict, writer: str = ""
) -> dict:
    """Write one packed subset: its ``images`` and ``labels`` (and ``votes``, the count of
    judgments per item, where known) and its ``.json`` (``meta`` with the record of each array
    file and ``writer``, the rule that packs it); return that meta."""
    paths = cache_paths(cache_dir, key)
    for part, array in arrays.items():
        io.write_npy(array, paths[part])
    meta = {
        "format": CACHE_FORMAT,
        **meta,
        "files": {part: integrity.file_record(paths[part]) for part in arrays},
        "rule": writer,
    }
    io.write_json(meta, paths["meta"])
    return meta


def write_index(cache_dir: str | Path, packed: Sequence[dict], writer: str = "", **extra) -> dict:
    """Write ``index.json``: the packed subsets (``packed``: their metas) and every array file's
    record, with ``extra`` entries (what the subsets were packed from)."""
    index = {
        **extra,
        "subsets": [
            {k: m[k] for k in ("kind", "split", "name", "items", "resize", "dataset") if k in m}
            for m in packed
        ],
        "files": [record for m in packed for record in m["files"].values()],
        "rule": writer,
    }
    io.write_json(index, Path(cache_dir) / "index.json")
    return index


def pack_subset(
    root: str | Path,
    subset: Subset,
    size: int,
    cache_dir: str | Path,
    workers: int = 2,
    writer: str = "",
):
    """Decode every item of ``subset`` once into ``images.npy`` / ``labels.npy``; return meta,
    with the record of both files and ``writer`` (the rule that packs them)."""
    root = Path(root)
    count, parts = len(subset.stems), len(PARTS[subset.kind][0])
    images = np.empty((count, parts, 3, size, size), dtype=np.uint8)
    labels = np.empty(count, dtype=np.float32)
    original_sizes: set[tuple[int, int]] = set()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        items = pool.map(lambda stem: read_item(root, subset, stem, size), subset.stems)
        for index, (item, label, sizes) in enumerate(
            tqdm(items, total=count, desc=f"pack {subset.key}", unit="item")
        ):
            images[index], labels[index] = item, label
            original_sizes.update(sizes)
    meta = {
        **{k: v for k, v in asdict(subset).items() if k != "stems"},
        "items": count,
        "size": size,
        "sizes_on_disk": sorted(original_sizes),
        "resize": RESIZE_FILTER if original_sizes != {(size, size)} else "none",
        "stems": list(subset.stems),
    }
    return write_packed(cache_dir, subset.key, {"images": images, "labels": labels}, meta, writer)


def pack_all(
    manifest_path: str | Path,
    cache_dir: str | Path,
    size: int,
    workers: int = 2,
    writer: str = "",
    fit_items: int = 0,
    seed: int = 0,
) -> dict:
    """Pack every subset a manifest lists, and of each 2AFC train subset a seeded sample of
    ``fit_items`` triplets as its ``fit`` subset (:func:`pack_fit_subset`); writes
    ``index.json`` listing the packed subsets and the record of every array file (``writer``:
    the rule that packs them)."""
    data = json.loads(Path(manifest_path).read_text())
    packed = [
        pack_subset(data["root"], subset, size, cache_dir, workers, writer)
        for subset in subsets_from_manifest(data)
    ]
    if fit_items > 0:
        trains = [m for m in packed if m["kind"] == "2afc" and m["split"] == "train"]
        packed += [pack_fit_subset(cache_dir, m, fit_items, seed, writer) for m in trains]
    return write_index(cache_dir, packed, writer, manifest=data, size=size)


def pack_fit_subset(cache_dir: str | Path, train: dict, items: int, seed: int, writer: str) -> dict:
    """A seeded sample of ``items`` triplets of a packed 2AFC train subset (``train``: its
    meta), packed as split ``fit`` of dataset :data:`FIT_DATASET` (all of them if it has fewer);
    the sample depends only on ``seed`` and the subset's name and size."""
    source = BappsDataset(cache_dir, "2afc", "train", train["name"])
    count = len(source)
    mixed = np.random.default_rng([seed, count, *train["name"].encode()])
    rows = np.sort(mixed.choice(count, size=min(items, count), replace=False))
    meta = {
        "kind": "2afc",
        "split": "fit",
        "name": train["name"],
        "dataset": FIT_DATASET,
        "items": len(rows),
        "size": train["size"],
        "resize": train["resize"],
        "rows": rows.tolist(),
    }
    arrays = {"images": np.asarray(source.images[rows]), "labels": source.labels[rows]}
    return write_packed(cache_dir, f"2afc-fit-{train['name']}", arrays, meta, writer)


def evaluation_entries(cache_dir: str | Path) -> list[dict]:
    """The subsets of a packed cache that evaluation scores: BAPPS's val split, its fit
    subsets (:func:`pack_fit_subset`), and every judgment set (:mod:`dpsim.data.judgment_sets`,
    packed with only the rows it is scored on)."""
    index = json.loads((Path(cache_dir) / "index.json").read_text())
    return [
        entry
        for entry in index["subsets"]
        if entry["split"] == "val" or entry.get("dataset", "bapps") != "bapps"
    ]


# ---------------------------------------------------------------- datasets


def scored_subsets(caches: str | Path | Sequence[str | Path] | None) -> Iterator[BappsDataset]:
    """Every subset the packed ``caches`` score (:func:`evaluation_entries`), opened, in order:
    one cache, several (BAPPS's, then the judgment sets'), or none."""
    if caches is None:
        return
    for cache_dir in [caches] if isinstance(caches, str | Path) else caches:
        for entry in evaluation_entries(cache_dir):
            yield BappsDataset(cache_dir, entry["kind"], entry["split"], entry["name"])


class BappsDataset(torch.utils.data.Dataset):
    """One packed subset: ``images`` (memory-mapped uint8) and ``labels`` (judge or same).

    Items are tuples of float tensors in [-1, 1] followed by the label: ``(ref, p0, p1, judge)``
    for 2AFC and ``(p0, p1, same)`` for JND. For batched evaluation, read ``images`` and
    ``labels`` directly.
    """

    def __init__(self, cache_dir: str | Path, kind: str, split: str, subset: str) -> None:
        key = f"{kind}-{split}-{subset}"
        paths = cache_paths(cache_dir, key)
        if not paths["meta"].is_file():
            available = sorted(p.stem for p in Path(cache_dir).glob("*.json") if p.stem != "index")
            raise FileNotFoundError(
                f"no packed BAPPS subset {key} in {cache_dir}; available: {', '.join(available)}"
            )
        self.meta = json.loads(paths["meta"].read_text())
        self.kind, self.split, self.subset = kind, split, subset
        rule = self.meta.get("rule", "")
        for part, record in self.meta.get("files", {}).items():  # sizes only: see module doc
            integrity.check_file(
                paths[part],
                record,
                recorded_in=paths["meta"],
                rule=rule,
                rebuild=cache_dir,
                sha256=False,
            )
        with integrity.readable(paths["images"], rule=rule, rebuild=cache_dir):
            self.images = np.load(paths["images"], mmap_mode="r")
        with integrity.readable(paths["labels"], rule=rule, rebuild=cache_dir):
            self.labels = np.load(paths["labels"])
        #: the human set the subset belongs to: ``bapps``, ``bapps_train`` (the fit subsets),
        #: or a judgment set's name
        self.dataset: str = self.meta.get("dataset", "bapps")
        #: judgments per item: a table's vote counts where packed, BAPPS's per split (2AFC:
        #: :data:`VOTES_PER_TRIPLET`), else None (unknown)
        self.votes: np.ndarray | None = None
        if "votes" in self.meta.get("files", {}):
            with integrity.readable(paths["votes"], rule=rule, rebuild=cache_dir):
                self.votes = np.load(paths["votes"])
        elif kind == "2afc" and self.dataset in ("bapps", FIT_DATASET):
            self.votes = np.full(len(self.labels), VOTES_PER_TRIPLET[split], dtype=np.int64)
        if len(self.images) != len(self.labels) or len(self.labels) != self.meta["items"]:
            raise integrity.CorruptIntermediateError.of(
                paths["meta"],
                f"{len(self.images)} items of images and {len(self.labels)} labels, but "
                f"{self.meta['items']} recorded",
                rule=rule,
                rebuild=cache_dir,
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple:
        images = signed(torch.from_numpy(np.array(self.images[index])))
        return (*images.unbind(0), torch.tensor(self.labels[index]))


class PngDataset(torch.utils.data.Dataset):
    """The same items as :class:`BappsDataset`, decoded from the PNG files on every access."""

    def __init__(self, root: str | Path, kind: str, split: str, subset: str, size: int = 64):
        self.root, self.size = Path(root), size
        folder = self.root / kind / split / subset
        self.subset = Subset(kind, split, subset, item_stems(folder, kind))

    def __len__(self) -> int:
        return len(self.subset.stems)

    def __getitem__(self, index: int) -> tuple:
        images, label, _ = read_item(self.root, self.subset, self.subset.stems[index], self.size)
        return (
            *signed(torch.from_numpy(images)).unbind(0),
            torch.tensor(label, dtype=torch.float32),
        )
