"""One repository, three loaders. A generated folder loads in timm (`local-dir:` and `hf-hub:`), in
Transformers without remote code (TimmWrapper) and with its own code, with timm's outputs, for the user's own
model (model_args, labels, data config) and after fine-tuning through the generated classes and saving."""

import json

import pytest
import timm
import torch
from helpers.support import bake, check_folder, seed_hub_snapshot
from safetensors.torch import load_file

ARCHITECTURE = "resnet10t"
LABELS = ["cat", "dog", "bird"]
# The user's own model: a wider stem (a constructor argument timm's factory forwards), named classes, its preprocessing.
MODEL_ARGS = {"stem_width": 48}
DATA_CONFIG = {"crop_pct": 0.95, "interpolation": "bilinear"}
CREATE_KWARGS = {**MODEL_ARGS, "num_classes": len(LABELS)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return bake(
        tmp_path_factory.mktemp("loaders"),
        architecture=ARCHITECTURE,
        weights="random",
        git_init="no",
        labels=",".join(LABELS),
        model_args=json.dumps(MODEL_ARGS),
        data_config=json.dumps(DATA_CONFIG),
    )


def assert_three_ways(report, labels):
    """The repository's code, TimmWrapper and timm each give the reference's logits, pixels and class names."""
    assert report["logits_equal"] and report["pooled_equal"] and report["pixels_equal"]
    assert report["feature_pipeline_equal"] and report["pipeline_label"] == report["argmax_label"]
    assert report["labels"] == labels
    assert not [message for message in report["warnings"] if "model of type" in message], report["warnings"]
    wrapper = report["timm_wrapper"]
    assert (wrapper["classifier_class"], wrapper["processor_class"]) == (
        "TimmWrapperForImageClassification",
        "TimmWrapperImageProcessor",
    )
    assert wrapper["logits_equal"] and wrapper["pooled_equal"] and wrapper["pixels_equal"]
    assert wrapper["feature_pipeline_equal"] and wrapper["pipeline_label"] == wrapper["argmax_label"]
    assert wrapper["labels"] == labels
    assert report["timm"]["logits_equal"] and report["timm"]["data_config_equal"] and report["timm"]["pixels_equal"]
    assert report["timm"]["labels"] == labels


def test_own_model_loads_three_ways(folder):
    report = check_folder(folder, ARCHITECTURE, folder / "model.safetensors", CREATE_KWARGS, data_config=DATA_CONFIG)
    assert report["classifier_class"] == "Resnet10tForImageClassification"
    assert_three_ways(report, LABELS)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_args"] == MODEL_ARGS and config["stem_width"] == 48
    assert config["pretrained_cfg"]["crop_pct"] == 0.95 and config["pretrained_cfg"]["interpolation"] == "bilinear"


def test_weights_carry_timm_names(folder):
    with torch.device("meta"):
        expected = timm.create_model(ARCHITECTURE, **CREATE_KWARGS).state_dict()
    assert set(load_file(folder / "model.safetensors")) == set(expected)


def test_pushed_repository_loads_three_ways_from_the_hub_cache(folder, tmp_path):
    """As a Hub repository (`hf-hub:` for timm, a repo id for Transformers), read from the Hugging Face cache:
    Transformers 5.25 reads a repository's processor from another file by repo id than from a local folder (a
    preprocessor_config.json where there is one), so both processors must find the preprocessing in config.json."""
    seed_hub_snapshot(tmp_path / "hub", "someone/custom-resnet10t", folder)
    env = {
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "HF_HUB_OFFLINE": "1",
        "CHECK_FOLDER_TIMM_SOURCE": "hf-hub",
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    report = check_folder(
        "someone/custom-resnet10t", ARCHITECTURE, folder / "model.safetensors", CREATE_KWARGS, env, DATA_CONFIG
    )
    assert report["classifier_class"] == "Resnet10tForImageClassification"
    assert report["processor_class"] == "Resnet10tImageProcessor"
    assert_three_ways(report, LABELS)


def test_inference_endpoints_default_container_serves_it(folder):
    """The default container runs `pipeline(task, model=<downloaded folder>)` with remote code off
    (HF_TRUST_REMOTE_CODE defaults to 0) after installing the repository's requirements.txt."""
    from transformers import pipeline

    assert (folder / "requirements.txt").read_text().startswith("timm>=")
    classify = pipeline(task="image-classification", model=str(folder), trust_remote_code=False)
    assert type(classify.model).__name__ == "TimmWrapperForImageClassification"
    from PIL import Image

    image = Image.effect_mandelbrot((300, 240), (-2.0, -1.2, 0.8, 1.2), 80).convert("RGB")
    reference = timm.create_model(ARCHITECTURE, **CREATE_KWARGS)
    reference.load_state_dict(load_file(folder / "model.safetensors"))
    reference.eval()
    reference.pretrained_cfg = {**reference.pretrained_cfg, **DATA_CONFIG}
    transform = timm.data.create_transform(**timm.data.resolve_data_config(model=reference), is_training=False)
    with torch.inference_mode():
        expected = reference(transform(image).unsqueeze(0)).softmax(-1)[0]
    top = classify(image, top_k=1)[0]
    assert top["label"] == LABELS[int(expected.argmax())]
    assert top["score"] == pytest.approx(float(expected.max()), abs=1e-6)


def test_fine_tuned_with_trainer_and_saved_still_loads_three_ways(folder, tmp_path):
    """Trainer on the generated classes, then its save: timm's names in the weights, all three loaders exact
    against the fine-tuned weights; a Trainer checkpoint resumes (load_state_dict) with every weight."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, TrainingArguments

    model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True)
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    generator = torch.Generator().manual_seed(0)
    samples = [
        {"pixel_values": torch.randn(3, 224, 224, generator=generator), "labels": index % 3} for index in range(8)
    ]
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=4,
        num_train_epochs=1,
        learning_rate=0.05,
        save_strategy="epoch",
        report_to=[],
        use_cpu=True,
    )
    before = {key: value.clone() for key, value in model.timm_model.state_dict().items()}
    trainer = Trainer(model=model, args=arguments, train_dataset=samples, processing_class=processor)
    trainer.train()
    trainer.save_model(str(tmp_path / "fine-tuned"))
    saved = tmp_path / "fine-tuned"
    weights = load_file(saved / "model.safetensors")
    assert set(weights) == set(before)  # timm's own names
    assert any(not torch.equal(weights[key], before[key]) for key in before)  # it did train
    # The processor saved its code, and no second copy of the preprocessing: config.json's is the one.
    assert (saved / f"image_processing_{ARCHITECTURE}.py").is_file()
    assert not (saved / "preprocessor_config.json").exists()
    report = check_folder(saved, ARCHITECTURE, saved / "model.safetensors", CREATE_KWARGS, data_config=DATA_CONFIG)
    assert_three_ways(report, LABELS)
    # Resuming: Trainer loads the checkpoint's timm-named weights with load_state_dict.
    checkpoint = next((tmp_path / "run").glob("checkpoint-*"))
    resumed = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True)
    result = resumed.load_state_dict(load_file(checkpoint / "model.safetensors"), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    assert all(torch.equal(resumed.timm_model.state_dict()[key], weights[key]) for key in weights)


@pytest.mark.parametrize(
    ("edit", "failing"),
    [
        # The one copy of the preprocessing edited: every loader reads it, so all three give other pixels.
        (lambda config: config["pretrained_cfg"].update(crop_pct=0.5), {"custom code", "TimmWrapper", "timm"}),
        # timm's architecture no longer the explicit fields' (TimmWrapper and timm build a plain resnet10t).
        (lambda config: config.update(model_args={}), {"TimmWrapper", "timm"}),
    ],
)
def test_verification_names_each_loader_that_differs(folder, tmp_path, edit, failing):
    """The generation-time check loads the folder all three ways and refuses it when any one differs from timm."""
    import shutil

    from timm_hub_template import batch, weights
    from timm_hub_template.reference import run_reference
    from timm_hub_template.verify import LoaderError, verify_folder

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    config = json.loads((broken / "config.json").read_text())
    edit(config)
    (broken / "config.json").write_text(json.dumps(config))
    variables = {
        "labels": ",".join(LABELS),
        "model_args": json.dumps(MODEL_ARGS),
        "data_config": json.dumps(DATA_CONFIG),
    }
    answers = batch.parse_answers(
        batch.render_context({"architecture": ARCHITECTURE, "weights": "random", **variables}, tmp_path)
    )
    model = weights.load_reference(answers)
    reference = run_reference(model, answers.data_config["input_size"], answers.torch_dtype)
    verify_folder(folder, answers, reference)  # the generated folder itself passes
    with pytest.raises(LoaderError) as error:
        verify_folder(broken, answers, reference)
    assert set(error.value.failures) == failing


def test_timm_builds_the_published_model_where_its_entrypoint_builds_another_for_pretrained(tmp_path):
    """fbnetc_100's entrypoint sets `bn_eps=1e-3` only when `pretrained=True` (for its TF-trained weights), and timm
    loads a Hub repository with `pretrained=True`: random weights state the BatchNorm eps they were built with, so
    timm builds the same model as `torch.manual_seed(0); timm.create_model("fbnetc_100")`."""
    folder = bake(tmp_path, architecture="fbnetc_100", weights="random", git_init="no")
    assert json.loads((folder / "config.json").read_text())["model_args"] == {"bn_eps": 1e-05}
    loaded = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    torch.manual_seed(0)
    expected = timm.create_model("fbnetc_100").eval()
    assert all(module.eps == 1e-05 for module in loaded.modules() if isinstance(module, torch.nn.BatchNorm2d))
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(loaded(pixels), expected(pixels))


@pytest.mark.slow
def test_an_entrypoint_that_fetches_its_backbones_weights_still_checks_the_timm_way_offline(tmp_path):
    """vit_small_resnet26d_224's entrypoint builds resnet26d with the same `pretrained` flag, so timm's `local-dir:`
    loader with `pretrained=True` first fetches resnet26d's own weights from the Hub, which this machine cannot
    reach. The timm way is checked on the build timm makes without that fetch (`pretrained=False`, the folder's
    weights loaded strictly), so the generation passes offline, and the folder holds timm's seed-0 weights."""
    from timm_hub_template import batch
    from timm_hub_template.verify import timm_model_of_folder

    name, notes = "vit_small_resnet26d_224", []
    folder = batch.generate(name, tmp_path, weights="random", git_init="no", notes=notes)
    answers = batch.parse_answers(batch.render_context({"architecture": name, "weights": "random"}, tmp_path))
    assert timm_model_of_folder(folder, answers) is not None  # the build without the fetch
    torch.manual_seed(0)
    expected = timm.create_model(name).eval()
    model = timm.create_model(name).eval()
    model.load_state_dict(load_file(folder / "model.safetensors"))
    pixels = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model(pixels), expected(pixels))
