"""The long-memory tasks beside the palindrome: copy and associative recall (generators against slow references,
masked loss and accuracy, solved criteria, resume, a packed sweep) and the chrono init."""

import math
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, run_cli, tiny

import seqlab.loop as loop_module
from seqlab import rundir
from seqlab.data import IGNORE
from seqlab.data.copy import BASELINE_LOSS, DELIMITER, copy_batch
from seqlab.data.recall import RecallTask, query_count, recall_batch
from seqlab.init import apply_init
from seqlab.loop import evaluate
from seqlab.models import build_model
from seqlab.signals import RunInterrupted
from seqlab.train import train


@pytest.mark.parametrize("delay", [1, 5, 30])
def test_copy_sequences_are_what_the_task_says(delay):
    inputs, targets = copy_batch(delay, 64, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (64, delay + 20)
    for x, y in zip(inputs.tolist(), targets.tolist(), strict=True):  # the slow reference, one sequence at a time
        data = x[:10]
        assert all(1 <= s <= 8 for s in data)
        assert x[10:] == [0] * (delay - 1) + [DELIMITER] + [0] * 10
        assert y == [IGNORE] * (delay + 10) + data


@pytest.mark.parametrize(("pairs", "vocab"), [(1, 1), (4, 4), (8, 16)])
def test_recall_sequences_answer_the_query_keys_value(pairs, vocab):
    inputs, targets = recall_batch(pairs, vocab, 64, torch.Generator().manual_seed(0))
    assert inputs.shape == (64, 2 * pairs + 1) and targets.shape == (64,)
    for x, y in zip(inputs.tolist(), targets.tolist(), strict=True):
        keys, values, query = x[0:-1:2], x[1:-1:2], x[-1]
        assert len(set(keys)) == pairs and all(0 <= k < vocab for k in keys)
        assert all(vocab <= v < 2 * vocab for v in values)
        assert y == dict(zip(keys, values, strict=True))[query]


@pytest.mark.parametrize(("pairs", "queries"), [(4, 2), (6, 6)])
def test_several_queries_ask_distinct_keys_and_score_only_the_query_steps(pairs, queries):
    vocab = 8
    inputs, targets = recall_batch(pairs, vocab, 64, torch.Generator().manual_seed(0), queries=queries)
    assert inputs.shape == targets.shape == (64, 2 * pairs + queries)
    for x, y in zip(inputs.tolist(), targets.tolist(), strict=True):
        keys, values, asked = x[0 : 2 * pairs : 2], x[1 : 2 * pairs : 2], x[2 * pairs :]
        assert len(set(keys)) == pairs and len(set(asked)) == queries and set(asked) <= set(keys)
        assert y[: 2 * pairs] == [IGNORE] * (2 * pairs)
        assert y[2 * pairs :] == [dict(zip(keys, values, strict=True))[k] for k in asked]
    task = RecallTask(pairs, vocab, torch.device("cpu"), queries)
    assert task.per_step and task.masked and task.num_symbols == 2 * vocab
    assert not RecallTask(pairs, vocab, torch.device("cpu")).per_step  # one query: one prediction per sequence


def test_all_queries_is_one_per_pair_and_a_recall_run_recorded_before_queries_keeps_its_fingerprint(make_cfg):
    from omegaconf import OmegaConf

    assert query_count("all", 5) == 5 and query_count(2, 5) == 2
    flat = rundir.flatten(OmegaConf.to_container(make_cfg("dataset=recall", "data.pairs=3"), resolve=True))
    assert flat["data.queries"] == 1
    before = {k: v for k, v in flat.items() if k != "data.queries"}
    assert rundir.fingerprint(before) == rundir.fingerprint(flat)
    assert rundir.with_added_keys(before)["data.queries"] == 1
    assert "data.queries" not in rundir.with_added_keys({"data.name": "palindrome", "data.length": 5})


class FixedLogits(torch.nn.Module):
    """A stand-in model that returns the same logits whatever it reads."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, inputs):
        return self.logits


def test_loss_and_accuracy_count_only_the_scored_positions():
    logits = torch.randn(2, 5, 10)
    targets = torch.full((2, 5), IGNORE)
    targets[:, -2:] = logits[:, -2:].argmax(-1)  # right at the scored positions
    targets[0, -1] = (targets[0, -1] + 1) % 10  # but one
    loss, accuracy = evaluate(FixedLogits(logits), [(None, targets)])
    expected = F.cross_entropy(logits[:, -2:].flatten(0, 1), targets[:, -2:].flatten())
    assert accuracy == 3 / 4 and math.isclose(loss, expected.item(), rel_tol=1e-6)


def test_a_copy_run_reports_its_baseline_and_is_solved_on_the_copied_symbols(make_cfg, tmp_path):
    result = train(make_cfg("dataset=copy", "data.length=3", "model=lstm", "eval.solved_accuracy=0.05"), tmp_path)
    assert result["baseline_loss"] == pytest.approx(math.log(8))
    header = (tmp_path / rundir.METRICS).read_text().splitlines()[0]
    assert header.endswith("baseline_loss")
    assert 0 <= result["eval_accuracy"] <= 1 and result["converged"]  # chance over 8 symbols is above 0.05
    assert BASELINE_LOSS == pytest.approx(math.log(8))


@pytest.mark.parametrize("task", [["dataset=copy", "data.length=4"], ["dataset=recall", "data.pairs=3"],
                                  ["dataset=recall", "data.pairs=3", "data.queries=all"]])  # fmt: skip
def test_a_new_task_resumes_to_what_it_computes_uninterrupted(make_cfg, tmp_path, monkeypatch, task):
    cfg = make_cfg(*task, "model=lstm", "train.max_steps=30", "train.checkpoint_every=0")
    train(cfg, tmp_path / "whole")
    real_step, calls = loop_module.training_step, {"n": 0}

    def step_then_signal(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop_module, "training_step", step_then_signal)
    with pytest.raises(RunInterrupted):
        train(cfg, tmp_path / "cut")
    monkeypatch.setattr(loop_module, "training_step", real_step)
    train(cfg, tmp_path / "cut")
    assert (tmp_path / "cut" / rundir.METRICS).read_bytes() == (tmp_path / "whole" / rundir.METRICS).read_bytes()


@pytest.mark.slow
def test_a_packed_sweep_of_the_new_tasks_trains_each_run_as_alone(tmp_path):
    args = [
        "-m",
        *TINY,
        "dataset=copy,recall,adding",
        "model=rnn,gru",
        "threads=1",
        "hydra.sweep.subdir=${data.name}_${model.name}",
    ]
    alone = run_cli(*args, f"hydra.sweep.dir={tmp_path / 'alone'}")
    packed = run_cli(*args, "hydra/launcher=packed", f"hydra.sweep.dir={tmp_path / 'packed'}")
    assert alone.returncode == 0 and packed.returncode == 0, packed.stderr[-2000:]
    for run in ("copy_rnn", "copy_gru", "recall_rnn", "recall_gru", "adding_rnn", "adding_gru"):
        metrics = [(tmp_path / way / run / rundir.METRICS).read_bytes() for way in ("alone", "packed")]
        assert metrics[0] == metrics[1], run


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "message"), [
    (["dataset=sorting"], "dataset=sorting"),
    (["dataset=copy", "data.length=0"], "data.length=0 is invalid: expected an integer >= 1"),
    (["dataset=recall", "data.pairs=4", "data.vocab_size=2"],
     "data.vocab_size=2 is invalid: expected an integer >= data.pairs (4)"),
    (["dataset=recall", "data.pairs=4", "data.queries=5"],
     "data.queries=5 is invalid: expected an integer from 1 to data.pairs (4), or all"),
    (["init=chrono", "model=rrn"], "init.name='chrono' is invalid: expected lstm or gru"),
    (["dataset=adding", "data.encoding=onehot"], "data.encoding='onehot' is invalid: expected one of values"),
    (["dataset=adding", "train.early_stop.kind=train_streak"], "train.early_stop.kind='train_streak' is invalid"),
])  # fmt: skip
def test_bad_task_input_is_one_line(tmp_path, overrides, message):
    proc = run_cli(*tiny(*overrides), cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_chrono_init_sets_the_gates_that_keep_the_state_for_a_time_range(name):
    torch.manual_seed(0)
    model = build_model(name, 64, 2, "onehot", "fused")
    apply_init(model, "chrono", t_max=50.0)
    n, core = 64, model.core
    for k in range(2):
        bias = core.layer(k)["b_ih"].view(-1, n)
        keep = bias[core.gates.index("f" if name == "lstm" else "z")]
        assert (keep >= 0).all() and (keep <= math.log(49) + 1e-6).all() and keep.std() > 0.3
        if name == "lstm":
            torch.testing.assert_close(bias[core.gates.index("i")], -keep)
        others = [g for g in core.gates if g not in ("f", "i", "z")]
        assert all((bias[core.gates.index(g)] == 0).all() for g in others)


def test_adding_sequences_sum_the_two_marked_values():
    from seqlab.data.adding import adding_batch

    inputs, targets = adding_batch(10, 64, torch.Generator().manual_seed(0))
    assert inputs.shape == (64, 10, 2) and targets.shape == (64,)
    for x, y in zip(inputs.tolist(), targets.tolist(), strict=True):
        marked = [t for t, (_, marker) in enumerate(x) if marker == 1.0]
        assert len(marked) == 2 and marked[0] < 5 <= marked[1] and all(0 <= v < 1 for v, _ in x)
        assert y == pytest.approx(sum(x[t][0] for t in marked))


@pytest.mark.parametrize("impl", ["fast", "fused"])
@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rrn"])
def test_real_valued_inputs_and_a_regression_head_match_the_reference(impl, name):
    from seqlab.models import reference_twin

    torch.manual_seed(0)
    fast = build_model(name, 16, 2, "values", impl, num_symbols=2, outputs=1)
    reference = reference_twin(fast, name)
    inputs, targets = torch.rand(9, 7, 2), torch.rand(9)
    outputs = [model(inputs) for model in (fast, reference)]
    assert outputs[0].shape == (9, 1)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    for out in outputs:
        F.mse_loss(out.squeeze(-1), targets).backward()
    torch.testing.assert_close(fast.head.weight.grad, reference.head.weight.grad, rtol=1e-4, atol=1e-5)
    fused_grads = reference.core.fused_gradients()
    for key, grad in fused_grads.items():
        torch.testing.assert_close(dict(fast.core.named_parameters())[key].grad, grad, rtol=1e-3, atol=1e-5)


def test_an_adding_run_is_scored_by_its_squared_error_and_solved_below_the_threshold(make_cfg, tmp_path):
    from seqlab.data.adding import BASELINE_MSE

    result = train(make_cfg("dataset=adding", "data.length=6", "model=gru", "eval.solved_mse=0.5"), tmp_path / "a")
    assert result["baseline_mse"] == pytest.approx(1 / 6) == BASELINE_MSE
    assert math.isnan(result["eval_accuracy"]) and result["eval_loss"] < 0.5 and result["converged"]
    strict = train(make_cfg("dataset=adding", "data.length=6", "model=gru", "eval.solved_mse=1e-9"), tmp_path / "b")
    assert not strict["converged"]


def test_the_aggregator_scores_each_task_of_a_sweep_by_its_own_metric(make_cfg, tmp_path):
    import pandas as pd

    from multirun_analysis.aggregate_results import main as aggregate

    losses = []
    for task in ("copy", "adding"):
        for seed in (1, 2):
            cfg = make_cfg(f"dataset={task}", "data.length=5", "model=rnn", f"seed={seed}", "train.max_steps=20")
            losses.append(train(cfg, tmp_path / "runs" / f"{task}{seed}")["eval_loss"])
    assert aggregate([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    index = (tmp_path / "out" / "report.md").read_text()
    assert "- [adding](adding/report.md): 2 runs, held-out mean squared error" in index
    assert "- [copy](copy/report.md): 2 runs, held-out accuracy" in index
    adding = pd.read_csv(tmp_path / "out" / "adding" / "summary.csv")
    assert adding["n"].tolist() == [2] and adding["mean"].iloc[0] == pytest.approx(sum(losses[2:]) / 2)
    assert pd.read_csv(tmp_path / "out" / "copy" / "summary.csv")["mean"].between(0, 1).all()
    assert (tmp_path / "out" / "adding" / "eval_loss_vs_data.length.png").stat().st_size > 0
    assert (tmp_path / "out" / "copy" / "eval_accuracy_vs_data.length.png").stat().st_size > 0
    assert "## held-out mean squared error: mean" in (tmp_path / "out" / "adding" / "report.md").read_text()
    assert not (tmp_path / "out" / "adding" / "training_accuracy.csv").exists()  # a regression has no accuracy
