"""Publishing your own trained model.

A small ViT is trained for a few steps on generated grayscale images with timm's own training pieces (dataset,
loader, optimizer, EMA, loss, CheckpointSaver) at 384 px with one input channel and three classes, and saved as
timm's `train.py` saves it (`model_best.pth.tar` with `state_dict`, `state_dict_ema`, `optimizer` and `args`). The
template publishes that file with no other variable: the architecture's arguments, head size, label names and
preprocessing all come from the checkpoint's `args`, and the pipeline answers with the user's label names and
timm's exact logits.
"""

import argparse
import hashlib
import json
import subprocess
import sys

import pytest
import timm
import torch
from helpers.support import TEMPLATE_DIR, bake
from PIL import Image, ImageDraw
from timm.data import create_dataset, create_loader, create_transform, resolve_data_config
from timm.loss import LabelSmoothingCrossEntropy
from timm.models import load_checkpoint
from timm.optim import create_optimizer_v2
from timm.utils import CheckpointSaver, ModelEmaV3
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

from timm_hub_template import batch

pytestmark = pytest.mark.slow  # trains a model first

ARCHITECTURE = "vit_tiny_patch16_224"
CLASSES = ["circle", "square", "stripes"]


def draw(kind: str, seed: int) -> Image.Image:
    """A grayscale picture of one of the three classes."""
    generator = torch.Generator().manual_seed(seed)
    size = 96 + int(torch.randint(0, 64, (1,), generator=generator))
    image = Image.new("L", (size, size), color=int(torch.randint(0, 80, (1,), generator=generator)))
    pen = ImageDraw.Draw(image)
    if kind == "circle":
        pen.ellipse((size // 5, size // 5, 4 * size // 5, 4 * size // 5), fill=230)
    elif kind == "square":
        pen.rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=200)
    else:
        for x in range(0, size, 12):
            pen.rectangle((x, 0, x + 5, size), fill=255)
    return image


def train_like_train_py(root):
    """A few steps of timm training; returns the checkpoint folder CheckpointSaver wrote."""
    data = root / "data" / "train"
    for index, kind in enumerate(CLASSES):
        (data / kind).mkdir(parents=True)
        for sample in range(4):
            draw(kind, 10 * index + sample).save(data / kind / f"{sample}.png")
    class_map = root / "data" / "class_map.txt"  # train.py's --class-map: one class name per line, in index order
    class_map.write_text("\n".join(CLASSES) + "\n")
    # The argparse.Namespace train.py saves, with the values of this run.
    args = argparse.Namespace(
        model=ARCHITECTURE,
        num_classes=len(CLASSES),
        in_chans=1,
        img_size=384,
        input_size=None,
        mean=[0.5],
        std=[0.25],
        interpolation="",
        crop_pct=None,
        class_map=str(class_map),
        data_dir=str(root / "data"),
        gp=None,
        bn_eps=None,
        bn_momentum=None,
        drop=0.0,
        drop_path=0.1,
        model_kwargs={"img_size": 384},
        opt="adamw",
        lr=1e-3,
        epochs=1,
        model_ema=True,
        model_ema_decay=0.5,
    )
    torch.manual_seed(0)
    model = timm.create_model(
        args.model,
        in_chans=args.in_chans,
        num_classes=args.num_classes,
        drop_path_rate=args.drop_path,
        **args.model_kwargs,
    )
    data_config = resolve_data_config(vars(args), model=model)
    dataset = create_dataset("", root=str(data), is_training=True, class_map=str(class_map), input_img_mode="L")
    loader = create_loader(
        dataset,
        input_size=data_config["input_size"],
        batch_size=4,
        is_training=True,
        use_prefetcher=False,
        no_aug=True,
        mean=data_config["mean"],
        std=data_config["std"],
        num_workers=0,
    )
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr)
    model_ema = ModelEmaV3(model, decay=args.model_ema_decay)
    loss_fn = LabelSmoothingCrossEntropy(smoothing=0.1)
    output = root / "output" / "train" / "run"
    output.mkdir(parents=True)
    saver = CheckpointSaver(model, optimizer, args=args, model_ema=model_ema, checkpoint_dir=str(output))
    model.train()
    for pixels, targets in loader:
        loss = loss_fn(model(pixels), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model_ema.update(model)
    saver.save_checkpoint(epoch=0, metric=50.0)
    return output, args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-model")
    output, args = train_like_train_py(root)
    folder = bake(root / "out", architecture=ARCHITECTURE, weights=str(output / "model_best.pth.tar"))
    return root, output, args, folder


def timm_model(args, checkpoint, use_ema):
    """timm's model as the run built it, with the checkpoint's weights (timm's own load_checkpoint)."""
    model = timm.create_model(args.model, in_chans=args.in_chans, num_classes=args.num_classes, **args.model_kwargs)
    load_checkpoint(model, str(checkpoint), use_ema=use_ema)
    return model.eval()


def test_train_py_files_are_what_timm_writes(trained):
    _, output, _, _ = trained
    assert {path.name for path in output.iterdir()} >= {"model_best.pth.tar", "last.pth.tar", "checkpoint-0.pth.tar"}
    with torch.serialization.safe_globals([argparse.Namespace]):
        contents = torch.load(output / "model_best.pth.tar", weights_only=True)
    assert {"state_dict", "state_dict_ema", "optimizer", "args", "epoch", "metric"} <= set(contents)
    assert not torch.equal(contents["state_dict"]["head.weight"], contents["state_dict_ema"]["head.weight"])


def test_config_holds_the_trained_model(trained):
    _, _, _, folder = trained
    config = json.loads((folder / "config.json").read_text())
    assert config["img_size"] == 384 and config["in_chans"] == 1
    assert config["label_names"] == ["circle", "square", "stripes"]  # timm's field; id2label follows it
    # timm's own fields: the run's model arguments and preprocessing, for timm and TimmWrapper.
    assert config["model_args"]["img_size"] == 384 and config["model_args"]["in_chans"] == 1
    assert config["pretrained_cfg"]["input_size"] == [1, 384, 384] and config["pretrained_cfg"]["mean"] == [0.5]
    assert config["pretrained_cfg"]["std"] == [0.25]
    # The one copy of the preprocessing: both image processors read config.json's `pretrained_cfg`.
    assert not (folder / "preprocessor_config.json").exists()


def test_pipeline_answers_with_the_labels_and_timm_logits(trained):
    _, output, args, folder = trained
    reference = timm_model(args, output / "model_best.pth.tar", use_ema=True)  # timm's own default: EMA
    image = draw("circle", 99).convert("RGB")  # pipeline inputs arrive as RGB; the processor converts to L
    transform = create_transform(**resolve_data_config(vars(args), model=reference), is_training=False)
    with torch.inference_mode():
        timm_logits = reference(transform(image.convert("L")).unsqueeze(0))
    model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
    classify = pipeline("image-classification", model=str(folder), trust_remote_code=True)
    with torch.inference_mode():
        pixels = classify.image_processor(image, return_tensors="pt")["pixel_values"]
        logits = model(pixels).logits
    assert pixels.shape == (1, 1, 384, 384)
    assert torch.equal(logits, timm_logits)
    answer = classify(image, top_k=3)
    assert {entry["label"] for entry in answer} == set(CLASSES)
    assert answer[0]["label"] == CLASSES[int(timm_logits.argmax())]


def test_card_names_the_published_weights(trained):
    _, output, _, folder = trained
    card = (folder / "README.md").read_text()
    assert "the EMA weights (`state_dict_ema`) of checkpoint `model_best.pth.tar`" in card
    # The checkpoint's digest, hashed in the background while the run went on.
    assert f"(SHA-256 `{hashlib.sha256((output / 'model_best.pth.tar').read_bytes()).hexdigest()}`)" in card
    assert "named by `class_map.txt` (the training class map)" in card
    assert "1 channel, 384 x 384" in card
    assert "Image size: 384 x 384" in card


def test_the_model_weights_instead_of_the_ema(trained, tmp_path):
    _, output, args, _ = trained
    checkpoint = output / "last.pth.tar"
    folder = bake(
        tmp_path, architecture=ARCHITECTURE, weights=str(checkpoint), checkpoint_key="state_dict", git_init="no"
    )
    reference = timm_model(args, checkpoint, use_ema=False)
    model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
    pixels = torch.randn(2, 1, 384, 384, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert torch.equal(model(pixels).logits, reference(pixels))
    assert "the model weights (`state_dict`) of checkpoint `last.pth.tar`" in (folder / "README.md").read_text()
    # Batch mode takes the same variables and writes the same files.
    again = batch.generate(
        ARCHITECTURE, tmp_path / "batch", weights=str(checkpoint), checkpoint_key="state_dict", git_init="no"
    )
    for path in folder.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_data_config_variable_on_the_command_line(tmp_path):
    """JSON variables pass through cookiecutter's command line; the processor, its JSON file and the card follow."""
    data_config = {
        "input_size": [3, 160, 128],
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "mean": [0.5],
        "std": [0.5],
    }
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path), str(TEMPLATE_DIR)]
    variables = ["architecture=mobilenetv3_small_050", "weights=random", "git_init=no"]
    result = subprocess.run(
        [*command, *variables, f"data_config={json.dumps(data_config)}"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path / "custom-mobilenetv3_small_050"
    saved = json.loads((folder / "config.json").read_text())["pretrained_cfg"]
    assert saved["input_size"] == [3, 160, 128] and saved["interpolation"] == "bilinear"
    assert saved["mean"] == [0.5, 0.5, 0.5] and saved["std"] == [0.5, 0.5, 0.5] and saved["crop_pct"] == 1.0
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    image = draw("square", 5).convert("RGB")
    expected = create_transform(
        input_size=(3, 160, 128), interpolation="bilinear", crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3
    )(image)
    assert torch.equal(processor(image, return_tensors="pt")["pixel_values"][0], expected)
    card = (folder / "README.md").read_text()
    assert "- **Preprocessing** (from the `data_config` variable): 3 channels, 160 x 128, bilinear resize" in card
    assert "Image size: 160 x 128" in card
