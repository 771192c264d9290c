"""Command line: `python -m timm_hub_template batch 'resnet*' vit_base_patch16_224 --output out/`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from timm_hub_template.sweep import DEFAULT_MAX_PARAMS

    parser = argparse.ArgumentParser(prog="python -m timm_hub_template", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    batch = commands.add_parser("batch", help="generate many architectures in one process")
    batch.add_argument("architectures", nargs="+", help="timm names or globs, e.g. 'resnet*'")
    batch.add_argument("--output", type=Path, default=Path("."), help="folder to generate into (default: .)")
    batch.add_argument("--weights", default="random", help="pretrained, random (default) or a checkpoint path")
    batch.add_argument(
        "--shard",
        type=parse_shard,
        default=(0, 1),
        metavar="I/N",
        help="generate only shard I of N (0 <= I < N): N machines with indices 0..N-1 cover the names without overlap",
    )
    sweep = commands.add_parser("sweep", help="generate and check every architecture (the coverage table)")
    sweep.add_argument("architectures", nargs="*", default=["*"], help="names or globs (default: all)")
    sweep.add_argument("--workers", type=int, default=2)
    sweep.add_argument("--max-params", type=int, default=DEFAULT_MAX_PARAMS, help="above this, check structure only")
    sweep.add_argument("--output", type=Path, default=Path("COVERAGE.md"))
    sweep.add_argument("--report-only", action="store_true", help="rebuild the table from COVERAGE.jsonl")
    classes = commands.add_parser("classes", help="write timm_classes.json: every timm class and its architectures")
    classes.add_argument("--output", type=Path, default=None, help="default: timm_hub_template/timm_classes.json")
    siblings = commands.add_parser("siblings", help="build every architecture of a class from one repo's config")
    siblings.add_argument("classes", nargs="*", help="timm classes, e.g. ResNet (default: all with 2+ architectures)")
    siblings.add_argument("--output", type=Path, default=Path("SIBLINGS.md"))
    siblings.add_argument(
        "--logits", type=int, default=3, help="per class, compare logits for this many small siblings"
    )
    siblings.add_argument("--report-only", action="store_true", help="rebuild the report from SIBLINGS.jsonl")
    args = parser.parse_args(argv)

    if args.command == "classes":
        import json

        from timm_hub_template.introspect import CLASSES_FILE, build_class_table

        output = args.output or CLASSES_FILE
        output.write_text(json.dumps(build_class_table(), indent=1) + "\n")
        print(f"wrote {output}")
        return 0
    if args.command == "siblings":
        from timm_hub_template import siblings as siblings_mode

        return siblings_mode.main(args.classes, args.output, args.logits, args.report_only)

    from timm_hub_template import batch as batch_mode

    if args.command == "sweep":
        from timm_hub_template import sweep as sweep_mode

        names = batch_mode.expand(args.architectures)
        return sweep_mode.main(names, args.workers, args.max_params, args.output, args.report_only)

    try:
        architectures = batch_mode.shard(batch_mode.expand(args.architectures), *args.shard)
    except ValueError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    outcomes = batch_mode.run(architectures, args.output, weights=args.weights)
    print(batch_mode.summary(outcomes))
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def parse_shard(value: str) -> tuple[int, int]:
    """`I/N` as (I, N), with 0 <= I < N, e.g. a Slurm array's or a Kubernetes indexed Job's index and count."""
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"--shard {value!r} must be I/N with 0 <= I < N, like 0/4")
    return int(index), int(count)


if __name__ == "__main__":
    sys.exit(main())
