"""Rebuild `timm_history.json`, the table `timm_floor` reads: since which timm 1.0.x release each name exists.

Each release on the package index is installed with `pip install --no-deps --target` under a cache folder and read
in a fresh process (`timm_release_names.py`, with that release first on `PYTHONPATH`); the table keeps, for each
name the newest release offers, the oldest release from which every later one offers it too (only what appeared
after the oldest release: the rest exists in all). Rebuild it when timm releases:

    python -m timm_hub_template.maintenance timm-history --cache /tmp/timm-versions
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from timm_hub_template.timm_floor import HISTORY, version_key

PACKAGES = ("timm.models", "timm.layers", "timm.data")
RELEASE_NAMES = Path(__file__).with_name("timm_release_names.py")


def dump_release(version: str, cache: Path) -> dict:
    """What timm `version` offers: installed with `pip install --no-deps --target` under `cache`, read in a subprocess."""
    target = cache / f"timm-{version}"
    if not (target / "timm").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), f"timm=={version}"],
            check=True,
        )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, str(RELEASE_NAMES), *PACKAGES], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def build_history(releases: dict[str, set[str]]) -> dict:
    """{versions, since}: since which release each key exists in that release and every later one."""
    versions = sorted(releases, key=version_key)
    since: dict[str, str] = {}
    for key in releases[versions[-1]]:
        first = versions[-1]
        for version in reversed(versions):
            if key not in releases[version]:
                break
            first = version
        if first != versions[0]:
            since[key] = first
    return {"versions": versions, "since": dict(sorted(since.items()))}


def write_history(history: dict, path: Path = HISTORY) -> None:
    """The table as JSON, grouped by release: `added` lists what each release added, one name a line."""
    added = {
        version: sorted(k for k, v in history["since"].items() if v == version) for version in history["versions"]
    }
    data = {"versions": history["versions"], "added": {version: keys for version, keys in added.items() if keys}}
    path.write_text(json.dumps(data, indent=1) + "\n")


def index_versions() -> list[str]:
    """Every timm 1.0.x release that pip's index lists."""
    output = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "timm"], capture_output=True, text=True, check=True
    ).stdout
    listed = output.split("Available versions:")[1].splitlines()[0]
    return sorted((v.strip() for v in listed.split(",") if v.strip().startswith("1.0.")), key=version_key)


HELP = "write timm_history.json from every timm 1.0.x release (the timm floor of each generated repository)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", type=Path, required=True, help="folder for one `pip --target` per release")
    parser.add_argument("--versions", nargs="*", help="releases (default: every 1.0.x on the index)")


def run(args: argparse.Namespace) -> int:
    releases = {}
    for version in args.versions or index_versions():
        dump = dump_release(version, args.cache)
        releases[dump["version"]] = set(dump["keys"])
        print(f"timm {version}: {len(dump['keys'])} names", file=sys.stderr)
    write_history(build_history(releases))
    return 0
