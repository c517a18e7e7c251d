import pytest
import torch
import torch.nn.functional as F
from conftest import CUDA, assert_close_float32

from seqlab import kernels
from seqlab.init import CHRONO_GATES, INIT_SCHEMES, apply_init
from seqlab.loop import ieee_float32
from seqlab.models import CELLS, build_model, count_parameters, reference_twin

MODELS = sorted(CELLS)
ENCODINGS = ["onehot", "scalar"]


def core_parameters(name: str, n: int, d: int) -> int:
    """Closed-form parameter count of one layer of each core."""
    return {
        "rnn": n * n + d * n + n,
        "lstm": 4 * (n * n + d * n + n),
        "gru": 3 * (n * n + d * n + 2 * n),
        "rrn": 2 * (n * n + d * n + n),
    }[name]


@pytest.mark.parametrize("impl", ["fast", "fused", "reference"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_exact_parameter_count(name, encoding, impl):
    n, d = 12, (10 if encoding == "onehot" else 1)
    model = build_model(name, n, 2, encoding, impl)
    assert model(torch.randint(0, 10, (5, 7))).shape == (5, 10)
    expected_core = core_parameters(name, n, d) + core_parameters(name, n, n)
    assert count_parameters(model.core) == expected_core
    assert count_parameters(model) == expected_core + 10 * n + 10


def test_the_registry_is_the_one_list_of_cells():
    from conftest import CONF

    assert sorted(CELLS) == sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
    for name, spec in CELLS.items():
        assert spec.fast.cell == name and spec.fast.gates == spec.reference.gates == spec.gates
    with pytest.raises(ValueError, match="model.name='indrnn' is invalid: expected one of gru, lstm, rnn, rrn"):
        build_model("indrnn", 8, 1, "onehot")


def test_lstm_core_formula_from_the_issue():
    n, d = 128, 10
    assert count_parameters(build_model("lstm", n, 1, "onehot").core) == 4 * (n * n + d * n + n)


@pytest.mark.parametrize("name", MODELS)
def test_fast_impl_runs_the_native_kernels_on_cpu(name, monkeypatch):
    assert kernels.available(), kernels.load()
    model = build_model(name, 8, 1, "onehot")
    monkeypatch.setattr(model.core, "torch_forward", lambda *args: pytest.fail("fell back to PyTorch's kernels"))
    model(torch.randint(0, 10, (3, 4))).sum().backward()


@pytest.mark.parametrize(("name", "init"), [(n, i) for n in MODELS for i in INIT_SCHEMES
                                            if i != "chrono" or n in CHRONO_GATES])  # fmt: skip
@pytest.mark.parametrize("length", [2, 6, 7])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("impl", ["fast", "fused"])
def test_fast_core_matches_reference_outputs_and_gradients(impl, layers, name, encoding, length, init):
    """Both fast paths (C++ kernels, PyTorch's kernels) against the reference; batch 9 splits unevenly over threads."""
    torch.manual_seed(0)
    fast = build_model(name, 16, layers, encoding, impl)
    apply_init(fast, init, std=0.1, forget_bias=1.0 if name == "lstm" else None)
    reference = reference_twin(fast, name)
    digits = torch.randint(0, 10, (9, length - 1))
    targets = torch.randint(0, 10, (9,))
    fast_logits, reference_logits = fast(digits), reference(digits)
    assert_close_float32(fast_logits, reference_logits)
    F.cross_entropy(fast_logits, targets).backward()
    F.cross_entropy(reference_logits, targets).backward()
    fast_params = dict(fast.core.named_parameters())
    for key, grad in reference.core.fused_gradients().items():
        assert_close_float32(fast_params[key].grad, grad, msg=key)
    assert_close_float32(fast.head.weight.grad, reference.head.weight.grad)


@pytest.mark.skipif(not hasattr(torch.backends.cudnn, "rnn"), reason="PyTorch < 2.9: the legacy TF32 flags")
def test_a_float32_run_turns_tf32_off_in_cudnn_whose_rnns_default_to_it(make_cfg, tmp_path):
    from seqlab.train import train

    backends = (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn)
    for backend in backends:
        backend.fp32_precision = "tf32"
    train(make_cfg("threads=1", "train.max_steps=2"), tmp_path)
    assert [backend.fp32_precision for backend in backends] == ["ieee"] * 3


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("layers", [1, 2])
def test_fast_core_on_the_gpu_matches_the_reference(layers, name, encoding):
    """On CUDA the fast path is cuDNN's kernels (the RRN: PyTorch ops); checked in plain float32, without TF32, as
    every run computes (seqlab.loop.ieee_float32)."""
    ieee_float32()
    torch.manual_seed(0)
    fast = build_model(name, 16, layers, encoding)
    reference = reference_twin(fast, name)
    fast.cuda()
    digits, targets = torch.randint(0, 10, (9, 6)), torch.randint(0, 10, (9,))
    fast_logits, reference_logits = fast(digits.cuda()), reference(digits)
    assert_close_float32(fast_logits.cpu(), reference_logits)
    F.cross_entropy(fast_logits, targets.cuda()).backward()
    F.cross_entropy(reference_logits, targets).backward()
    fast_params = dict(fast.core.named_parameters())
    for key, grad in reference.core.fused_gradients().items():
        assert_close_float32(fast_params[key].grad.cpu(), grad, msg=key)


def test_rrn_follows_its_equations_step_by_step():
    torch.manual_seed(1)
    model = build_model("rrn", 6, 1, "onehot")
    digits = torch.randint(0, 10, (4, 5))
    core = model.core
    w_x, w_h, b = core.w_ih_l0, core.w_hh_l0, core.b_ih_l0
    h = c = torch.zeros(4, 6)
    for t in range(5):
        x = F.one_hot(digits[:, t], 10).float()
        pre = torch.cat([h, x], 1) @ torch.cat([w_h, w_x], 1).t() + b
        inc, dec = torch.relu(pre[:, :6]), torch.relu(pre[:, 6:])
        c = c + inc - dec
        h = torch.relu(c)
    torch.testing.assert_close(core(digits), h)


def test_the_readme_recipe_for_a_new_cell_gives_a_working_run_alone_and_stacked(make_cfg, tmp_path, request):
    """README, "Where a new piece goes": a cell is its cores, its `update` and a `register` call, plus
    conf/model/<name>.yaml; the schema's choices, the reference twin and the stacked packs read the registry."""
    from contextlib import ExitStack

    from seqlab.models.base import FusedLayout, time_major
    from seqlab.models.reference import ReferenceCore
    from seqlab.models.registry import Cell, register
    from seqlab.train import claim, train, train_together

    def softsign(a: torch.Tensor) -> torch.Tensor:
        return a / (1 + a.abs())

    class ReferenceSoftsign(ReferenceCore):
        gates = ("h",)

        def step(self, k, x, state):
            return (softsign(self.gate("h", k, x, state[0])),)

    class FastSoftsign(FusedLayout):
        cell, gates = "softsign", ("h",)

        def torch_forward(self, symbols, every_step):
            sequence = time_major(symbols)
            for k in range(self.num_layers):
                projections, w_hh = self.input_projections(k, sequence), self.layer(k)["w_hh"]
                h, hiddens = projections.new_zeros(projections.shape[1:]), []
                for x in projections:
                    h = softsign(x + h @ w_hh.t())
                    hiddens.append(h)
                sequence = torch.stack(hiddens)
            return sequence if every_step else sequence[-1]

    def update(x, hx, state):
        return (softsign(x + hx),)

    register(Cell("softsign", fast=FastSoftsign, reference=ReferenceSoftsign, native=False, update=update))
    request.addfinalizer(lambda: CELLS.pop("softsign"))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "softsign.yaml").write_text("name: softsign\n")
    cfg = make_cfg("model=softsign", "threads=1", f"hydra.searchpath=[file://{tmp_path / 'conf'}]")

    fast = build_model("softsign", hidden_size=8, num_layers=2, encoding=cfg.data.encoding)
    twin = reference_twin(fast, "softsign")
    symbols = torch.randint(0, 10, (4, 7))
    assert_close_float32(twin(symbols), fast(symbols))
    alone = train(cfg, tmp_path / "alone")
    with ExitStack() as locks:
        (stacked,) = train_together([claim(cfg, tmp_path / "stacked", locks)], stacked=True)
    assert alone["status"] == stacked["status"] == "completed" and stacked["pack"]["stacked"] is True
    assert stacked["eval_loss"] == pytest.approx(alone["eval_loss"], rel=1e-4)
