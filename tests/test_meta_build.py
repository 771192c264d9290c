"""Builds on the meta device skip the weight initialisation there, and change nothing else.

The reference is timm's own build: on the meta device (shapes, dtypes, buffers) and on the CPU with a seed (values).
"""

import pytest
import timm
import torch

from timm_hub_template.meta_build import meta_initialisation_skipped, on_meta_device

# A convolution network, a ViT (trunc_normal_ through tensor methods) and one with torch.nn.init functions.
ARCHITECTURES = ["resnet10t", "vit_tiny_patch16_224", "convnext_atto"]


def described(model):
    return {
        name: (tuple(tensor.shape), tensor.dtype, tensor.stride(), tensor.device.type)
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]
    }


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_meta_build_has_the_shapes_dtypes_and_buffers_of_timms(architecture):
    with torch.device("meta"):
        timms = timm.create_model(architecture)
    with on_meta_device():
        ours = timm.create_model(architecture)
    assert described(ours) == described(timms)
    assert all(tensor.is_meta for tensor in ours.state_dict().values())


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_cpu_build_inside_the_block_is_initialised_as_timm_initialises_it(architecture):
    torch.manual_seed(0)
    timms = timm.create_model(architecture)
    torch.manual_seed(0)
    with meta_initialisation_skipped():
        ours = timm.create_model(architecture)
    for name, tensor in timms.state_dict().items():
        assert torch.equal(ours.state_dict()[name], tensor), name


def test_an_operation_with_another_tensor_still_runs_and_raises_for_its_shape():
    with on_meta_device(), pytest.raises(RuntimeError):
        torch.empty(2, 3).add_(torch.empty(4))


def test_the_block_ends_with_its_mode():
    """A run is a scope: after the block, initialisers run on meta tensors again (as torch runs them)."""
    from torch.overrides import _get_current_function_mode_stack

    before = list(_get_current_function_mode_stack())
    with on_meta_device():
        pass
    assert list(_get_current_function_mode_stack()) == before
