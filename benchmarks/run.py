"""Run dpsim's benchmarks and write one JSON file each (``make bench``).

Every benchmark measures dpsim against a baseline in the same process and reports the ratio, so
the numbers compare across machines; absolute rates are recorded for context only.

Usage: python benchmarks/run.py [--out benchmarks/results] [--only distortions] [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = (
    "distortions",
    "degradations",
    "bapps_loading",
    "metric",
    "adapt_lin",
    "integrity",
    "mixing",
    "packing",
    "stacked",
    "transformers",
)


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON files")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run just these")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"bench_{name}")
        result = {"benchmark": name, "machine": machine(), **module.run(device=args.device)}
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
