"""The ``dpsim`` command: check a config, list what dpsim knows, print the contexts of a config.

Examples::

    dpsim check-config config/config.yaml
    dpsim info
    dpsim rankings --count 100 --distinct
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dpsim import __version__, contexts
from dpsim.config import ConfigError, load_config
from dpsim.names import CLASSIFICATION_NETWORKS, DISTORTIONS, STUDY_NETWORKS


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{args.config}: valid")
    if args.show:
        import yaml

        print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0


def _info(_: argparse.Namespace) -> int:
    print(f"dpsim {__version__}")
    print(f"distortions (identity ranking order): {', '.join(DISTORTIONS)}")
    print(f"study networks: {', '.join(STUDY_NETWORKS)}")
    print(f"all torchvision classification networks ({len(CLASSIFICATION_NETWORKS)}):")
    print("  " + ", ".join(CLASSIFICATION_NETWORKS))
    return 0


def _rankings(args: argparse.Namespace) -> int:
    chosen = contexts.reference_rankings(args.count, args.distinct, args.seed)
    table = contexts.rankings_table(chosen, args.seed)
    for row in table.itertuples():
        print(
            f"{row.context}  {row.order_text:<52}  tau={row.kendall_tau:+.3f}  "
            f"footrule={row.footrule:2d}  (generator index {row.generator_index})"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dpsim`` command."""
    parser = argparse.ArgumentParser(prog="dpsim", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"dpsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-config", help="validate a config file against the schema")
    check.add_argument("config", help="YAML config file, e.g. config/config.yaml")
    check.add_argument("--show", action="store_true", help="print the config with defaults filled")
    check.set_defaults(run=_check_config)

    info = commands.add_parser("info", help="list distortions and networks")
    info.set_defaults(run=_info)

    rankings = commands.add_parser("rankings", help="print rankings of the reference generator")
    rankings.add_argument("--count", type=int, default=10, help="number of contexts (10)")
    rankings.add_argument("--distinct", action="store_true", help="skip repeated rankings")
    rankings.add_argument("--seed", type=int, default=0, help="generator seed (0: the study's)")
    rankings.set_defaults(run=_rankings)
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
