"""The oldest timm 1.0.x a generated repository works with, computed from what its code uses.

The generated code passes every constructor argument of timm's class by name and imports timm's classes and
functions, so an older timm whose class lacks an argument fails with a TypeError, one without a class with an
ImportError. `timm_history.json` records, for every timm 1.0.x release on PyPI, since which release each model
name, public name of `timm.models`/`timm.layers`/`timm.data`, constructor argument and model method the
generated code calls (`forward_intermediates`, ...) exists (only what appeared
after the oldest release: the rest exists in all). `timm_floor(spec)` is the newest of those releases over
everything the architecture's code uses. Rebuild the table when timm releases (one `pip install --target` per
release, nothing else changes):

    python -m timm_hub_template.timm_floor --cache /tmp/timm-versions

Not covered: arguments inside `functools.partial` components and behaviour that changed without a signature
change; `tests/test_compat.py` loads the representative architectures under their computed floor with parity.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from timm_hub_template.answers import DATA_CONFIG_KEYS

if TYPE_CHECKING:
    from timm_hub_template.introspect import ArchitectureSpec

HISTORY = Path(__file__).parent / "timm_history.json"
PACKAGES = ("timm.models", "timm.layers", "timm.data")

# Run in a fresh process with one timm release first on sys.path: prints what that release offers.
_DUMP = """
import importlib, inspect, json, pkgutil, sys, warnings
warnings.simplefilter("ignore")
import timm
METHODS = ("forward_features", "forward_head", "forward_intermediates", "set_grad_checkpointing")
keys = {"model:" + name for name in timm.list_models()}
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        for attr, value in vars(module).items():
            if attr.startswith("__") or not callable(value):
                continue
            keys.add(f"name:{name}:{attr}")
            # Constructor arguments of the model classes (those with forward_features), and create_transform's.
            if hasattr(value, "forward_features") or attr == "create_transform":
                try:
                    parameters = inspect.signature(value).parameters
                except (TypeError, ValueError):
                    continue
                keys.update(f"param:{name}:{attr}:{p}" for p in parameters)
                keys.update(f"method:{name}:{attr}:{m}" for m in METHODS if hasattr(value, m))
print(json.dumps({"version": timm.__version__, "keys": sorted(keys)}))
"""


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


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
        [sys.executable, "-c", _DUMP, *PACKAGES], env=env, capture_output=True, text=True, check=True
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


def read_history(path: Path = HISTORY) -> dict:
    """{versions, since} from the table `write_history` wrote."""
    data = json.loads(path.read_text())
    since = {key: version for version, keys in data["added"].items() for key in keys}
    return {"versions": data["versions"], "since": since}


def required_keys(spec: ArchitectureSpec) -> list[str]:
    """What the generated code of `spec` uses of timm: names it imports, arguments it passes, the model name."""
    keys = [f"name:{module}:{name}" for module, name, _ in spec.imports if module.startswith("timm")]
    keys.append("name:timm.data:create_transform")
    keys += [f"param:timm.data:create_transform:{key}" for key in DATA_CONFIG_KEYS]  # the processor's arguments
    # forward_head and forward_features for the models, forward_intermediates for hidden states and the backbone.
    for method in ("forward_features", "forward_head", "forward_intermediates", "set_grad_checkpointing"):
        keys.append(f"method:{spec.model_module}:{spec.model_class}:{method}")
    if spec.explicit:
        owner = f"param:{spec.model_module}:{spec.model_class}"
        # the constructor's arguments: generator fields (`arch_def` ...) build `block_args` and the like
        passed = [field.argument_name for field in spec.fields if field.kind.value != "generator"]
        keys += [f"{owner}:{name}" for name in [*passed, *spec.generator_arguments]]
        if spec.passes_num_classes:
            keys.append(f"{owner}:num_classes")
    else:
        keys.append(f"model:{spec.name}")
    return keys


def timm_floor(spec: ArchitectureSpec, history: dict | None = None) -> str:
    """The oldest timm release with everything the generated code of `spec` uses.

    With a timm newer than the table's newest release, that timm's own version: nothing older is known to work.
    """
    import timm

    history = history if history is not None else read_history()
    versions = history["versions"]
    if version_key(timm.__version__) > version_key(versions[-1]):
        return timm.__version__
    floors = [history["since"].get(key, versions[0]) for key in required_keys(spec)]
    return max(floors, key=version_key)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rebuild timm_history.json from every timm 1.0.x release.")
    parser.add_argument("--cache", type=Path, required=True, help="folder for one `pip --target` per release")
    parser.add_argument("--versions", nargs="*", help="releases (default: every 1.0.x on the index)")
    args = parser.parse_args(argv)
    versions = args.versions or index_versions()
    releases = {}
    for version in versions:
        dump = dump_release(version, args.cache)
        releases[dump["version"]] = set(dump["keys"])
        print(f"timm {version}: {len(dump['keys'])} names", file=sys.stderr)
    write_history(build_history(releases))


def index_versions() -> list[str]:
    """Every timm 1.0.x release that pip's index lists."""
    output = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "timm"], capture_output=True, text=True, check=True
    ).stdout
    listed = output.split("Available versions:")[1].splitlines()[0]
    return sorted((v.strip() for v in listed.split(",") if v.strip().startswith("1.0.")), key=version_key)


if __name__ == "__main__":
    main()
