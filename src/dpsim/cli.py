"""The ``dpsim`` command: distances between images, configs, networks and contexts.

Examples::

    dpsim distance a.png b.png                       # LPIPS-style distance, ImageNet AlexNet
    dpsim distance a.png b.png --weights random --layers
    dpsim distance a.png b.png --metric results/metrics/alexnet/lin/c000/seed0.pt
    dpsim check-config config/config.yaml
    dpsim preflight config/config.yaml               # network, GPU, disk: ready for a long run?
    dpsim info
    dpsim rankings --count 100 --distinct
    dpsim profile                                    # where the last workflow run's time went
    dpsim adapt --images photos/ --ranking blur,jpeg,noise --out runs/blur-first
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dpsim import __version__, contexts
from dpsim.config import ConfigError, load_config
from dpsim.names import CLASSIFICATION_NETWORKS, DEGRADATIONS, DISTORTIONS, STUDY_NETWORKS


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{args.config}: valid")
    if args.show:
        import yaml

        print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0


def _preflight(args: argparse.Namespace) -> int:
    from dpsim.preflight import run_preflight

    checks = run_preflight(load_config(args.config), workdir=args.workdir, timeout=args.timeout)
    for check in checks:
        if check.failed:
            print(f"failed: {check.name}: {check.message}", file=sys.stderr)
        else:
            tag = " (warning)" if check.level == "warning" else ""
            print(f"ok: {check.name}{tag}: {check.message}")
    return 3 if any(check.failed for check in checks) else 0


def _info(args: argparse.Namespace) -> int:
    from dpsim.taps import LAYER_TAPS
    from dpsim.weights import available_offline, imagenet_weights_file

    print(f"dpsim {__version__}")
    print(f"distortions (identity ranking order): {', '.join(DISTORTIONS)}")
    print(f"other built-in distortions: {', '.join(DEGRADATIONS)}")
    print(f"ImageNet weights folder: {args.cache_dir}/hub/checkpoints/")
    for network in STUDY_NETWORKS:
        _, path = imagenet_weights_file(network, args.cache_dir)
        state = "available offline" if available_offline(network, args.cache_dir) else "missing"
        print(f"{network}: ImageNet weights {state} ({path.name})")
        for name, taps in LAYER_TAPS.get(network, {}).items():
            print(f"    taps {name:<6} {', '.join(taps)}")
    print(f"all torchvision classification networks ({len(CLASSIFICATION_NETWORKS)}):")
    print("  " + ", ".join(CLASSIFICATION_NETWORKS))
    print("any of them works with explicit taps (module names), e.g. --taps features.2,features.5")
    return 0


def _read_image(path: str, size: int | None):
    """An image file as a ``(1, 3, H, W)`` tensor in [-1, 1]; 16-bit images are scaled and
    transparent pixels composited on black (:func:`dpsim.data.image_file.read_rgb`)."""
    import numpy as np
    import torch
    from PIL import Image

    from dpsim.data.image_file import read_rgb

    image = read_rgb(path)
    if size is not None:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(image).transpose(2, 0, 1).copy()
    return torch.from_numpy(array).float().div(127.5).sub(1.0).unsqueeze(0)


def _distance_metric(args: argparse.Namespace):
    from dpsim import metric

    if args.metric:
        return metric.load_metric(args.metric, cache_dir=args.cache_dir)
    taps = args.taps.split(",") if "," in args.taps or "." in args.taps else args.taps
    variant = "lin" if args.lpips_weights else "baseline"
    built = metric.build_metric(
        args.net, variant, taps=taps, weights=args.weights, cache_dir=args.cache_dir
    )
    if args.lpips_weights:
        built.load_lpips_weights(args.lpips_weights)
    return built


def _distance(args: argparse.Namespace) -> int:
    import torch

    a, b = _read_image(args.image_a, args.size), _read_image(args.image_b, args.size)
    if a.shape != b.shape:
        raise ValueError(
            f"{args.image_a} is {tuple(a.shape[2:])} and {args.image_b} is {tuple(b.shape[2:])} "
            "pixels: give --size N to resize both"
        )
    model = _distance_metric(args).eval()
    with torch.inference_mode():
        layers = model.distances_by_layer(a, b, check_range=False)
    print(f"{float(layers.sum(dim=1)[0]):.6f}")
    if args.layers:
        for tap, value in zip(model.backbone.taps, layers[0].tolist(), strict=True):
            print(f"  {tap:<20} {value:.6f}")
    return 0


def _rankings(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.distortions.split(",")]
    chosen = contexts.reference_rankings(args.count, args.distinct, args.seed, names)
    table = contexts.rankings_table(chosen, args.seed, names)
    for row in table.itertuples():
        print(
            f"{row.context}  {row.order_text:<52}  tau={row.kendall_tau:+.3f}  "
            f"footrule={row.footrule:2d}  (generator index {row.generator_index})"
        )
    return 0


DEFAULT_CACHE = os.environ.get("DPSIM_WEIGHTS_DIR", "resources/torch")


def _profile(args: argparse.Namespace) -> int:
    from dpsim import run_profile

    log = args.log or run_profile.latest_log(args.workdir)
    table = run_profile.profile_run(log, root=args.workdir)
    span = run_profile.run_span(log)
    print(f"{log}: {table['jobs'].sum()} jobs, {span:.0f} s from the first start to the last end")
    print(run_profile.markdown(table.head(args.top) if args.top else table))
    return 0


def _adapt(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dpsim import adapt_command

    request = adapt_command.AdaptRequest(
        out=Path(args.out),
        rankings=tuple(adapt_command.parse_ranking(r) for r in args.ranking or []),
        triplets=Path(args.triplets) if args.triplets else None,
        triplets_format=args.format,
        network=args.net,
        variants=tuple(args.variant or ["lin"]),
        images=Path(args.images) if args.images else None,
        weights=args.weights,
        seed=args.seed,
        plugins=dict(adapt_command.parse_plugin(p) for p in args.plugin or []),
        readout=args.readout,
        extra=Path(args.config) if args.config else None,
    )
    return adapt_command.adapt(request, cores=args.cores, dry_run=args.dry_run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dpsim`` command."""
    parser = argparse.ArgumentParser(prog="dpsim", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"dpsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-config", help="validate a config file against the schema")
    check.add_argument("config", help="YAML config file, e.g. config/config.yaml")
    check.add_argument("--show", action="store_true", help="print the config with defaults filled")
    check.set_defaults(run=_check_config)

    preflight = commands.add_parser(
        "preflight", help="check network, GPU and disk for a run (exit 3 when a check fails)"
    )
    preflight.add_argument("config", help="YAML config file, e.g. config/config.yaml")
    preflight.add_argument("--workdir", default=".", help="folder the run works in (.)")
    preflight.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait for each host (3)"
    )
    preflight.set_defaults(run=_preflight)

    info = commands.add_parser("info", help="list distortions, networks, taps, offline weights")
    info.add_argument(
        "--cache-dir", default=DEFAULT_CACHE, help=f"weights folder ({DEFAULT_CACHE})"
    )
    info.set_defaults(run=_info)

    distance = commands.add_parser("distance", help="the DPS distance between two images")
    distance.add_argument("image_a", help="first image (any format PIL reads)")
    distance.add_argument("image_b", help="second image, same size (or give --size)")
    distance.add_argument("--net", default="alexnet", help="torchvision network (alexnet)")
    distance.add_argument(
        "--taps", default="lpips", help="tap set (lpips, study) or comma-separated module names"
    )
    distance.add_argument(
        "--weights", default="imagenet", help="imagenet (default), random, or a state-dict file"
    )
    distance.add_argument(
        "--lpips-weights", help="official LPIPS v0.1 linear weights (e.g. alex.pth); else w = 1"
    )
    distance.add_argument("--metric", help="a dpsim metric checkpoint (overrides the above)")
    distance.add_argument("--size", type=int, help="resize both images to SIZE x SIZE first")
    distance.add_argument("--layers", action="store_true", help="also print per-layer distances")
    distance.add_argument(
        "--cache-dir", default=DEFAULT_CACHE, help=f"weights folder ({DEFAULT_CACHE})"
    )
    distance.set_defaults(run=_distance)

    rankings = commands.add_parser("rankings", help="print rankings of the reference generator")
    rankings.add_argument("--count", type=int, default=10, help="number of contexts (10)")
    rankings.add_argument("--distinct", action="store_true", help="skip repeated rankings")
    rankings.add_argument("--seed", type=int, default=0, help="generator seed (0: the study's)")
    rankings.add_argument(
        "--distortions",
        default=",".join(DISTORTIONS),
        help="the set to rank, comma-separated, in identity order (the study's six)",
    )
    rankings.set_defaults(run=_rankings)

    adapt = commands.add_parser(
        "adapt",
        help="adapt a metric to your context: images and a ranking -> metric and report",
    )
    adapt.add_argument("--out", required=True, help="run folder: config, results, report")
    adapt.add_argument(
        "--ranking",
        action="append",
        help="a context: distortions comma-separated, most similar first (repeat for more)",
    )
    adapt.add_argument(
        "--triplets", help="a context of your 2AFC judgments: a CSV (ref, p0, p1, judge) or folder"
    )
    adapt.add_argument(
        "--format",
        choices=("csv", "nights", "bapps"),
        default="csv",
        help="layout of --triplets: csv (columns ref, p0, p1, judge), nights, bapps (a folder)",
    )
    adapt.add_argument("--net", default="alexnet", help="backbone network (alexnet)")
    adapt.add_argument(
        "--variant", action="append", help="variant to train (lin; repeat for more: mix, tune)"
    )
    adapt.add_argument("--images", help="folder of your images (default: the embedded photos)")
    adapt.add_argument("--weights", default="random", help="random (offline), imagenet or a file")
    adapt.add_argument("--seed", type=int, default=0, help="training seed (0)")
    adapt.add_argument(
        "--plugin", action="append", help="your distortion: name=package.module:function"
    )
    adapt.add_argument("--readout", action="store_true", help="also run the readout study")
    adapt.add_argument("--config", help="a YAML file of further config keys, merged last")
    adapt.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores to use")
    adapt.add_argument("--dry-run", action="store_true", help="show the jobs, run nothing")
    adapt.set_defaults(run=_adapt)

    profile = commands.add_parser(
        "profile", help="where a workflow run's time went: wall, start-up and step s per rule"
    )
    profile.add_argument("--workdir", default=".", help="folder the run ran in (.)")
    profile.add_argument(
        "--log",
        help="a Snakemake log (default: the newest in .snakemake/log that ran a job)",
    )
    profile.add_argument("--top", type=int, default=0, help="show only the N costliest rules")
    profile.set_defaults(run=_profile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dpsim`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"dpsim: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
