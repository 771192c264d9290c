"""Proof that a generated folder loads like timm, three ways: each gives timm's exact outputs.

`reference.run_reference` records timm's outputs on a fixed image before the reference model is freed; `verify_folder`
reloads the saved folder as users will: through `AutoModelForImageClassification`, `AutoModel` and
`AutoImageProcessor` with `trust_remote_code=True` (the generated classes), through the same Auto classes without
it (Transformers' TimmWrapper classes), and with `timm.create_model("local-dir:<folder>", pretrained=True)` and
timm's data config; each must give logits, pooled features, processed pixels and class names equal to timm's.
Transformers reads a repository by its id (from the Hub or its cache) another way than a local folder, so both
image processors are also loaded by repo id from a Hugging Face cache entry of the folder.
Each loader builds the model in the folder's dtype, as Transformers does: a bfloat16 giant is never held in float32.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template import weights
from timm_hub_template.data_config import IMAGE_MODES
from timm_hub_template.errors import ExportError
from timm_hub_template.meta_build import meta_initialisation_skipped, on_meta_device
from timm_hub_template.reference import require_equal

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers
    from timm_hub_template.reference import Reference


def expected_data_config(answers: Answers) -> dict[str, Any]:
    """The preprocessing the processor must reproduce. For a training checkpoint (unless the `data_config` variable
    overrides it) that is the one `train.py` evaluated with, resolved here again from its `args` as `train.py` does
    (`resolve_data_config(vars(args), model=create_model(args.model))`, mean and std adapted to the channel count
    as its loader does), so a data config taken from another pretrained tag than the run's cannot pass."""
    training = answers.checkpoint.training_args if answers.checkpoint else {}
    if not training.get("model") or "data_config" in answers.data_config_source:
        return answers.data_config
    import timm
    from timm.data import resolve_data_config
    from timm.data.loader import adapt_to_chs

    with on_meta_device():
        model = timm.create_model(training["model"], pretrained=False, **answers.spec.create_kwargs)
    config = resolve_data_config(training, model=model)
    channels = config["input_size"][0]
    return {**config, "mean": adapt_to_chs(config["mean"], channels), "std": adapt_to_chs(config["std"], channels)}


def sample_image(channels: int):
    """A deterministic image with detail at every scale, in the mode the model's processor takes."""
    from PIL import Image

    return Image.effect_mandelbrot((257, 193), (-2.0, -1.2, 0.8, 1.2), 64).convert(IMAGE_MODES[channels])


# The file earlier generations wrote the preprocessing to, a second time: now config.json's `pretrained_cfg` alone.
SECOND_PREPROCESSING = "preprocessor_config.json"
# The loaders verify_folder checks, in the order it checks them (the coverage sweep records each).
LOADERS = ("custom code", "TimmWrapper", "timm")


