"""Print what the importable timm release offers, as JSON: `{"version": ..., "keys": [...]}`.

Run as a script in a fresh process with one timm release first on `PYTHONPATH`, by `timm_history.dump_release`:

    PYTHONPATH=<folder holding timm X> python timm_release_names.py timm.models timm.layers timm.data

Keys: `model:<name>` for each architecture, `name:<module>:<attr>` for each public callable of the packages'
modules, `param:<module>:<class>:<argument>` for the constructor arguments of the model classes (those with
`forward_features`) and of `create_transform`, `method:<module>:<class>:<method>` for the model methods the generated
code calls. It imports only the standard library and timm: the release under test must not see this package.
"""

import importlib
import inspect
import json
import pkgutil
import sys
import warnings

METHODS = ("forward_features", "forward_head", "forward_intermediates", "set_grad_checkpointing")


def release_keys(packages: list[str]) -> set[str]:
    import timm

    keys = {"model:" + name for name in timm.list_models()}
    for package in packages:
        root = importlib.import_module(package)
        names = [package] + [module.name for module in pkgutil.walk_packages(root.__path__, package + ".")]
        for name in names:
            try:
                module = importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - a module this release cannot import offers nothing
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
                    keys.update(f"param:{name}:{attr}:{parameter}" for parameter in parameters)
                    keys.update(f"method:{name}:{attr}:{method}" for method in METHODS if hasattr(value, method))
    return keys


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    import timm

    print(json.dumps({"version": timm.__version__, "keys": sorted(release_keys(sys.argv[1:]))}))
