"""The generated model behaves like a built-in Transformers vision model (TimmWrapper's feature set)."""

import filecmp

import pytest
import timm
import torch
import torch.nn.functional as F
from helpers.support import bake
from PIL import Image
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    Trainer,
    TrainingArguments,
    pipeline,
)
from transformers.dynamic_module_utils import get_class_from_dynamic_module

ARCHITECTURES = ["resnet50d", "vit_tiny_patch16_224", "convnext_tiny"]  # a CNN, a ViT, a modern CNN


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=[] if name == "resnet50d" else [pytest.mark.slow]) for name in ARCHITECTURES],
)
def case(request, tmp_path_factory):
    """(architecture, folder, timm reference holding the folder's weights, input batch)."""
    architecture = request.param
    folder = bake(
        tmp_path_factory.mktemp(architecture),
        architecture=architecture,
        weights="random",
        repo_name=f"behaviour-{architecture.replace('_', '-')}",
    )
    reference = timm.create_model(architecture)
    torch.manual_seed(0)
    timm.models.load_checkpoint(reference, str(folder / "model.safetensors"))  # timm's names, strictly
    pixel_values = torch.randn(2, *reference.pretrained_cfg["input_size"], generator=torch.Generator().manual_seed(3))
    return architecture, folder, reference.eval(), pixel_values


def load_classifier(folder, **kwargs):
    return AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True, **kwargs).eval()


def test_single_label_loss_is_cross_entropy(case):
    _, folder, _, pixel_values = case
    labels = torch.tensor([3, 7])
    output = load_classifier(folder)(pixel_values, labels=labels)
    assert torch.equal(output.loss, F.cross_entropy(output.logits, labels))