class LoaderError(ExportError):
    """The folder does not load exactly one or more of the `LOADERS` ways: `failures` maps each to its cause."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        causes = "; ".join(f"{loader}: {cause}" for loader, cause in failures.items())
        super().__init__(f"the saved folder does not load like timm with {', '.join(failures)} ({causes})")


def verify_folder(
    project_dir: Path,
    answers: Answers,
    reference: Reference,
    notes: list[str] | None = None,
    step: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Reload the folder each of the `LOADERS` ways and require timm's exact outputs; returns what was checked.
    Every loader is tried; `LoaderError` names each that failed. `notes` receives what the caller should know
    (TimmWrapper exact only once its mapped tensors are aligned); `step` a line as each loader passes."""
    from timm_hub_template.errors import first_line

    if (project_dir / SECOND_PREPROCESSING).exists():
        raise ExportError(
            f"{SECOND_PREPROCESSING} (left by an earlier generation) is a second copy of the preprocessing, which "
            "Transformers 5.25 reads by repo id instead of config.json's pretrained_cfg: delete it, here and in the "
            "Hub repository"
        )
    checked: list[str] = []
    labels: list[str] = []
    failures: dict[str, str] = {}

    def attempt(loader: str, check: Any, passed: str = "") -> None:
        if loader in failures:
            return
        try:
            check()
        except ExportError as error:
            failures[loader] = str(error)
        except Exception as error:  # noqa: BLE001 - a loader that raises fails; the others are still tried
            failures[loader] = f"{type(error).__name__}: {first_line(error)}"
        else:
            if passed:
                step(passed)

    # The class names first: the other loaders are held to them even when the custom code's outputs differ.
    attempt("custom code", lambda: labels.extend(custom_labels(project_dir)))
    attempt(
        "custom code",
        lambda: checked.extend(verify_custom_code(project_dir, answers, reference)),
        "Verified: loaded with its own code (trust_remote_code=True), timm's outputs",
    )
    attempt(
        "TimmWrapper",
        lambda: verify_timm_wrapper(project_dir, answers, reference, labels, notes),
        "Verified: loaded with Transformers' TimmWrapper (no remote code), timm's outputs",
    )
    attempt(
        "timm",
        lambda: verify_timm(project_dir, answers, reference, labels, notes),
        "Verified: loaded with timm (local-dir:), timm's outputs",
    )
    with hub_repository(project_dir) as (repo_id, cache_dir):
        for loader, remote_code in (("custom code", True), ("TimmWrapper", False)):
            attempt(
                loader, lambda remote=remote_code: verify_processor_by_repo_id(repo_id, cache_dir, answers, remote)
            )
        if not failures:
            step("Verified: both image processors by repo id, as the Hub serves them")
    if failures:
        raise LoaderError(failures)
    return checked


def expected_pixels(answers: Answers) -> tuple[Any, Any]:
    """The verification image in the model's mode and timm's eval transform of it."""
    from timm.data import create_transform

    image = sample_image(answers.data_config["input_size"][0])
    return image, create_transform(**expected_data_config(answers), is_training=False)(image).unsqueeze(0)


def custom_labels(project_dir: Path) -> list[str]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(project_dir), trust_remote_code=True)
    return [config.id2label[index] for index in range(config.num_labels)]


def verify_timm_wrapper(
    project_dir: Path, answers: Answers, reference: Reference, labels: list[str], notes: list[str] | None = None
) -> None:
    """Without remote code the Auto classes load Transformers' TimmWrapper classes (no code of the repository
    runs), which must find every weight and give timm's outputs, pixels and class names.

    TimmWrapper keeps the tensors where it maps them in model.safetensors. A tensor whose size is not a multiple of
    64 bytes (odd channel counts: pruned models) leaves the next ones at unaligned addresses, where some CPU kernels
    round differently in the last bits; no safetensors layout aligns them all (the format has no padding). When the
    outputs differ, they must be equal once those tensors are copied to aligned memory (what timm's and the
    generated `from_pretrained` do), and `notes` says so."""
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    def load(auto_class: Any, expected_class: str, ignored: tuple[str, ...] = ()) -> Any:
        with meta_initialisation_skipped():  # Transformers builds on the meta device, then loads every weight
            model, info = auto_class.from_pretrained(str(project_dir), output_loading_info=True)
        if type(model).__name__ != expected_class:
            raise ExportError(f"{auto_class.__name__} without remote code loaded {type(model).__name__}")
        problems = {kind: keys for kind, keys in info.items() if keys and kind not in ignored}
        if problems:
            raise ExportError(f"TimmWrapper ({expected_class}) did not load the saved weights as they are: {problems}")
        return model.eval()

    import torch

    features_model = load(AutoModel, "TimmWrapperModel", ignored=("unexpected_keys",))
    realigned = 0
    with torch.inference_mode():
        outputs = features_model(reference.pixel_values)
        try:
            reference.require_features("TimmWrapper", outputs.last_hidden_state, outputs.pooler_output)
        except ExportError:
            realigned += realign(features_model)
            outputs = features_model(reference.pixel_values)
    del features_model
    reference.require_features("TimmWrapper", outputs.last_hidden_state, outputs.pooler_output)
    if answers.has_head:
        classifier = load(AutoModelForImageClassification, "TimmWrapperForImageClassification")
        if realigned:
            realign(classifier)
        with torch.inference_mode():
            logits = classifier.timm_model.forward_head(outputs.last_hidden_state)
        require_equal("TimmWrapper's logits", logits, reference.logits)
        wrapper_labels = [classifier.config.id2label[index] for index in range(classifier.config.num_labels)]
        if wrapper_labels != labels:
            raise ExportError("TimmWrapper's class names differ from the generated config's")
        del classifier
    if realigned and notes is not None:
        notes.append(
            f"TimmWrapper's outputs equal timm's once {realigned} tensors it maps at unaligned addresses of "
            "model.safetensors are copied to aligned memory (they differ in the last bits otherwise)"
        )
    processor = AutoImageProcessor.from_pretrained(str(project_dir))
    if type(processor).__name__ != "TimmWrapperImageProcessor":
        raise ExportError(f"AutoImageProcessor without remote code loaded {type(processor).__name__}")
    image, expected = expected_pixels(answers)
    require_equal(
        "TimmWrapper's image-processor pixels", processor(image, return_tensors="pt")["pixel_values"], expected
    )


