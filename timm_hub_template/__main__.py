"""Command line: `python -m timm_hub_template batch 'resnet*' vit_base_patch16_224 --output out/`.

The maintenance tools (sweeps, table rebuilds) have their own: `python -m timm_hub_template.maintenance`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from timm_hub_template import batch as batch_mode  # light: torch, timm and transformers load when it runs

    parser = argparse.ArgumentParser(prog="python -m timm_hub_template", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    batch = commands.add_parser("batch", help="generate many architectures in one process")
    batch.add_argument("architectures", nargs="+", help="timm names or globs, e.g. 'resnet*'")
    batch.add_argument("--output", type=Path, default=Path("."), help="folder to generate into (default: .)")
    batch.add_argument("--weights", default="random", help="pretrained, random (default) or a checkpoint path")
    batch.add_argument(
        "--shard",
        type=batch_mode.parse_shard,
        default=(0, 1),
        metavar="I/N",
        help="generate only shard I of N (0 <= I < N): N machines with indices 0..N-1 cover the names without overlap",
    )
    args = parser.parse_args(argv)

    if not (batch_mode.TEMPLATE_DIR / "cookiecutter.json").is_file():
        print(
            f"Error: batch mode renders the template's files, which {batch_mode.TEMPLATE_DIR} does not hold (an "
            "installed copy of the package): run `python -m timm_hub_template batch` from a clone of the template",
            file=sys.stderr,
        )
        return 2
    try:
        architectures = batch_mode.shard(batch_mode.expand(args.architectures), *args.shard)
    except ValueError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    outcomes = batch_mode.run(architectures, args.output, weights=args.weights)
    print(batch_mode.summary(outcomes))
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
