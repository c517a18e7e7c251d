"""The Triton fused recurrences against the stacked PyTorch steps, forward and gradients: on a GPU when there is
one, else in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set before triton is imported)."""

import os

import pytest
import torch
from conftest import metrics

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="triton is not installed (pip install -e '.[triton]')")

from seqlab.engines.triton_recurrence import TritonRecurrence, gates_of  # noqa: E402
from seqlab.models import cell  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.gpu  # on the GPU where there is one


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
def test_fused_recurrence_matches_the_stacked_steps_forward_and_gradients(name, runs, batch, steps, hidden):
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


@pytest.mark.parametrize("name", ["lstm", "rrn"])
def test_a_fused_pack_across_lengths_trains_each_run_as_alone_up_to_rounding(make_cfg, tmp_path, name):
    from contextlib import ExitStack

    import numpy as np

    from seqlab.train import claim, train, train_together

    shared = [f"model={name}", "threads=1", f"device={DEVICE}", "model.hidden_size=16"]
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


def test_the_fused_engine_refuses_float64_and_says_why(make_cfg, tmp_path, caplog):
    from contextlib import ExitStack

    from seqlab.train import claim, train_together

    with ExitStack() as locks:
        claimed = [claim(make_cfg("threads=1", "precision=float64", f"seed={s}"), tmp_path / str(s), locks)
                   for s in (1, 2)]  # fmt: skip
        outcomes = train_together(claimed, stacked="fused")
    assert all(o["pack"] == {"runs": 2, "stacked": False} for o in outcomes)
    assert "the Triton recurrences compute in float32, not precision=float64" in caplog.text