def realign(model: Any) -> int:
    """Copy the CPU tensors of `model` that sit at addresses not aligned to 64 bytes; returns how many.

    The generated `from_pretrained` does the same to the models it loads. This copy is for Transformers' TimmWrapper,
    which does not: the generated code cannot import it (it runs without this package), and the check of TimmWrapper
    does not run the repository's code (loading without it is what that check verifies)."""
    tensors = [tensor for tensor in [*model.parameters(), *model.buffers()] if tensor.device.type == "cpu"]
    unaligned = [tensor for tensor in tensors if tensor.data_ptr() % 64]
    for tensor in unaligned:
        tensor.data = tensor.data.clone()
    return len(unaligned)


def verify_timm(
    project_dir: Path, answers: Answers, reference: Reference, labels: list[str], notes: list[str] | None = None
) -> None:
    """`timm.create_model("local-dir:<folder>", pretrained=True)` builds the same model with the same weights, and
    `timm.data.resolve_data_config` gives the same preprocessing and class names.

    timm's loader initialises every weight at random, then reads model.safetensors into a second copy and copies it
    in (seconds and twice the memory for a large model). The folder is first checked without that work
    (`timm_model_of_folder`); where that model does not give timm's outputs, timm's own loader decides."""
    model = timm_model_of_folder(project_dir, answers)
    if model is not None:
        try:
            require_timm_outputs(model, answers, reference, labels)
            return
        except ExportError:
            pass  # timm's own loader decides below
        finally:
            del model
    require_timm_outputs(timm_loaded_folder(project_dir, answers, notes), answers, reference, labels)


def timm_model_of_folder(project_dir: Path, answers: Answers) -> Any | None:
    """The folder's model as timm's loader would build it, without its random initialisation or a second copy: the
    model timm builds from config.json (`local-dir:`, `pretrained=False`) on the meta device, holding the tensors of
    model.safetensors, read once, under timm's names with a strict load. None where timm's loader would change the
    weights (`load_pretrained` drops a head of another size than `pretrained_cfg`'s, slices a label offset), or reads
    another file, or where this build fails: timm's own loader then decides."""
    import timm

    from timm_hub_template import safetensors_stream

    weights_file = project_dir / "model.safetensors"
    try:
        with weights.built_in(answers.torch_dtype):
            with on_meta_device():
                model = timm.create_model(f"local-dir:{project_dir}", pretrained=False)
            pretrained_cfg = model.pretrained_cfg
            head_kept = pretrained_cfg.get("num_classes") == getattr(model, "num_classes", None)
            if not head_kept or pretrained_cfg.get("label_offset") or not weights_file.is_file():
                return None
            if not weights.assign(model, safetensors_stream.load_file(weights_file), "the folder"):
                return None
    except Exception:  # noqa: BLE001 - whatever fails here, timm's own loader reports
        return None
    return model.to(answers.torch_dtype).eval()


