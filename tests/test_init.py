import math

import pytest
import torch

from seqlab.init import apply_init
from seqlab.models import build_model


def gate_blocks(model, matrix="w_hh"):
    core = model.core
    return [b for k in range(core.num_layers) for b in core.layer(k)[matrix].chunk(len(core.gates))]


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rrn"])
def test_orthogonal_recurrent_blocks(name):
    model = build_model(name, 16, 2, "onehot")
    apply_init(model, "orthogonal")
    for block in gate_blocks(model):
        torch.testing.assert_close(block.t() @ block, torch.eye(16), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["rnn", "lstm", "rrn"])
def test_identity_is_the_irnn_recipe(name):
    model = build_model(name, 8, 1, "onehot")
    apply_init(model, "identity")
    for block in gate_blocks(model):
        assert torch.equal(block, torch.eye(8))
    assert torch.all(model.core.b_ih_l0 == 0)


def test_normal_uses_std_and_zero_biases():
    model = build_model("rnn", 256, 1, "onehot")
    apply_init(model, "normal", std=1e-4)
    weights = model.core.w_hh_l0
    assert abs(weights.std().item() - 1e-4) < 5e-6 and abs(weights.mean().item()) < 5e-6
    assert torch.all(model.core.b_ih_l0 == 0) and torch.all(model.head.bias == 0)
    assert abs(model.head.weight.std().item() - 1e-4) < 2e-5


def test_standard_normal():
    model = build_model("lstm", 128, 1, "onehot")
    apply_init(model, "standard_normal")
    assert abs(model.core.w_hh_l0.std().item() - 1.0) < 0.02


@pytest.mark.parametrize("scheme", ["xavier_uniform", "xavier_normal"])
def test_xavier_per_gate_block(scheme):
    model = build_model("lstm", 64, 1, "onehot")
    apply_init(model, scheme)
    expected_std = math.sqrt(2.0 / (64 + 64))
    for block in gate_blocks(model):
        assert abs(block.std().item() - expected_std) < 0.15 * expected_std
        if scheme == "xavier_uniform":
            assert block.abs().max() <= math.sqrt(3) * expected_std + 1e-6


def test_default_is_pytorch_uniform_and_left_alone():
    torch.manual_seed(0)
    model = build_model("gru", 32, 1, "scalar")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_init(model, "default")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert model.core.w_hh_l0.abs().max() <= 32**-0.5


def test_forget_gate_bias():
    model = build_model("lstm", 8, 2, "onehot")
    apply_init(model, "xavier_uniform", forget_bias=1.0)
    for k in range(2):
        i, f, g, o = model.core.layer(k)["b_ih"].chunk(4)
        assert torch.all(f == 1.0) and torch.all(i == 0) and torch.all(g == 0) and torch.all(o == 0)
