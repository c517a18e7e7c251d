"""seqlab's flat-buffer optimizers follow torch.optim's update rules and torch's clipping step by step."""

import pytest
import torch
from omegaconf import OmegaConf

from seqlab.optim import build_optimizer

CASES = [
    ({"name": "sgd", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.0}, lambda p: torch.optim.SGD(p, lr=0.1)),
    ({"name": "sgd", "lr": 0.1, "weight_decay": 0.01, "momentum": 0.9},
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ({"name": "rmsprop", "lr": 0.01, "weight_decay": 0.0, "alpha": 0.99},
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99)),
    ({"name": "rmsprop", "lr": 0.01, "weight_decay": 0.1, "alpha": 0.9},
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, weight_decay=0.1)),
    ({"name": "adam", "lr": 0.01, "weight_decay": 0.0, "betas": [0.9, 0.999]},
     lambda p: torch.optim.Adam(p, lr=0.01)),
    ({"name": "adam", "lr": 0.01, "weight_decay": 0.05, "betas": [0.8, 0.99]},
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
]  # fmt: skip


@pytest.mark.parametrize(("cfg", "make_torch"), CASES)
def test_matches_torch_optim(cfg, make_torch):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    optimizer, reference = build_optimizer(ours, OmegaConf.create(cfg)), make_torch(theirs)
    for step in range(6):
        grads = [torch.randn_like(p) for p in ours]
        for params, opt in ((ours, optimizer), (theirs, reference)):
            opt.zero_grad()
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"step {step}")


def test_state_round_trip_continues_identically():
    cfg = OmegaConf.create({"name": "adam", "lr": 0.01, "weight_decay": 0.0, "betas": [0.9, 0.999]})
    torch.manual_seed(1)
    params = [torch.nn.Parameter(torch.randn(3))]
    optimizer = build_optimizer(params, cfg)
    for _ in range(3):
        params[0].grad = torch.randn(3)
        optimizer.step()
    copy = [torch.nn.Parameter(params[0].detach().clone())]
    restored = build_optimizer(copy, cfg)
    restored.load_state_dict(optimizer.state_dict())
    grad = torch.randn(3)
    for p, opt in ((params, optimizer), (copy, restored)):
        p[0].grad = grad.clone()
        opt.step()
    assert torch.equal(params[0], copy[0])


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(shape)) for shape in [(4, 3), (5,), (2, 2, 2)]]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    optimizer = build_optimizer(ours, OmegaConf.create(CASES[0][0]))
    for a, b in zip(ours, theirs, strict=True):
        a.grad = torch.randn_like(a)
        b.grad = a.grad.clone()
    total = optimizer.clip_grad_norm(max_norm)
    torch.testing.assert_close(total, torch.nn.utils.clip_grad_norm_(theirs, max_norm, foreach=True))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_parameters_and_gradients_are_views_of_the_flat_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = build_optimizer(model.parameters(), OmegaConf.create(CASES[2][0]))
    for p, value in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, value) and p.data_ptr() % 64 == 0
    optimizer.zero_grad()
    model(torch.randn(4, 3)).square().sum().backward()  # autograd accumulates into the views
    grads = [p.grad.clone() for p in model.parameters()]
    assert all(g.abs().sum() > 0 for g in grads)
    expected = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
    torch.testing.assert_close(optimizer.clip_grad_norm(1e9), expected)
    model.zero_grad(set_to_none=True)  # cleared from outside: a zero gradient, the step moves nothing
    optimizer.step()
    for p, value in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, value)


def test_an_unknown_optimizer_name_is_an_error_not_adam():
    params = [torch.nn.Parameter(torch.zeros(3))]
    with pytest.raises(ValueError, match="optimizer.name='lbfgs' is invalid: expected one of sgd, sgd_momentum"):
        build_optimizer(params, OmegaConf.create({"name": "lbfgs", "lr": 0.1, "weight_decay": 0.0}))


def test_the_readme_recipe_for_a_new_optimizer_gives_a_working_run_alone_and_stacked(make_cfg, tmp_path, monkeypatch):
    """README, "Where a new piece goes": an optimizer is its rule in OPTIMIZERS (seqlab/optim.py), its yaml under
    conf/optimizer/ starting from its schema, and its dataclass in seqlab/schema.py's OPTIMIZERS."""
    from contextlib import ExitStack
    from dataclasses import dataclass

    from seqlab import optim, schema
    from seqlab.train import claim, train, train_together

    class SignSGD(optim.FlatOptimizer):
        """p -= lr * sign(g)."""

        def update(self, param, grad):
            param.sub_(self.lr * grad.sign())

        @staticmethod
        def stacked_update(param, grad, state, hyper, lr, steps):
            param.sub_(lr * grad.sign())

    @dataclass
    class SignSGDConf:
        name: str = "signsgd"
        lr: float = schema.rule(1.0e-3, **schema.POSITIVE)
        weight_decay: float = schema.rule(0.0, low=0)

    monkeypatch.setitem(optim.OPTIMIZERS, "signsgd", SignSGD)
    monkeypatch.setitem(schema.OPTIMIZERS, "signsgd", SignSGDConf)
    (tmp_path / "conf" / "optimizer").mkdir(parents=True)
    (tmp_path / "conf" / "optimizer" / "signsgd.yaml").write_text(
        "defaults:\n  - /schema/optimizer/SignSGDConf@_here_\n  - _self_\n"
    )
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    cfg = make_cfg("optimizer=signsgd", "optimizer.lr=0.01", "threads=1", search)
    assert OmegaConf.get_type(cfg.optimizer) is SignSGDConf
    alone = train(cfg, tmp_path / "alone")
    with ExitStack() as locks:
        (stacked,) = train_together([claim(cfg, tmp_path / "stacked", locks)], stacked=True)
    assert alone["status"] == stacked["status"] == "completed" and stacked["pack"]["stacked"] is True
    assert stacked["eval_loss"] == pytest.approx(alone["eval_loss"], rel=1e-4)