def timm_loaded_folder(project_dir: Path, answers: Answers, notes: list[str] | None = None) -> Any:
    """`timm.create_model("local-dir:<folder>", pretrained=True)`, in the folder's dtype.

    Some entrypoints build a backbone with the same `pretrained` flag (vit_small_resnet26d_224's resnet26d), so
    timm first fetches that backbone's own weights from the Hub, then overwrites every one of them with the
    folder's. Where the Hub cannot be reached, the model is built as timm builds it without that fetch and the
    folder loaded with timm's own `load_pretrained` (the same weights, strictly), and `notes` says so."""
    import timm
    from huggingface_hub.errors import LocalEntryNotFoundError
    from timm.models import load_pretrained

    try:
        # Built in the folder's dtype, as Transformers builds the other two loaders: a float32 build of a bfloat16
        # folder would hold 4 bytes per parameter (27 GB for vit_7b_patch16_dinov3) before casting down.
        with weights.built_in(answers.torch_dtype):
            try:
                model = timm.create_model(f"local-dir:{project_dir}", pretrained=True)
            except LocalEntryNotFoundError:  # the folder is local: what is missing is another model's weights
                model = timm.create_model(f"local-dir:{project_dir}", pretrained=False)
                load_pretrained(model, pretrained_cfg=model.pretrained_cfg, num_classes=model.num_classes)
                if notes is not None:
                    notes.append(
                        "timm: its entrypoint fetches a backbone's own pretrained weights from the Hub before "
                        "loading the folder's (offline here): checked with the same build without that fetch"
                    )
    except (RuntimeError, ValueError, TypeError, OSError) as error:
        raise ExportError(
            f"timm.create_model('local-dir:<folder>') failed: {type(error).__name__}: {error}"
        ) from error
    return model.to(answers.torch_dtype).eval()


def require_timm_outputs(model: Any, answers: Answers, reference: Reference, labels: list[str]) -> None:
    """timm's model of the folder gives timm's outputs, class names and (with its data config) pixels."""
    import torch
    from timm.data import create_transform, resolve_data_config

    with torch.inference_mode():
        features = model.forward_features(reference.pixel_values)
        pooled = model.forward_head(features, pre_logits=True) if reference.pre_logits is not None else None
        logits = model.forward_head(features) if answers.has_head else None
    reference.require_features("timm's local-dir: model", features, pooled)
    if answers.has_head:
        require_equal("timm local-dir: logits", logits, reference.logits)
        if list(model.pretrained_cfg.get("label_names") or []) != labels:
            raise ExportError("timm's label_names differ from the generated config's class names")
    image, expected = expected_pixels(answers)
    data_config = resolve_data_config(model=model)
    pixels = create_transform(**data_config, is_training=False)(image).unsqueeze(0)
    require_equal("timm local-dir: data config's pixels", pixels, expected)


