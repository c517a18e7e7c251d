"""A shared run directory is data, never code: a crafted checkpoint is refused before anything in it runs."""

import pytest
import torch
from conftest import Payload, generate, plant, run_cli, text_args, write_corpus

from seqlab import checkpoint, rundir
from seqlab.train import train


def test_a_checkpoint_with_a_pickled_callable_is_refused_by_generate(make_cfg, tmp_path):
    corpus = write_corpus(tmp_path / "book.txt")
    run_dir, marker = tmp_path / "run", tmp_path / "pwned"
    train(make_cfg(*text_args(corpus, "train.max_steps=10")), run_dir)
    plant(run_dir, marker)
    refused = generate(str(run_dir), "--prompt", "the")
    assert refused.returncode == 2 and not marker.exists()
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(f"seqlab: error: {run_dir / rundir.CHECKPOINT} is refused: it holds more than tensors")
    assert "nothing in it was run" in line


@pytest.mark.slow
def test_a_checkpoint_with_a_pickled_callable_is_refused_on_resume(tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "pwned"
    args = ["model.hidden_size=8", "train.batch_size=8", "train.checkpoint_every=10", "train.progress=false",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    assert run_cli(*args, "train.max_steps=10").returncode == 0  # a finished run at 10 steps
    (run_dir / rundir.RESULT).unlink()
    plant(run_dir, marker)
    resumed = run_cli(*args, "train.max_steps=10")
    assert resumed.returncode == 2 and not marker.exists()
    assert resumed.stderr.strip().splitlines()[-1].startswith("seqlab: error: ")
    assert "is refused: it holds more than tensors" in resumed.stderr


def test_load_refuses_and_never_unpickles(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "c.pt"
    torch.save({"progress": {"step": 1}, "x": Payload(marker)}, path)
    with pytest.raises(checkpoint.UnsafeCheckpoint, match="nothing in it was run"):
        checkpoint.load(path)
    assert not marker.exists()


def test_a_fifo_in_place_of_a_result_is_unreadable_not_a_hang(tmp_path):
    """A shared run directory whose result.json is a named pipe: status and aggregate read it as empty (unreadable)
    at once, where a blocking open would wait for a writer forever."""
    import os

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.mkfifo(run_dir / rundir.RESULT)
    with pytest.raises(ValueError, match="not valid JSON"):
        rundir.read_result(run_dir)
