"""Export: write the Hub files of a rendered folder from the weights timm's model holds.

`export(project_dir, answers)` runs in the folder cookiecutter (or batch mode) just rendered:

1. format the rendered Python files with ruff;
2. resolve the weights into timm's model (`weights.load_reference`);
3. build the generated `...ForImageClassification` on the meta device and give it the reference's tensors, so the
   weights exist once in memory;
4. write what `save_pretrained` writes (config.json with every Auto class in `auto_map`, the code files, the
   weights streamed into safetensors) on a second thread, while timm's outputs for the verification and the
   model's statistics are computed;
5. the model card (the image processor reads config.json's `pretrained_cfg`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from timm_hub_template import __version__, card, onnx_export, run_files, safetensors_stream, stats, weights
from timm_hub_template.formatting import format_python_files
from timm_hub_template.meta_build import on_meta_device
from timm_hub_template.reference import Reference, run_reference

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers

T = TypeVar("T")


def export(
    project_dir: Path,
    answers: Answers,
    written: dict[str, str | None] | None = None,
    step: Callable[[str], None] = lambda line: None,
) -> Reference:
    """Write config, weights, code and card into `project_dir`; returns timm's outputs to verify against.

    `written` receives the files written (relative POSIX path -> their SHA-256 when hashed while written, else None).
    Each is a new file: a link at its path (to a file outside the folder) is removed first, never written through.
    `step` receives a line as each part is done.
    """
    module, prefix = answers.module_name, answers.class_prefix
    written = {} if written is None else written
    run_files.detach(project_dir, run_files.RUN_FILES)
    format_python_files(project_dir)
    with tempfile.TemporaryDirectory() as staging:
        generated = import_generated_package(project_dir, Path(staging), module)
        modeling = generated[f"modeling_{module}"]
        reference_model = weights.load_reference(answers)
        model = build_with_weights(modeling, answers, reference_model)
        # timm's outputs and the card's statistics are computed while the weights are written: the disk and the
        # hashing use the other core.
        save = functools.partial(save_model, model, modeling, prefix, module, project_dir, written=written)
        with in_background(save) as saved:
            reference = run_reference(reference_model, answers.data_config["input_size"], answers.torch_dtype)
            model_stats = stats.measure(
                reference_model, answers.data_config["input_size"], new_model(modeling, answers).timm_model
            )
            weights_sha256 = saved.result()
        # A checkpoint's SHA-256 for the card, hashed in the background since the export began (`generate.complete`).
        weights_origin = weights.describe(answers)
        step(f"Weights: {weights_origin}")
        megabytes = sum((project_dir / name).stat().st_size for name in weights_sha256) / 1e6
        step(f"Wrote config.json, the code and {', '.join(sorted(weights_sha256))} ({megabytes:.1f} MB)")
        onnx_report = onnx_export.export_if_asked(project_dir, answers, reference_model, reference)
        # No preprocessor_config.json: the processors (TimmWrapper's and the repository's) read config.json's
        # `pretrained_cfg`, as timm does, so no second copy can disagree with it.
        del model, reference_model
    provenance = card.Provenance(
        template_version=template_version(),
        weights=weights_origin,
        weights_sha256=dict(sorted(weights_sha256.items())),
        versions=library_versions(),
    )
    card.write_model_card(project_dir, answers, model_stats, provenance, onnx_report)
    write_requirements(project_dir, answers)
    written.update(dict.fromkeys(("README.md", "requirements.txt", *(onnx_report.files if onnx_report else ()))))
    written.update(weights_sha256)
    step("Wrote the model card (README.md) and requirements.txt")
    return reference


def write_requirements(project_dir: Path, answers: Answers) -> None:
    """requirements.txt: what Inference Endpoints' default container installs at start-up (it has no timm)."""
    from timm_hub_template.compat import repository_requirements
    from timm_hub_template.timm_floor import timm_floor

    (project_dir / "requirements.txt").write_text(repository_requirements(timm_floor(answers.spec)))


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


def compare_keys_and_shapes(project_dir: Path, answers: Answers) -> None:
    """Compare the generated model with timm's on the meta device only: same keys, same shapes, no weights."""
    import timm

    spec, module = answers.spec, answers.module_name
    format_python_files(project_dir)
    with tempfile.TemporaryDirectory() as staging:
        modeling = import_generated_package(project_dir, Path(staging), module)[f"modeling_{module}"]
        model = new_model(modeling, answers)
        with on_meta_device():
            reference = timm.create_model(spec.full_name, **spec.create_kwargs)
        weights.check_keys(
            reference.state_dict(), model.timm_model.state_dict(), f"the generated {answers.class_prefix} model"
        )


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


