"""The device setting: auto falls back to the CPU here, cuda without a GPU is a clear error, models come back."""

import pytest
import torch

from recmodel.device import on_device, resolve_device

NO_GPU = not torch.cuda.is_available()


def test_auto_takes_a_gpu_only_when_torch_sees_one():
    assert resolve_device("auto").type == ("cpu" if NO_GPU else "cuda")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_names_the_setting_and_the_way_out():
    with pytest.raises(ValueError, match=r"device = 'cuda', but torch sees no CUDA GPU.*'auto' or 'cpu'"):
        resolve_device("cuda")


def test_unknown_device_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="device = 'tpu' is unknown; allowed: auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU (the CPU path is the tested default)")
def test_on_device_returns_the_weights_to_the_cpu_even_after_an_error():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError):
        with on_device(model, resolve_device("cuda")):
            assert model.weight.is_cuda
            raise RuntimeError("boom")
    assert not model.weight.is_cuda
