"""Checkpoints exactly as timm's `train.py` saves them, for the tests that publish a user's training run.

`train.py` is not in the timm package. Its `args` are rebuilt from `train_py_args.json` (the defaults of all its
argparse fields) with the values a user passes, plus the fields `train.py` sets itself before it saves them; the
checkpoint is written by timm's own `CheckpointSaver` (`model_best.pth.tar`, `last.pth.tar`) in
`output/train/<run>/`, as `train.py` lays it out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

TRAIN_PY_ARGS = Path(__file__).resolve().parent / "train_py_args.json"


def train_py_args(**values: Any) -> argparse.Namespace:
    """The Namespace `train.py` saves: every argparse field at its default, `values` as the user passed them, and
    what `train.py` sets after parsing (`prefetcher`, `distributed`, `world_size`, `rank`, `device`; `data_dir` from
    the positional `data` when only that was given; `num_classes` from the model when not given)."""
    args = dict(json.loads(TRAIN_PY_ARGS.read_text())["defaults"])
    unknown = set(values) - set(args)
    assert not unknown, f"not arguments of train.py: {sorted(unknown)}"
    args.update(values)
    args.update(prefetcher=not args["no_prefetcher"], distributed=False, world_size=1, rank=0, device="cpu")
    if args["data"] and not args["data_dir"]:
        args["data_dir"] = args["data"]
    return argparse.Namespace(**args)


def create_model_like_train_py(args: argparse.Namespace):
    """The model `train.py` trains: its `create_model` call with the dropout rates, seeded with `--seed`; the
    caller trains it (`train_and_save` makes the dtype and memory-format moves)."""
    torch.manual_seed(args.seed)
    model = _create_model(args, drop_rate=args.drop, drop_path_rate=args.drop_path, drop_block_rate=args.drop_block)
    if args.num_classes is None:
        args.num_classes = model.num_classes
    return model


def _create_model(args: argparse.Namespace, **training_only: Any):
    """`train.py`'s `create_model(args.model, ...)` (never `pretrained`: nothing is downloaded here)."""
    import timm

    in_chans = args.in_chans if args.in_chans is not None else (args.input_size[0] if args.input_size else 3)
    return timm.create_model(
        args.model,
        pretrained=False,
        in_chans=in_chans,
        num_classes=args.num_classes,
        global_pool=args.gp,
        bn_momentum=args.bn_momentum,
        bn_eps=args.bn_eps,
        scriptable=args.torchscript,
        **training_only,
        **args.model_kwargs,
    )


def train_and_save(model, args: argparse.Namespace, output_dir: Path, steps: int = 2) -> Path:
    """A few SGD steps on random images (so the weights are not timm's initialisation), in the run's dtype and
    memory format, then `CheckpointSaver` writes `model_best.pth.tar` into `output_dir` (returned)."""
    from timm.data import resolve_data_config
    from timm.utils import CheckpointSaver

    dtype = getattr(torch, args.model_dtype) if args.model_dtype else torch.float32
    model.to(dtype=dtype)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    input_size = resolve_data_config(vars(args), model=model)["input_size"]
    generator = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        images = torch.randn(2, *input_size, generator=generator).to(dtype)
        if args.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        loss = model(images).float().logsumexp(dim=-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    output_dir.mkdir(parents=True, exist_ok=True)
    saver = CheckpointSaver(model, optimizer, args=args, checkpoint_dir=str(output_dir), recovery_dir=str(output_dir))
    saver.save_checkpoint(epoch=0, metric=1.0)
    return output_dir / "model_best.pth.tar"


def timm_reference(args: argparse.Namespace, checkpoint: Path):
    """What a timm user gets from the run: `create_model(args.model, ...)` as `train.py` built it, then timm's own
    `load_checkpoint`; and the eval transform `train.py` used, `create_transform(**resolve_data_config(vars(args),
    model))`."""
    from timm.data import create_transform, resolve_data_config
    from timm.models import load_checkpoint

    model = _create_model(args)
    load_checkpoint(model, str(checkpoint))
    if args.model_dtype:  # train.py's model.to(dtype=model_dtype)
        model.to(dtype=getattr(torch, args.model_dtype))
    config = resolve_data_config(vars(args), model=model)
    return model.eval(), create_transform(**config, is_training=False), config


def photo(mode: str = "RGB", size: tuple[int, int] = (301, 227)) -> Image.Image:
    """A deterministic picture with detail at every scale, in `mode`."""
    return Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 64).convert(mode)
