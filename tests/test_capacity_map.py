"""The capacity map at the top of the results page, on small tables with known answers."""

import json

import pandas as pd
import pytest

from multirun_analysis import capacity_map


def write_table(results, study, rows):
    (results / study).mkdir(parents=True)
    pd.DataFrame(rows).to_csv(results / study / "memory_capacity.csv", index=False)


@pytest.fixture
def results(tmp_path):
    results = tmp_path / "results"
    solved = "solved (k/n) by data.length"
    write_table(results, "course", [  # numbers only, as tables aggregated before censoring texts were
        {"model.name": "rnn", "seeds": 5, "capacity_median": 15.0, "capacity_min": 15.0, "capacity_max": 15.0,
         "censored": 0, "non_monotone": 0, solved: "5: 5/5, 10: 5/5, 15: 5/5, 20: 0/5"},
    ])  # fmt: skip
    write_table(results, "course_optimizers", [
        {"optimizer.name": "rmsprop", "model.name": "rnn", "seeds": 5, "median": "10", "range": "all 5 seeds",
         "capacity_median": 10.0, solved: "5: 5/5, 10: 5/5, 20: 0/5"},  # the course grid came first: not shown
        {"optimizer.name": "sgd", "model.name": "gru", "seeds": 5, "median": "< 5", "range": "all 5 seeds",
         "capacity_median": float("nan"), solved: "5: 0/5"},
        {"optimizer.name": "adam", "model.name": "rrn", "seeds": 5, "median": ">= 50", "range": "all 5 seeds",
         "capacity_median": 50.0, solved: "5: 5/5, 50: 5/5"},
    ])  # fmt: skip
    return results


def test_each_cell_and_setting_comes_from_the_first_study_that_ran_it(results):
    found = capacity_map.entries(results)
    assert found[["cell", "setting", "capacity", "study"]].values.tolist() == [
        ["rnn", "RMSprop; default init; scalar digits", "15 (all 5 seeds; 5/5 at 15 [0.48-1.00])", "course"],
        ["gru", "SGD; default init; scalar digits", "< 5 (all 5 seeds; 0/5 at 5 [0.00-0.52])", "course_optimizers"],
        ["rrn", "Adam; default init; scalar digits", ">= 50 (all 5 seeds; 5/5 at 50 [0.48-1.00])", "course_optimizers"],
    ]
    wide = capacity_map.table(found)
    assert wide["cell"].tolist() == ["rnn", "gru", "rrn"]  # the registry's order
    assert wide.loc[wide["cell"] == "rnn", "SGD; default init; scalar digits"].item() == "-"  # not run


def test_an_entry_counts_the_seeds_a_grid_found_non_monotone(results):
    table = pd.read_csv(results / "course" / "memory_capacity.csv").assign(non_monotone=1)
    table.to_csv(results / "course" / "memory_capacity.csv", index=False)
    found = capacity_map.entries(results)
    assert found.loc[0, "capacity"] == "15 (all 5 seeds; 5/5 at 15 [0.48-1.00]; 1 non-monotone)"
    assert found.loc[1, "capacity"] == "< 5 (all 5 seeds; 0/5 at 5 [0.00-0.52])"  # no such column: none counted


def test_the_map_is_drawn_and_costs_come_from_the_benchmark(results, tmp_path):
    assert capacity_map.figure(capacity_map.entries(results), results) == "capacity_map.png"
    assert (results / "capacity_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bench = tmp_path / "bench.json"
    rows = [{"model": m, "length": n, "encoding": "scalar", "fast_steps_per_s": 500.0} for m in ("rnn", "lstm")
            for n in capacity_map.COST_LENGTHS]  # fmt: skip
    bench.write_text(json.dumps({"rows": rows}))
    costs = capacity_map.costs(bench, {"rnn": 17930, "lstm": 67850, "gru": 1, "rrn": 2})
    assert costs.iloc[0].tolist() == ["rnn", "17,930", "2.0", "2.0", "2.0"]
    assert costs.iloc[2].tolist() == ["gru", "1", "-", "-", "-"]  # not benchmarked


def test_gpu_costs_are_seconds_per_1000_steps_alone_and_per_run_of_a_fused_pack():
    rows = [
        {"cell": "rnn", "length": 450, "pack": 16, "alone": 500.0, "stacked": 70.0, "fused": 2000.0},
        {"cell": "rnn", "length": 10, "pack": 16, "alone": 250.0, "stacked": 90.0, "fused": 4000.0},
        {"cell": "lstm", "length": 10, "pack": 16, "alone": 1000.0, "fused": "CompilationError: K >= 16"},
    ]
    costs = capacity_map.gpu_costs({"rows": rows})
    assert costs.columns.tolist() == ["cell", "alone, L = 10", "alone, L = 450", "fused pack, per run, L = 10",
                                      "fused pack, per run, L = 450"]  # fmt: skip
    assert costs.values.tolist() == [["rnn", "4.00", "2.00", "0.25", "0.50"], ["lstm", "1.00", "-", "-", "-"]]


def test_solved_at_reads_k_of_n_at_a_length():
    assert capacity_map.solved_at("5: 5/5, 10: 4/5, 15: 1/3", "10") == "4/5"
    assert capacity_map.solved_at("5: 5/5, 50: 5/5", ">= 50") == "5/5"
    assert capacity_map.solved_at("5: 5/5, 15: 1/3", "5") == "5/5"  # not 15's
    assert capacity_map.solved_at("5: 5/5", "not recorded") == ""


def test_sgd_at_its_own_learning_rates_is_a_setting_of_each(results):
    solved = "solved (k/n) by data.length"
    write_table(results, "course_sgd_lr", [
        {"optimizer.name": "sgd", "optimizer.lr": lr, "model.name": "gru", "seeds": 5, "median": median,
         "range": "all 5 seeds", "capacity_median": value, solved: text}
        for lr, median, value, text in ((0.01, "5", 5.0, "5: 5/5, 10: 0/5"), (0.1, "10", 10.0, "10: 5/5, 15: 0/5"))
    ])  # fmt: skip
    found = capacity_map.entries(results).set_index("setting")
    capacity = found["capacity"]
    assert capacity["SGD; default init; scalar digits"] == "< 5 (all 5 seeds; 0/5 at 5 [0.00-0.52])"  # at lr 1e-3
    assert capacity["SGD at lr 0.01; default init; scalar digits"] == "5 (all 5 seeds; 5/5 at 5 [0.48-1.00])"
    assert found.loc["SGD at lr 0.1; default init; scalar digits", "study"] == "course_sgd_lr"


def test_a_settings_tick_label_fits_its_column_with_the_learning_rate_on_a_line_of_its_own():
    name = capacity_map.setting_name(
        {"optimizer.name": "sgd_momentum", "optimizer.lr": 0.01, "init.name": "default", "encoding": "scalar"}
    )
    label = capacity_map.tick_label(name)
    assert label.split("\n") == ["SGD with", "momentum 0.9", "at lr 0.01", "default init", "scalar digits"]
    assert capacity_map.tick_label("RMSprop; N(0, 1e-4); scalar digits") == "RMSprop\nN(0, 1e-4)\nscalar digits"