def test_multi_label_loss_is_binary_cross_entropy(case):
    _, folder, _, pixel_values = case
    model = load_classifier(folder, problem_type="multi_label_classification")
    labels = (torch.rand(2, model.config.num_labels, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    output = model(pixel_values, labels=labels)
    assert torch.equal(output.loss, F.binary_cross_entropy_with_logits(output.logits, labels))


def test_regression_loss_is_mean_squared_error(case):
    _, folder, _, pixel_values = case
    model = load_classifier(folder, problem_type="regression")
    labels = torch.randn(2, model.config.num_labels, generator=torch.Generator().manual_seed(2))
    output = model(pixel_values, labels=labels)
    assert torch.equal(output.loss, F.mse_loss(output.logits, labels))


def test_fine_tuning_gets_a_new_head_and_keeps_the_backbone(case):
    _, folder, reference, pixel_values = case
    id2label = {0: "cat", 1: "dog", 2: "bird"}
    model = load_classifier(folder, num_labels=3, id2label=id2label, ignore_mismatched_sizes=True)
    assert model(pixel_values).logits.shape == (2, 3)
    assert model.config.id2label == id2label
    head = {f"{name}." for name in reference.pretrained_cfg["classifier"].split()}
    expected = reference.state_dict()
    for key, value in model.timm_model.state_dict().items():
        if not any(key.startswith(prefix) for prefix in head):
            assert torch.equal(value, expected[key]), key


def test_num_labels_zero_is_refused_for_the_classifier(case):
    _, folder, _, _ = case
    with pytest.raises(ValueError, match="needs num_labels >= 1: use AutoModel"):
        load_classifier(folder, num_labels=0, ignore_mismatched_sizes=True)


def test_hidden_states_are_timm_forward_intermediates(case):
    _, folder, reference, pixel_values = case
    model = load_classifier(folder)
    with torch.inference_mode():
        output = model(pixel_values, output_hidden_states=True)
        _, expected = reference.forward_intermediates(pixel_values)
        chosen = model(pixel_values, output_hidden_states=[0, -1]).hidden_states
        _, expected_chosen = reference.forward_intermediates(pixel_values, indices=[0, -1])
    assert len(output.hidden_states) == len(expected) > 1
    for actual, wanted in zip(output.hidden_states, expected, strict=True):
        assert torch.equal(actual, wanted)
    assert len(chosen) == 2 and all(torch.equal(a, b) for a, b in zip(chosen, expected_chosen, strict=True))


def test_output_attentions_is_refused(case):
    _, folder, _, pixel_values = case
    with pytest.raises(ValueError, match="do not return attentions"):
        load_classifier(folder)(pixel_values, output_attentions=True)


def timm_checkpointing_flags(model):
    return [module.grad_checkpointing for module in model.modules() if hasattr(module, "grad_checkpointing")]


def test_activation_checkpointing_uses_timm_and_gives_the_same_gradients(case):
    _, folder, _, pixel_values = case
    labels = torch.tensor([1, 2])
    plain, checkpointed = load_classifier(folder).train(), load_classifier(folder).train()
    checkpointed.activation_checkpointing_enable()
    assert timm_checkpointing_flags(checkpointed) and all(timm_checkpointing_flags(checkpointed))
    for model in (plain, checkpointed):
        torch.manual_seed(0)  # the same dropout / drop-path draws
        model(pixel_values, labels=labels).loss.backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters(), strict=True):
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name
    checkpointed.activation_checkpointing_disable()
    assert not any(timm_checkpointing_flags(checkpointed))


def test_return_dict_false_gives_tuples_in_the_usual_order(case):
    _, folder, _, pixel_values = case
    classifier = load_classifier(folder)
    features = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.inference_mode():
        loss, logits = classifier(pixel_values, labels=torch.tensor([0, 1]), return_dict=False)
        as_dict = classifier(pixel_values, labels=torch.tensor([0, 1]))
        last, pooled = features(pixel_values, return_dict=False)
        features_dict = features(pixel_values)
    assert torch.equal(loss, as_dict.loss) and torch.equal(logits, as_dict.logits)
    assert torch.equal(last, features_dict.last_hidden_state) and torch.equal(pooled, features_dict.pooler_output)


def test_backbone_feature_maps_are_timm_intermediates(case):
    _, folder, reference, pixel_values = case
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    backbone_class = get_class_from_dynamic_module(config.auto_map["AutoBackbone"], folder)
    backbone = backbone_class.from_pretrained(folder, out_indices=[1, -1]).eval()
    with torch.inference_mode():
        maps = backbone(pixel_values).feature_maps
        expected = reference.forward_intermediates(pixel_values, indices=[1, -1], intermediates_only=True)
    assert len(maps) == 2 and all(torch.equal(a, b) for a, b in zip(maps, expected, strict=True))
    widths = [info["num_chs"] for info in reference.feature_info]
    assert backbone.channels == [widths[1], widths[-1]]
    assert backbone.out_features == [config.stage_names[1], config.stage_names[-1]]


def test_feature_extraction_pipeline_returns_timm_features(case):
    _, folder, reference, _ = case
    image = Image.effect_mandelbrot((300, 240), (-2.0, -1.2, 0.8, 1.2), 80).convert("RGB")
    extract = pipeline("image-feature-extraction", model=folder, trust_remote_code=True)
    features = torch.tensor(extract(image))
    pixels = extract.image_processor(image, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        expected = reference.forward_features(pixels)
    assert torch.equal(features, expected)


def test_save_and_reload_round_trip_is_stable(case, tmp_path):
    _, folder, _, pixel_values = case
    model = load_classifier(folder)
    model.save_pretrained(tmp_path / "once")
    again = load_classifier(tmp_path / "once")
    again.save_pretrained(tmp_path / "twice")
    for name in ("config.json", "model.safetensors"):
        assert filecmp.cmp(tmp_path / "once" / name, tmp_path / "twice" / name, shallow=False), name
    assert sorted(path.name for path in (tmp_path / "once").glob("*.py")) == sorted(
        path.name for path in folder.glob("*.py") if not path.name.startswith("image_processing")
    )
    with torch.inference_mode():
        assert torch.equal(again(pixel_values).logits, model(pixel_values).logits)


def test_bfloat16_loading(case):
    _, folder, _, pixel_values = case
    model = load_classifier(folder, dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16
    with torch.inference_mode():
        assert model(pixel_values).logits.dtype == torch.bfloat16  # float32 inputs are cast to the model's dtype


def training_arguments(output_dir):
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        max_steps=4,
        learning_rate=1e-4,
        logging_steps=1,
        save_steps=2,
        report_to=[],
        use_cpu=True,
        seed=0,
    )


@pytest.mark.slow
def test_trainer_reduces_the_loss_and_resumes_from_its_checkpoint(case, tmp_path):
    architecture, folder, reference, _ = case
    images = torch.randn(4, *reference.pretrained_cfg["input_size"], generator=torch.Generator().manual_seed(0))
    dataset = [{"pixel_values": image, "labels": index % 2} for index, image in enumerate(images)]
    model = load_classifier(folder, num_labels=2, ignore_mismatched_sizes=True).train()
    trainer = Trainer(model=model, args=training_arguments(tmp_path / "run"), train_dataset=dataset)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and losses[-1] < losses[0]
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert {f"configuration_{architecture}.py", f"modeling_{architecture}.py", "config.json"} <= {
        path.name for path in checkpoint.iterdir()
    }
    resumed = Trainer(
        model=load_classifier(checkpoint).train(), args=training_arguments(tmp_path / "resumed"), train_dataset=dataset
    )
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 4
