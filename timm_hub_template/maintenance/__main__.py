"""Command line of the maintenance tools: `python -m timm_hub_template.maintenance sweep 'resnet*' --output x.md`."""

from __future__ import annotations

import argparse
import sys

from timm_hub_template.maintenance import class_table, locks, onnx_sweep, render, siblings, sweep, timm_history

TOOLS = {
    "sweep": sweep,
    "siblings": siblings,
    "onnx-sweep": onnx_sweep,
    "classes": class_table,
    "timm-history": timm_history,
    "locks": locks,
    "render": render,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m timm_hub_template.maintenance",
        description="Measure and rebuild what the template ships (generating is `python -m timm_hub_template batch`).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, tool in TOOLS.items():
        tool.add_arguments(commands.add_parser(name, help=tool.HELP, description=tool.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return TOOLS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
