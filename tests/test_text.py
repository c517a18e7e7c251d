"""The text task: data, the many-to-many head, resume, samples, generation, the corpus command and bad input."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, TINY, assert_close_float32, generate, overridden, run_cli, text_args, tiny, write_corpus

from seqlab import rundir
from seqlab.data.corpus import read_corpus
from seqlab.data.streams import TRAIN_STREAM, stream_generator
from seqlab.data.text import TextTask, encode_text
from seqlab.generate import main as generate_main
from seqlab.models import CELLS, build_model, reference_twin
from seqlab.train import train


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "book.txt")


def test_targets_are_the_inputs_shifted_by_one(corpus):
    task = TextTask(read_corpus(corpus), 12, 0.1, torch.device("cpu"))
    text = read_corpus(corpus).text
    inputs, targets = task.batch(32, stream_generator(0, TRAIN_STREAM))
    assert inputs.shape == targets.shape == (32, 12)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    for row_in, row_target in zip(inputs.tolist(), targets.tolist(), strict=True):
        window = "".join(task.symbols[i] for i in row_in + row_target[-1:])
        assert window in text[: task.split]


def test_the_heldout_part_never_overlaps_training(tmp_path):
    path = tmp_path / "split.txt"
    path.write_text("abcab" * 180 + "xyzzy" * 20)  # 900 training characters from {a,b,c}, the last 100 from {x,y,z}
    task = TextTask(read_corpus(path), 7, 0.1, torch.device("cpu"))
    assert task.split == 900
    held_out = set(encode_text("xyz", task.symbols).tolist())
    generator = stream_generator(1, TRAIN_STREAM)
    for _ in range(200):
        inputs, targets = task.batch(64, generator)
        assert not held_out & set(torch.cat([inputs, targets]).unique().tolist())
    windows = task.heldout_set(4, 100, seed=0)
    assert sum(len(i) for i, _ in windows) == (100 - 1) // 7
    for inputs, targets in windows:
        assert set(torch.cat([inputs, targets]).unique().tolist()) <= held_out
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
    assert task.heldout_set(4, 100, seed=0)[0][0].equal(task.heldout_set(4, 100, seed=5)[0][0])


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("impl", ["fast", "fused"])
def test_many_to_many_fast_matches_reference_outputs_and_gradients(impl, layers, name):

    torch.manual_seed(0)
    fast = build_model(name, 16, layers, "onehot", impl, num_symbols=7, per_step=True)
    reference = reference_twin(fast, name)
    symbols, targets = torch.randint(0, 7, (9, 6)), torch.randint(0, 7, (9, 6))
    fast_logits, reference_logits = fast(symbols), reference(symbols)
    assert fast_logits.shape == (9, 6, 7)
    assert_close_float32(fast_logits, reference_logits)
    F.cross_entropy(fast_logits.flatten(0, 1), targets.flatten()).backward()
    F.cross_entropy(reference_logits.flatten(0, 1), targets.flatten()).backward()
    fast_params = dict(fast.core.named_parameters())
    for key, grad in reference.core.fused_gradients().items():
        assert_close_float32(fast_params[key].grad, grad, msg=key)
    assert_close_float32(fast.head.weight.grad, reference.head.weight.grad)


def test_a_text_run_records_bpc_samples_vocabulary_and_the_decayed_learning_rate(make_cfg, corpus, tmp_path):
    cfg = make_cfg(*text_args(corpus, "train.lr_decay.factor=0.5", "train.lr_decay.every=5", "train.max_steps=23"))
    result = train(cfg, tmp_path)
    assert result["status"] == "completed" and result["eval_bpc"] == pytest.approx(result["eval_loss"] / 0.6931471805)
    assert result["config"]["data.digest"] == read_corpus(corpus).digest
    with (tmp_path / rundir.METRICS).open() as f:
        header, *rows = [line.rstrip("\n").split(",") for line in f]
    assert header[-1] == "eval_bpc"
    lr = {int(row[0]): float(row[header.index("lr")]) for row in rows}
    assert lr == {5: 1e-3, 10: 5e-4, 15: 2.5e-4, 20: 1.25e-4, 23: 6.25e-5}  # the rate of each row's last step
    vocab = json.loads((tmp_path / rundir.VOCAB).read_text())
    assert vocab["symbols"] == "".join(sorted(set(corpus.read_text())))
    samples = (tmp_path / rundir.SAMPLES).read_text()
    import csv

    rows = list(csv.DictReader(samples.splitlines(keepends=True)))
    assert [(r["step"], r["temperature"]) for r in rows] == [(s, t) for s in ("10", "20", "23")
                                                             for t in ("0.0", "0.5", "1.0", "2.0")]  # fmt: skip
    assert all(len(r["text"]) == 20 and set(r["text"]) <= set(vocab["symbols"]) for r in rows)


def test_kill_9_of_a_text_run_then_relaunch_ends_byte_identical(corpus, tmp_path):
    long = ["model.hidden_size=16", "train.max_steps=600", "train.checkpoint_every=20", "train.eval_every=50",
            "train.early_stop.kind=none", "train.lr_decay.factor=0.9", "train.lr_decay.every=50",
            "data.sample_every=100", "threads=1"]  # fmt: skip
    args = tiny(*overridden(text_args(corpus), *long))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_cli(*args, f"hydra.run.dir={whole}").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "seqlab.run", *args, f"hydra.run.dir={cut}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (cut / rundir.SAMPLES).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / rundir.RESULT).exists(), "the run finished before it could be killed"
    assert run_cli(*args, f"hydra.run.dir={cut}").returncode == 0
    for name in (rundir.METRICS, rundir.SAMPLES, rundir.VOCAB):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    assert rundir.read_result(cut)["resumes"] == 1


def test_generation_is_repeatable_with_a_seed_and_refuses_unknown_prompt_characters(make_cfg, corpus, tmp_path):
    train(make_cfg(*text_args(corpus, "train.max_steps=30")), tmp_path)
    first, again = (generate(str(tmp_path), "--prompt", "The king", "--temperature", "1", "--seed", "3")
                    for _ in range(2))  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout and first.stdout.startswith("The king") and len(first.stdout) == 8 + 200 + 1
    assert "at step 30" in first.stderr
    other = generate(str(tmp_path), "--prompt", "The king", "--temperature", "1", "--seed", "4")
    assert other.stdout != first.stdout
    greedy = [generate(str(tmp_path), "--prompt", "a", "--length", "30").stdout for _ in range(2)]
    assert greedy[0] == greedy[1]
    unknown = generate(str(tmp_path), "--prompt", "Sleeping beauty is 100%!")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "seqlab: error: --prompt has characters that are not in the run's vocabulary: '!', '%', '0', '1' (it has "
        f"{len(set(corpus.read_text()))} characters, listed in {tmp_path / rundir.VOCAB})"
    ]


def bad_corpora(tmp_path: Path) -> list[tuple[list[str], str]]:
    empty, latin1, short = tmp_path / "empty.txt", tmp_path / "latin1.txt", tmp_path / "short.txt"
    empty.write_text("")
    latin1.write_bytes("Dornröschen".encode("latin-1"))
    short.write_text("Once upon a time")
    corpus = write_corpus(tmp_path / "ok.txt")
    return [
        ([f"data.path={tmp_path / 'missing.txt'}"], "data.path='{}' is invalid: no such file or directory"),
        ([f"data.path={empty}"], f"data.path='{empty}' is invalid: the file is empty"),
        ([f"data.path={latin1}"], f"data.path='{latin1}' is invalid: not UTF-8 text (byte 5 is 0xf6)"),
        ([f"data.path={short}"], f"data.path='{short}' is too short for data.seq_length=30"),
        ([f"data.path={corpus}", "data.sample_prompt=Zebra"], "data.sample_prompt='Zebra' is invalid: 'Z' is not in"),
        ([f"data.path={corpus}", "data.encoding=scalar"], "data.encoding='scalar' is invalid: expected one of onehot"),
        (
            [f"data.path={corpus}", "data.heldout_fraction=1"],
            "data.heldout_fraction=1.0 is invalid: expected a finite number > 0 and < 1",
        ),
    ]


@pytest.mark.slow
def test_bad_text_input_is_one_line_and_writes_nothing(tmp_path):
    for overrides, expected in bad_corpora(tmp_path):
        expected = expected.replace("{}", str(tmp_path / "missing.txt"))
        run_dir = tmp_path / "run"
        proc = run_cli(*tiny("dataset=text", *overrides), f"hydra.run.dir={run_dir}")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and expected in lines[0], (overrides, proc.stderr)
        assert not run_dir.exists()  # a refused run leaves nothing, not even Hydra's .hydra/


def test_a_changed_corpus_is_another_config(make_cfg, corpus, tmp_path):
    from seqlab.errors import ConfigError

    cfg = make_cfg(*text_args(corpus))
    train(cfg, tmp_path / "run")
    assert train(cfg, tmp_path / "run")["skipped"]
    write_corpus(corpus, seed=1)
    with pytest.raises(ConfigError, match="another config \\(data.digest: "):
        train(cfg, tmp_path / "run")


def prepare(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqlab.prepare", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_prepare_takes_a_local_file_and_says_what_to_do_offline(corpus, tmp_path):
    done = prepare("--from", str(corpus), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "book.txt").read_bytes() == corpus.read_bytes()
    assert "data.path=data/book.txt" in done.stdout
    offline = prepare("grimm", "--url", "http://127.0.0.1:9/grimm.txt", "--out", str(tmp_path / "g.txt"))
    assert offline.returncode == 1 and not (tmp_path / "g.txt").exists()
    assert offline.stderr.count("\n") == 1 and "python -m seqlab.prepare grimm --from FILE" in offline.stderr
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Dornröschen".encode("latin-1"))
    refused = prepare("--from", str(latin1), "--out", str(tmp_path / "x.txt"))
    assert refused.returncode == 2 and "not UTF-8" in refused.stderr and not (tmp_path / "x.txt").exists()


def test_the_aggregator_reports_bits_per_character_curves_and_samples(make_cfg, corpus, tmp_path):
    from multirun_analysis.aggregate_results import main as aggregate

    for length in (8, 12):
        for seed in (1, 2):
            cfg = make_cfg(*text_args(corpus, f"data.seq_length={length}", f"seed={seed}", "train.max_steps=20"))
            train(cfg, tmp_path / "runs" / f"L{length}s{seed}")
    assert aggregate([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## held-out bits per character: mean and 95% bootstrap interval over seeds" in report
    assert "Memory capacity" not in report and "## Samples during training" in report
    assert "| lstm | 8 | 1 | 10 | 0 |" in report  # seq_length 8, seed 1, first sampled step, greedy
    for name in ("eval_bpc_vs_data.seq_length.png", "learning_curves.png", "samples.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    import pandas as pd

    samples = pd.read_csv(tmp_path / "out" / "samples.csv", keep_default_na=False)
    assert len(samples) == 4 * 2 * 4 and set(samples["step"]) == {10, 20}  # runs x steps x temperatures
    scores = pd.read_csv(tmp_path / "out" / "sample_words.csv")
    assert len(scores) == len(samples) and scores["real_words"].dropna().between(0, 1).all()
    assert "## Words in the samples" in report
    baselines = pd.read_csv(tmp_path / "out" / "sample_baselines.csv")  # the same book's own statistics
    assert baselines.groupby("baseline").size().to_dict() == {"character pairs": 200, "characters": 200,
                                                              "shuffled words": 200}  # fmt: skip
    assert "What these fractions mean" in report


@pytest.mark.slow
def test_a_text_sweep_resolves_the_digest_before_launch_and_skips_on_relaunch(corpus, tmp_path):
    args = ["-m", *TINY, *text_args(corpus), "model=lstm,gru", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "2 trained" in first.stdout + first.stderr
    again = run_cli(*args)
    assert again.returncode == 0 and "2 already completed" in again.stdout + again.stderr
    missing = run_cli(*[a.replace(str(corpus), str(tmp_path / "gone.txt")) for a in args])
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode == 2 and len(lines) == 1 and lines[0].startswith("seqlab: error: data.path=")


def test_a_text_run_stops_on_a_training_loss_plateau(make_cfg, corpus, tmp_path):
    cfg = make_cfg(*text_args(corpus, "train.early_stop.kind=loss_plateau", "train.early_stop.window=5",
                              "train.early_stop.epsilon=100", "train.max_steps=100"))  # fmt: skip
    result = train(cfg, tmp_path)
    assert result["stopped_early"] and result["steps"] == 10  # first evaluation with two full windows
    assert (tmp_path / rundir.SAMPLES).read_text().count("\n10,") == 4  # samples at the step it stopped


def test_prepare_keeps_a_gutenberg_book_without_its_header_and_licence(tmp_path):
    book = "Once upon a time.\nThe end.\n"
    raw = f"\ufeffThe Project Gutenberg EBook of X\n\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n\n{book}\n\n"
    raw += "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nLicence: ...\n"
    (tmp_path / "pg.txt").write_text(raw, encoding="utf-8")
    done = prepare("grimm", "--from", str(tmp_path / "pg.txt"), "--out", str(tmp_path / "grimm.txt"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "grimm.txt").read_text(encoding="utf-8") == book


@pytest.mark.parametrize(
    "argument, accepted",
    [(["--temperature", "nan"], "a finite number >= 0"), (["--temperature", "inf"], "a finite number >= 0"),
     (["--seed", str(2**64)], "an integer from 0 to 2**64 - 1"), (["--seed", "-1"], "an integer from 0 to 2**64 - 1")],
)  # fmt: skip
def test_generate_refuses_a_bad_argument_in_one_line(tmp_path, capsys, argument, accepted):
    assert generate_main([str(tmp_path), "--prompt", "a", *argument]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"seqlab: error: {argument[0]} {float(argument[1]) if 'temp' in argument[0] else argument[1]}: " \
        f"expected {accepted}" + (" (0: greedy)" if "temp" in argument[0] else "")  # fmt: skip


def test_generate_reads_no_vocabulary_outside_the_run_directory(make_cfg, corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(make_cfg(*text_args(corpus, "train.max_steps=10")), run_dir)
    (run_dir / rundir.VOCAB).unlink()
    (run_dir / rundir.VOCAB).symlink_to(corpus)
    assert generate_main([str(run_dir), "--prompt", "a"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seqlab: error: {run_dir / rundir.VOCAB} is a symbolic link out of its run directory: not read"
    )
