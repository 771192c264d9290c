"""Post-generation: put the weights into the generated model, save the Hub files, and prove they load like timm.

`export(project_dir, context)` is what the post-generation hook runs, in the folder cookiecutter just rendered:

1. format the rendered Python files with ruff;
2. resolve the weights (`pretrained`, `random`, or a checkpoint path) into a timm model built by `timm.create_model`
   (the reference), checking every key of a checkpoint;
3. build the generated `...ForImageClassification` on the meta device and give it the reference's tensors, so the
   weights exist once in memory;
4. `save_pretrained` with the Auto classes registered (config.json with `auto_map`, model.safetensors, the code
   files), the image processor, and the model card;
5. reload the folder through `AutoModelForImageClassification`, `AutoModel` and `AutoImageProcessor` with
   `trust_remote_code=True` and require logits, pooled features and pixels equal to timm's.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timm_hub_template import __version__, card, publish, stats
from timm_hub_template.errors import first_line
from timm_hub_template.introspect import ArchitectureSpec, inspect_architecture, num_classes_override
from timm_hub_template.validate import CHECKPOINT_SUFFIXES


class ExportError(Exception):
    """A failure with a one-line cause the user can act on."""


@dataclass
class Weights:
    """A timm model holding the weights to publish, and where they came from."""

    reference: Any  # the timm model (torch.nn.Module) built by timm.create_model
    source: str  # "pretrained", "random" or the checkpoint path


@dataclass
class Reference:
    """Outputs of the reference timm model, computed before it is freed."""

    pixel_values: Any
    logits: Any
    pre_logits: Any


def main(context: dict[str, Any], project_dir: str | Path = ".", cruft_update: bool = False) -> int:
    """Entry point of the post-generation hook: 0 on success, 1 with a one-line error on stderr.

    After a successful export the folder is committed (`git_init`) and pushed (`push_to_hub`), except while
    `cruft update` regenerates the template in a scratch folder to compute its diff. A publishing step that
    cannot happen is reported and the exit status stays 0: cookiecutter would delete the complete folder.
    """
    project_dir = Path(project_dir).resolve()
    context, push_problem = (context, "") if cruft_update else publish.with_hub_owner(context)
    try:
        export(project_dir, context)
    except ExportError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - any failure is reported as one line (traceback on request)
        if os.environ.get("TIMM_HUB_TEMPLATE_DEBUG"):
            traceback.print_exc()
        print(
            f"Error: {type(error).__name__} while exporting {context['architecture']}: {first_line(error)} "
            "(set TIMM_HUB_TEMPLATE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    if not cruft_update:
        publish.publish_folder(project_dir, context, push_problem)
    return 0


def export(project_dir: Path, context: dict[str, Any]) -> None:
    project_dir = Path(project_dir).resolve()
    spec = inspect_architecture(context["architecture"], num_classes_override(context.get("num_labels")))
    module, prefix = context["module_name"], context["class_prefix"]
    format_python_files(project_dir)
    with tempfile.TemporaryDirectory() as staging:
        generated = import_generated_package(project_dir, Path(staging), module)
        modeling = generated[f"modeling_{module}"]
        processing = generated[f"image_processing_{module}"]
        weights = load_weights(spec, context["weights"])
        model = build_with_weights(modeling, prefix, spec, weights.reference)
        reference = run_reference(weights.reference, spec)
        save_model(model, modeling, prefix, module, project_dir)
        processor = getattr(processing, f"{prefix}ImageProcessor")(**spec.data_config)
        processor.register_for_auto_class("AutoImageProcessor")
        processor.save_pretrained(project_dir)
        model_stats = stats.measure(
            weights.reference, spec.data_config["input_size"], new_model(modeling, prefix, spec).timm_model
        )
        weights_origin = describe_weights(spec, weights)
        del model, weights
        gc.collect()
    provenance = card.Provenance(
        template_version=template_version(),
        weights=weights_origin,
        weights_sha256=sha256(project_dir / "model.safetensors"),
        versions=library_versions(),
    )
    card.write_model_card(project_dir, spec, context, model_stats, provenance)
    verify_folder(project_dir, spec, reference)


def describe_weights(spec: ArchitectureSpec, weights: Weights) -> str:
    """One sentence for the card: which release, file or seed the published weights are."""
    if weights.source == "random":
        return "random initialisation (`torch.manual_seed(0)`): untrained, for trying the code"
    if weights.source == "pretrained":
        cfg = spec.pretrained_cfg
        hub_id = cfg.get("hf_hub_id")
        if not hub_id:
            return f"timm's pretrained `{spec.full_name}`, from {cfg.get('url') or cfg.get('file')}"
        revision = cached_revision(hub_id, cfg.get("hf_hub_filename"))
        at = f" at revision `{revision}`" if revision else ""
        return f"timm's pretrained release [`{hub_id}`](https://huggingface.co/{hub_id}){at}"
    path = Path(weights.source).expanduser()
    return f"checkpoint `{path.name}` (SHA-256 `{sha256(path)}`)"


def cached_revision(repo_id: str, filename: str | None) -> str:
    """The Hub commit of the cached file timm loaded (its snapshot folder's name), or ""."""
    from huggingface_hub import try_to_load_from_cache

    for name in (filename, "model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin"):
        if name:
            path = try_to_load_from_cache(repo_id, name)
            if isinstance(path, str):
                return Path(path).parent.name
    return ""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache  # once per process: batch mode and the sweep export many architectures
def template_version() -> str:
    """This package's version, and the commit of the template checkout when it is a git repository."""
    root = Path(__file__).resolve().parent.parent
    git = shutil.which("git")
    if not git or not (root / ".git").exists():
        return __version__
    commit = subprocess.run([git, "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return f"{__version__} (commit {commit.stdout.strip()[:12]})" if commit.returncode == 0 else __version__


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {package: version(package) for package in ("timm", "transformers", "torch", "huggingface_hub")}


def check_structure(project_dir: Path, context: dict[str, Any]) -> None:
    """Compare the generated model with timm's on the meta device only: same keys, same shapes, no weights."""
    import timm
    import torch

    spec = inspect_architecture(context["architecture"], num_classes_override(context.get("num_labels")))
    module, prefix = context["module_name"], context["class_prefix"]
    format_python_files(project_dir)
    with tempfile.TemporaryDirectory() as staging:
        modeling = import_generated_package(project_dir, Path(staging), module)[f"modeling_{module}"]
        model = new_model(modeling, prefix, spec)
        with torch.device("meta"):
            reference = timm.create_model(spec.full_name, **spec.create_kwargs)
        check_keys(reference.state_dict(), model.timm_model.state_dict(), f"the generated {prefix} model")


def run_ruff(project_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """ruff on the folder's Python files with ruff's defaults (`--isolated`); findings name the file only."""
    from ruff.__main__ import find_ruff_bin

    files = sorted(path.name for path in project_dir.glob("*.py"))
    return subprocess.run(
        [find_ruff_bin(), *arguments, "--isolated", "--no-cache", *files],
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=False,
    )


def format_python_files(project_dir: Path) -> None:
    """ruff-format the rendered files: long literal defaults (block lists, dataclass configs) get wrapped."""
    result = run_ruff(project_dir, "format", "--quiet")
    if result.returncode != 0:
        output = " ".join((result.stderr + result.stdout).split())
        raise ExportError(f"the generated Python does not parse (ruff format): {output[:300]}")


def ruff_problems(project_dir: Path) -> list[str]:
    """What `ruff check` and `ruff format --check` (ruff's defaults) say of the generated files; empty when clean."""
    problems = []
    for command in (["check", "--output-format", "concise"], ["format", "--check"]):
        result = run_ruff(project_dir, *command)
        if result.returncode != 0:
            problems += [line for line in result.stdout.splitlines() if line.strip()] or [result.stderr.strip()]
    return problems


def import_generated_package(project_dir: Path, staging: Path, module: str) -> dict[str, Any]:
    """Import the rendered code files as a package from a copy, so `save_pretrained` can copy them back."""
    package_name = f"_timm_hub_generated_{module}"
    for name in [name for name in sys.modules if name.split(".")[0] == package_name]:
        del sys.modules[name]  # an earlier export of the same module name in this process (batch mode)
    package_dir = staging / package_name
    package_dir.mkdir()
    for path in project_dir.glob("*.py"):
        shutil.copyfile(path, package_dir / path.name)
    (package_dir / "__init__.py").touch()
    spec = importlib.util.spec_from_file_location(
        package_name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[package_name] = package
    spec.loader.exec_module(package)
    names = (f"configuration_{module}", f"modeling_{module}", f"image_processing_{module}")
    return {name: importlib.import_module(f"{package_name}.{name}") for name in names}


def load_weights(spec: ArchitectureSpec, weights: str) -> Weights:
    """The reference timm model, holding the requested weights."""
    import timm
    import torch

    if weights == "random":
        torch.manual_seed(0)  # the same random weights on every run
        return Weights(timm.create_model(spec.full_name, pretrained=False, **spec.create_kwargs), "random")
    if weights == "pretrained":
        return Weights(load_pretrained(spec), "pretrained")
    return Weights(load_checkpoint(spec, Path(weights).expanduser()), weights)


def load_pretrained(spec: ArchitectureSpec):
    import timm

    cfg = spec.pretrained_cfg
    if not (cfg.get("hf_hub_id") or cfg.get("url") or cfg.get("file")):
        raise ExportError(
            f"timm has no pretrained weights for {spec.full_name}: use weights=random or a checkpoint path"
        )
    try:
        return timm.create_model(spec.full_name, pretrained=True, **spec.create_kwargs)
    except (OSError, RuntimeError, ValueError) as error:
        cause = first_line(error) or type(error).__name__
        raise ExportError(
            f"could not get the pretrained weights of {spec.full_name} (offline or not in the Hugging Face cache: "
            f"{cause}); pass weights=<path to a checkpoint> or weights=random"
        ) from error


def load_checkpoint(spec: ArchitectureSpec, path: Path):
    """timm's model with a checkpoint in timm's format: safetensors, or torch.load(weights_only=True)."""
    import timm
    import torch
    from timm.models import load_state_dict

    if not path.is_file():
        raise ExportError(f"weights file not found: {path}")
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ExportError(f"unsupported checkpoint {path.name}: use one of {', '.join(CHECKPOINT_SUFFIXES)}")
    try:
        state_dict = load_state_dict(str(path), weights_only=True)
    except Exception as error:  # safetensors, pickle and zip errors have no common base class
        raise ExportError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from error
    # safetensors hands out tensors at unaligned addresses, which select other CPU kernels (outputs then differ
    # in the last bits from timm's own load_state_dict). Copy those, one tensor at a time.
    for key, tensor in state_dict.items():
        if tensor.data_ptr() % 64:
            state_dict[key] = tensor.clone()
    # Built on the meta device and given the checkpoint's tensors: the weights exist once in memory.
    with torch.device("meta"):
        reference = timm.create_model(spec.full_name, pretrained=False, **spec.create_kwargs)
    check_keys(reference.state_dict(), state_dict, f"checkpoint {path.name} does not fit {spec.full_name}")
    reference.load_state_dict(state_dict, strict=True, assign=True)
    if not materialize_buffers(reference):  # a buffer timm cannot recompute: build for real instead
        reference = timm.create_model(spec.full_name, pretrained=False, **spec.create_kwargs)
        reference.load_state_dict(state_dict, strict=True, assign=True)
    return reference


def materialize_buffers(model: Any) -> bool:
    """Compute the non-persistent buffers of a meta-built model with timm's `init_non_persistent_buffers`.

    False when a module holds such a buffer without that method (nothing could compute its values).
    """
    import torch

    owners = {name.rpartition(".")[0] for name, buffer in model.named_buffers() if buffer.is_meta}
    modules = [model.get_submodule(owner) for owner in sorted(owners)]
    if not all(hasattr(module, "init_non_persistent_buffers") for module in modules):
        return False
    for module in modules:
        for attribute, buffer in module._buffers.items():
            if buffer is not None and buffer.is_meta:
                module._buffers[attribute] = torch.empty_like(buffer, device="cpu")
        module.init_non_persistent_buffers()
    return not any(buffer.is_meta for buffer in model.buffers())


def check_keys(expected: dict[str, Any], given: dict[str, Any], what: str) -> None:
    """Fail with one line that lists missing, unexpected and mis-shaped keys (the first few of each)."""
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    shapes = [
        f"{key} {tuple(given[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in given and tuple(given[key].shape) != tuple(expected[key].shape)
    ]
    problems = [
        f"{label} ({len(keys)}): {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes))
        if keys
    ]
    if problems:
        raise ExportError(f"{what}: {'; '.join(problems)}")


def new_model(modeling: Any, prefix: str, spec: ArchitectureSpec):
    """The generated model for `spec`, built on the meta device: the classifier, or the features model if headless."""
    import torch
    from timm.data import ImageNetInfo, infer_imagenet_subset

    config_class = getattr(modeling, f"{prefix}Config")
    num_labels = spec.num_classes
    subset = (
        infer_imagenet_subset(spec.pretrained_cfg) if num_labels == spec.pretrained_cfg.get("num_classes") else None
    )
    if subset:
        labels = ImageNetInfo(subset).label_descriptions()
        config = config_class(id2label=dict(enumerate(labels)), label2id=None)
    else:
        config = config_class(num_labels=num_labels)
    # A model without a head (num_labels=0, encoder-only architectures) is published as the features model.
    model_class = getattr(modeling, f"{prefix}ForImageClassification" if num_labels else f"{prefix}Model")
    with torch.device("meta"):
        return model_class(config)


def build_with_weights(modeling: Any, prefix: str, spec: ArchitectureSpec, reference: Any):
    """The generated model, built on the meta device, sharing the reference's tensors (no copy)."""
    model = new_model(modeling, prefix, spec)
    check_keys(
        model.timm_model.state_dict(), reference.state_dict(), f"the generated {prefix} model does not match timm's"
    )
    model.timm_model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    for name, buffer in reference.named_buffers():  # non-persistent buffers are not in the state dict
        owner, _, attribute = name.rpartition(".")
        model.timm_model.get_submodule(owner)._buffers[attribute] = buffer
    return model.eval()


def run_reference(reference: Any, spec: ArchitectureSpec) -> Reference:
    """timm's own outputs on a fixed random batch, to compare the saved folder with."""
    import torch

    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(2, *spec.data_config["input_size"], generator=generator)
    reference.eval()
    with torch.inference_mode():
        features = reference.forward_features(pixel_values)
        return Reference(pixel_values, reference(pixel_values), reference.forward_head(features, pre_logits=True))


def save_model(model: Any, modeling: Any, prefix: str, module: str, project_dir: Path) -> None:
    """save_pretrained with every Auto class in `auto_map` (Transformers only adds the saved model's class)."""
    config_class = getattr(modeling, f"{prefix}Config")
    config_class.register_for_auto_class()
    getattr(modeling, f"{prefix}Model").register_for_auto_class("AutoModel")
    getattr(modeling, f"{prefix}ForImageClassification").register_for_auto_class("AutoModelForImageClassification")
    model.config.auto_map = {
        "AutoConfig": f"configuration_{module}.{prefix}Config",
        "AutoModel": f"modeling_{module}.{prefix}Model",
        "AutoModelForImageClassification": f"modeling_{module}.{prefix}ForImageClassification",
    }
    if hasattr(modeling, f"{prefix}Backbone"):
        getattr(modeling, f"{prefix}Backbone").register_for_auto_class("AutoBackbone")
        model.config.auto_map["AutoBackbone"] = f"modeling_{module}.{prefix}Backbone"
    model.save_pretrained(project_dir)
    # Transformers writes the weights through a private temporary file (mode 0600); give them the mode the other
    # files got from the umask, so that a shared checkout or a container can read them.
    (project_dir / "model.safetensors").chmod((project_dir / "config.json").stat().st_mode & 0o777)


def verify_folder(project_dir: Path, spec: ArchitectureSpec, reference: Reference) -> None:
    """Reload through the Auto classes, as users will, and require timm's exact outputs.

    Models load outside inference mode, as users load them: parameters created in inference mode do not
    require grad, which changes the attention kernel PyTorch picks (pit's outputs then differ in the last bits).
    """
    import torch
    from PIL import Image
    from timm.data import create_transform
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    def require_equal(what: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
        if actual.shape != expected.shape or not torch.equal(actual, expected):
            difference = (actual - expected).abs().max().item() if actual.shape == expected.shape else "shape"
            raise ExportError(f"{what} of the saved folder differ from timm's (max abs diff {difference})")

    folder = str(project_dir)
    if spec.num_classes:
        classifier = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.inference_mode():
            require_equal("logits", classifier(reference.pixel_values).logits, reference.logits)
        del classifier
    features = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.inference_mode():
        require_equal("pooled features", features(reference.pixel_values).pooler_output, reference.pre_logits)
    del features
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    image = Image.effect_mandelbrot((257, 193), (-2.0, -1.2, 0.8, 1.2), 64).convert("RGB")
    expected = create_transform(**spec.data_config, is_training=False)(image).unsqueeze(0)
    require_equal("image-processor pixels", processor(image, return_tensors="pt")["pixel_values"], expected)