def new_model(modeling: Any, answers: Answers):
    """The generated model, built on the meta device: the classifier, or the features model if headless."""

    config_class = getattr(modeling, f"{answers.class_prefix}Config")
    if answers.labels:
        config = config_class(id2label=dict(enumerate(answers.labels)), label2id=None)
    else:
        config = config_class(num_labels=answers.spec.num_classes)
    # A model without a head (num_labels=0, encoder-only architectures) is published as the features model.
    suffix = "ForImageClassification" if answers.has_head else "Model"
    with on_meta_device():
        return getattr(modeling, f"{answers.class_prefix}{suffix}")(config)


def build_with_weights(modeling: Any, answers: Answers, reference: Any):
    """The generated model, built on the meta device, sharing the reference's tensors (no copy)."""
    model = new_model(modeling, answers)
    weights.check_keys(
        model.timm_model.state_dict(),
        reference.state_dict(),
        f"the generated {answers.class_prefix} model does not match timm's",
    )
    model.timm_model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    for name, buffer in reference.named_buffers():  # non-persistent buffers are not in the state dict
        owner, _, attribute = name.rpartition(".")
        model.timm_model.get_submodule(owner)._buffers[attribute] = buffer
    return model.eval()


@contextlib.contextmanager
def in_background(work: Callable[[threading.Event], T]) -> Iterator[Future[T]]:
    """`work(cancelled)` on a second thread while the block runs. When the block fails (or is interrupted), the
    event tells `work` to stop, and the block's exception propagates once the thread has stopped (a second
    interrupt does not cut that wait short): nothing is still writing while the caller cleans up."""
    cancelled = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timm-hub-save")
    try:
        yield pool.submit(work, cancelled)
    except BaseException:
        cancelled.set()
        raise
    finally:
        _wait_for(pool)


def _wait_for(pool: ThreadPoolExecutor) -> None:
    """Shut `pool` down, waiting for its running work (it stops at its next tensor) through further interrupts,
    which are raised once it has stopped."""
    interrupt = None
    while True:
        try:
            pool.shutdown(wait=True)
            break
        except BaseException as error:  # noqa: BLE001 - Ctrl-C or SIGTERM again: raised after the wait
            interrupt = interrupt or error
    if interrupt is not None:
        raise interrupt


def save_model(
    model: Any,
    modeling: Any,
    prefix: str,
    module: str,
    project_dir: Path,
    cancelled: threading.Event | None = None,
    written: dict[str, str | None] | None = None,
) -> dict[str, str]:
    """What `save_pretrained` writes, with every Auto class in `auto_map` (Transformers only adds the saved model's
    class), and the weights streamed into safetensors one tensor at a time (no second copy in memory); returns the
    SHA-256 of each weights file. Stops between tensors once `cancelled` is set. `written` receives the names of
    the files written besides the weights (the code files, config.json, the index of sharded weights)."""
    from transformers.dynamic_module_utils import custom_object_save

    config_class = getattr(modeling, f"{prefix}Config")
    config_class.register_for_auto_class()
    getattr(modeling, f"{prefix}Model").register_for_auto_class("AutoModel")
    # The image processor is named by the config class, in no file: only loading with remote code takes it; without,
    # the Auto classes take Transformers' TimmWrapper classes (config.json is timm's too).
    model.config.auto_map = {
        "AutoConfig": f"configuration_{module}.{prefix}Config",
        "AutoModel": f"modeling_{module}.{prefix}Model",
    }
    classifier = getattr(modeling, f"{prefix}ForImageClassification", None)  # none for encoders without a head
    if classifier is not None:
        classifier.register_for_auto_class("AutoModelForImageClassification")
        model.config.auto_map["AutoModelForImageClassification"] = f"modeling_{module}.{classifier.__name__}"
    if hasattr(modeling, f"{prefix}Backbone"):
        getattr(modeling, f"{prefix}Backbone").register_for_auto_class("AutoBackbone")
        model.config.auto_map["AutoBackbone"] = f"modeling_{module}.{prefix}Backbone"
    # As save_pretrained: the dtype and class in the config, the code files, config.json.
    model.config.dtype = str(model.dtype).removeprefix("torch.")
    model.config.architectures = [type(model).__name__]
    code_files = custom_object_save(model, project_dir, config=model.config)
    model.config.save_pretrained(project_dir)
    if written is not None:
        written.update(dict.fromkeys([Path(name).relative_to(project_dir).as_posix() for name in code_files]))
        written["config.json"] = None
    # Every tensor of timm's state dict under timm's own names (no `timm_model.` prefix), as the generated
    # save_pretrained writes them: timm and TimmWrapper read them as they are (a module timm shares between blocks,
    # coat's, is written under each name, as timm's own export writes it), the generated classes load them into
    # `timm_model`.
    state_dict = {key.removeprefix("timm_model."): tensor for key, tensor in model.state_dict().items()}
    digests = safetensors_stream.save_sharded(state_dict, project_dir, model.num_parameters(), cancelled=cancelled)
    if written is not None and len(digests) > 1:
        written["model.safetensors.index.json"] = None
    return digests
