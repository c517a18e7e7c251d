"""The Triton fused recurrences against the stacked PyTorch steps, forward and gradients: on a GPU when there is
one, else in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set before triton is imported)."""

import os

import pytest
import torch
from conftest import metrics

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="triton is not installed (pip install -e '.[triton]')")

from seqlab.engines import fused_config  # noqa: E402
from seqlab.engines.triton_recurrence import TritonRecurrence, gates_of  # noqa: E402
from seqlab.models import cell  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.gpu  # on the GPU where there is one
CHUNKS = sorted({fused_config.dot_chunk(), 16})  # the installed Triton's chunk, and what Triton 3.6 needs


@pytest.fixture(params=CHUNKS)
def chunk(request, monkeypatch):
    """The kernels launched with contraction chunks of `request.param` (the chunk an older Triton needs, too)."""
    monkeypatch.setattr(fused_config, "dot_chunk", lambda: request.param)
    fused_config.fits.cache_clear()
    yield request.param
    fused_config.fits.cache_clear()


def torch_layer(name, x, w, b_hh):
    """The stacked PyTorch path (seqlab.engines.stacked_model): a batched matmul and the cell's update per step."""
    runs, batch, steps, _ = x.shape
    hidden = w.shape[-1]
    state = (x.new_zeros(runs, batch, hidden),) * cell(name).reference.state_size
    hiddens = []
    for t in range(steps):
        hx = torch.bmm(state[0], w.mT) if b_hh is None else torch.baddbmm(b_hh.unsqueeze(1), state[0], w.mT)
        state = cell(name).update(x[:, :, t], hx, state)
        hiddens.append(state[0])
    return torch.stack(hiddens, dim=2)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rrn"])
@pytest.mark.parametrize(("runs", "batch", "steps", "hidden"), [(2, 5, 7, 16), (3, 17, 4, 20)])
def test_fused_recurrence_matches_the_stacked_steps_forward_and_gradients(name, runs, batch, steps, hidden, chunk):
    assert fused_config.launch_config(name, batch, hidden, runs).block_k == chunk
    torch.manual_seed(0)
    gates = gates_of(name)
    x = torch.randn(runs, batch, steps, gates * hidden, device=DEVICE, dtype=torch.float64).float()
    w = (torch.randn(runs, gates * hidden, hidden, device=DEVICE) / hidden**0.5).requires_grad_()
    b = (torch.randn(runs, gates * hidden, device=DEVICE) * 0.1).requires_grad_() if name == "gru" else None
    x.requires_grad_()
    weights = torch.randn(runs, batch, steps, hidden, device=DEVICE)  # a loss that reads every step
    outputs = {}
    for path, layer in (("torch", lambda: torch_layer(name, x, w, b)),
                        ("triton", lambda: TritonRecurrence.apply(name, x, w, b))):  # fmt: skip
        h = layer()
        grads = torch.autograd.grad((h * weights).sum(), [x, w] + ([b] if b is not None else []))
        outputs[path] = (h.detach(), *grads)
    for expected, got in zip(outputs["torch"], outputs["triton"], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rrn"])
def test_each_run_stops_at_its_own_length_and_its_padding_is_zero_with_zero_gradient(name):
    torch.manual_seed(0)
    gates, hidden, lengths = gates_of(name), 16, [6, 2, 4]
    x = torch.randn(3, 5, 6, gates * hidden, device=DEVICE, requires_grad=True)
    w = (torch.randn(3, gates * hidden, hidden, device=DEVICE) / hidden**0.5).requires_grad_()
    b = (torch.randn(3, gates * hidden, device=DEVICE) * 0.1).requires_grad_() if name == "gru" else None
    params = [x, w] + ([b] if b is not None else [])
    h = TritonRecurrence.apply(name, x, w, b, torch.tensor(lengths, device=DEVICE))
    fused = torch.autograd.grad(h.square().sum(), params)
    for p, length in enumerate(lengths):
        own = [x[p : p + 1, :, :length], w[p : p + 1]] + ([b[p : p + 1]] if b is not None else [])
        alone = torch_layer(name, *own[:2], own[2] if b is not None else None)
        expected = torch.autograd.grad(alone.square().sum(), own)
        torch.testing.assert_close(h[p, :, :length].detach(), alone[0].detach(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(fused[0][p, :, :length], expected[0][0], rtol=1e-4, atol=1e-5)
        for got, want in zip(fused[1:], expected[1:], strict=True):  # the weights' (and bias') gradients
            torch.testing.assert_close(got[p], want[0], rtol=1e-4, atol=1e-5)
        assert not h[p, :, length:].any() and not fused[0][p, :, length:].any()


def test_a_width_beyond_the_resource_check_trains_stacked_in_pytorch_and_says_why(make_cfg, tmp_path):
    from contextlib import ExitStack

    from seqlab.train import claim, train_together

    with ExitStack() as locks:
        claimed = [claim(make_cfg("threads=1", "model.hidden_size=257", "train.max_steps=4", f"seed={s}"),
                         tmp_path / str(s), locks) for s in (1, 2)]  # fmt: skip
        outcomes = train_together(claimed, stacked="fused")
    why = "the fused kernels are checked up to hidden 256, not model.hidden_size=257"
    assert [o["pack"] for o in outcomes] == [{"runs": 2, "stacked": True, "not_fused": why}] * 2


@pytest.mark.parametrize(("name", "hidden"), [("lstm", 16), ("rrn", 16), ("lstm", 128)])  # 128: the course's
def test_a_fused_pack_across_lengths_trains_each_run_as_alone_up_to_rounding(make_cfg, tmp_path, name, hidden):
    from contextlib import ExitStack

    import numpy as np

    from seqlab.train import claim, train, train_together

    shared = [f"model={name}", "threads=1", f"device={DEVICE}", f"model.hidden_size={hidden}", "train.max_steps=10"]
    members = {"a": ["seed=1", "data.length=4"], "b": ["seed=2", "data.length=7", "optimizer.lr=0.003"]}
    for run, overrides in members.items():
        train(make_cfg(*shared, *overrides), tmp_path / "alone" / run)
    with ExitStack() as locks:
        claimed = [claim(make_cfg(*shared, *o), tmp_path / "fused" / r, locks) for r, o in members.items()]
        outcomes = train_together(claimed, stacked="fused")
    assert all(o["status"] == "completed" and o["pack"] == {"runs": 2, "stacked": "fused"} for o in outcomes)
    for run in members:
        np.testing.assert_allclose(metrics(tmp_path / "fused" / run), metrics(tmp_path / "alone" / run),
                                   rtol=2e-4, atol=2e-5)  # fmt: skip


def test_the_fused_engine_refuses_float64_and_the_pack_trains_stacked_saying_why(make_cfg, tmp_path, caplog):
    from contextlib import ExitStack

    from seqlab.train import claim, train_together

    with ExitStack() as locks:
        claimed = [claim(make_cfg("threads=1", "precision=float64", f"seed={s}"), tmp_path / str(s), locks)
                   for s in (1, 2)]  # fmt: skip
        outcomes = train_together(claimed, stacked="fused")
    why = "the Triton recurrences compute in float32, not precision=float64"
    assert all(o["status"] == "completed" and o["pack"] == {"runs": 2, "stacked": True, "not_fused": why}
               for o in outcomes)  # fmt: skip
    assert f"the pack trains stacked in PyTorch, not fused: {why}" in caplog.text