def verify_custom_code(project_dir: Path, answers: Answers, reference: Reference) -> list[str]:
    """Reload through the Auto classes, as users will, and require timm's exact outputs; returns what was checked.

    One forward pass: `AutoModel`'s features and pooled features, then the logits of the classifier that
    `AutoModelForImageClassification` loads, from those features (its `forward_head`). Both must find every weight
    they have in the folder (Transformers would otherwise initialise what is missing and only warn); the classifier
    must also use every weight of the folder. Models load
    outside inference mode, as users load them: parameters created in inference mode do not require grad, which
    changes the attention kernel PyTorch picks (pit's outputs then differ in the last bits).
    """
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    def require_saved_equal(what: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
        require_equal(f"{what} of the saved folder", actual, expected)

    def load(auto_class: Any, ignored: tuple[str, ...] = ()) -> Any:
        with meta_initialisation_skipped():  # Transformers builds on the meta device, then loads every weight
            model, info = auto_class.from_pretrained(
                str(project_dir), trust_remote_code=True, output_loading_info=True
            )
        problems = {kind: keys for kind, keys in info.items() if keys and kind not in ignored}
        if problems:
            raise ExportError(f"{auto_class.__name__} did not load the saved weights as they are: {problems}")
        return model.eval()

    # The features model leaves out the classifier's head, which in some timm models is more than the
    # classifier (levit's and repvit's heads hold a BatchNorm): those keys are unexpected, by design.
    features_model = load(AutoModel, ignored=("unexpected_keys",))
    with torch.inference_mode():
        outputs = features_model(reference.pixel_values)
    del features_model
    reference.require_features("the saved folder", outputs.last_hidden_state, outputs.pooler_output)
    checked = ["pooled features" if reference.pre_logits is not None else "features"]
    if answers.has_head:
        classifier = load(AutoModelForImageClassification)
        if answers.labels and classifier.config.id2label != dict(enumerate(answers.labels)):
            raise ExportError("the saved folder's id2label is not the labels in their order")
        with torch.inference_mode():
            require_saved_equal(
                "logits", classifier.timm_model.forward_head(outputs.last_hidden_state), reference.logits
            )
        del classifier
        checked.insert(0, "logits")
    processor = AutoImageProcessor.from_pretrained(str(project_dir), trust_remote_code=True)
    if type(processor).__name__ != f"{answers.class_prefix}ImageProcessor":
        raise ExportError(f"AutoImageProcessor with remote code loaded {type(processor).__name__}")
    image, expected = expected_pixels(answers)
    require_saved_equal("image-processor pixels", processor(image, return_tensors="pt")["pixel_values"], expected)
    return [*checked, "processor pixels"]


# What a Hub repository's processors and config are read from: its configuration and code, not its weights.
HUB_LAYOUT_SUFFIXES = (".json", ".py")


@contextlib.contextmanager
def hub_repository(project_dir: Path) -> Iterator[tuple[str, str]]:
    """The folder as a Hub repository: a Hugging Face cache entry (as `hf_hub_download` leaves it) of its
    configuration and code files, in a temporary cache; yields the repo id and the cache folder. The revision is
    the files' digest, so the modules Transformers copies from it are never another run's."""
    files = sorted(path for path in project_dir.iterdir() if path.is_file() and path.suffix in HUB_LAYOUT_SUFFIXES)
    digest = hashlib.sha1()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    revision = digest.hexdigest()
    repo_id = f"timm-hub-template-verification/{project_dir.name}"
    with tempfile.TemporaryDirectory(prefix="timm-hub-template-cache-") as cache_dir:
        entry = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
        snapshot = entry / "snapshots" / revision
        snapshot.mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, snapshot / path.name)
        (entry / "refs").mkdir()
        (entry / "refs" / "main").write_text(revision)
        yield repo_id, cache_dir


def verify_processor_by_repo_id(repo_id: str, cache_dir: str, answers: Answers, remote_code: bool) -> None:
    """`AutoImageProcessor.from_pretrained(<repo id>)` with or without remote code gives timm's pixels."""
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(
        repo_id, cache_dir=cache_dir, local_files_only=True, trust_remote_code=remote_code
    )
    expected_class = f"{answers.class_prefix}ImageProcessor" if remote_code else "TimmWrapperImageProcessor"
    way = "with" if remote_code else "without"
    if type(processor).__name__ != expected_class:
        raise ExportError(f"AutoImageProcessor by repo id {way} remote code loaded {type(processor).__name__}")
    image, expected = expected_pixels(answers)
    pixels = processor(image, return_tensors="pt")["pixel_values"]
    require_equal(f"image-processor pixels by repo id ({way} remote code)", pixels, expected)
