"""Items/s of BAPPS 2AFC loading: packed uint8 cache against decoding the PNG files every time.

A fixture subset is written to a temporary folder, packed once, then read three ways: item by item
from PNGs (what a plain Dataset over the files does), item by item from the memory-mapped cache,
and in batches of 256 from the cache (what batched evaluation does).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import rate

from dpsim.data import bapps, fixture, sources
from dpsim.inference import signed


def _read_all(dataset) -> None:
    for index in range(len(dataset)):
        dataset[index]


def _read_batches(dataset: bapps.BappsDataset, batch: int = 256) -> None:
    for start in range(0, len(dataset), batch):
        signed(torch.from_numpy(np.array(dataset.images[start : start + batch])))


def run(items: int = 400, image_size: int = 64, device: str = "cpu") -> dict:
    """Write, pack and read one 2AFC subset of ``items`` triplets; returns the three rates."""
    del device  # loading happens on the CPU
    tiles = sources.embedded_images(["astronaut", "coffee", "retina"], 64, [1.0], 8.0).images
    spec = fixture.FixtureSpec(1, items, 1, image_size=image_size, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fixture.write_fixture(root / "tree", tiles, spec)
        manifest = bapps.manifest(root / "tree", bapps.scan(root / "tree"))
        (root / "manifest.json").write_text(json.dumps(manifest))
        bapps.pack_all(root / "manifest.json", root / "cache", size=64)
        png = bapps.PngDataset(root / "tree", "2afc", "val", "traditional")
        cached = bapps.BappsDataset(root / "cache", "2afc", "val", "traditional")
        png_rate = rate(lambda: _read_all(png), items)
        cached_rate = rate(lambda: _read_all(cached), items)
        batch_rate = rate(lambda: _read_batches(cached), items)
    return {
        "what": "2AFC items/s: PNG decoding vs packed uint8 cache (item by item and batched)",
        "items": items,
        "image_size_on_disk": image_size,
        "png_items_per_s": round(png_rate, 1),
        "cached_items_per_s": round(cached_rate, 1),
        "cached_batched_items_per_s": round(batch_rate, 1),
        "speedup_cached": round(cached_rate / png_rate, 2),
        "speedup_cached_batched": round(batch_rate / png_rate, 2),
    }
