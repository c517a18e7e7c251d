"""The capacity map at the top of the results page: each cell's memory capacity at the course setting under each
optimizer, init and encoding the studies ran, beside its parameter count and its cost per 1,000 steps.

Read from the studies' own memory-capacity tables (docs/results/<study>/memory_capacity.csv): one source per cell
and setting, the first study in `SOURCES` that has it (the course grid before the capacity searches).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from multirun_analysis import figures
from multirun_analysis.aggregate_results import across_processors
from multirun_analysis.stats import proportion_interval, with_censoring_text

# study -> the setting all its rows share; a row's own optimizer.name or init.name gives the rest
SOURCES = {
    "course": {"optimizer.name": "rmsprop", "init.name": "default", "encoding": "scalar"},
    "course_optimizers": {"init.name": "default", "encoding": "scalar"},
    "course_optimizers_rrn": {"init.name": "default", "encoding": "scalar"},
    "course_onehot": {"optimizer.name": "rmsprop", "init.name": "default", "encoding": "onehot"},
    "course_onehot_gru_rrn": {"optimizer.name": "rmsprop", "init.name": "default", "encoding": "onehot"},
    "course_inits": {"optimizer.name": "rmsprop", "encoding": "scalar"},
    "course_inits_gru_rrn": {"optimizer.name": "rmsprop", "encoding": "scalar"},
    "course_sgd_lr": {"init.name": "default", "encoding": "scalar"},
}
COURSE_LR = 1e-3  # a setting's learning rate is named only where it is not the course's
AT_LR = " at lr "  # how a setting's name gives its learning rate: `SGD at lr 0.1`
MATCHED = "course_matched"  # the RNN at the LSTM's parameter count (hidden 255)
MATCHED_HIDDEN = 255
SETTING_NAMES = {"rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD", "sgd_momentum": "SGD with momentum 0.9",
                 "default": "default init", "normal": "N(0, 1e-4)", "standard_normal": "N(0, 1)",
                 "scalar": "scalar digits", "onehot": "one-hot digits"}  # fmt: skip
CELLS = ("rnn", "lstm", "gru", "rrn")
COST_LENGTHS = (10, 100, 450)
CPU_BENCH = Path("bench/cpu_2core.json")  # under docs/: the training benchmark on a 2-core CPU
GPU_BENCH = Path("bench/h200_packs.json")  # under docs/: one run alone and fused packs of 16 on an H200
SETTING = ("the course setting: hidden 128, batch 128, lr 1e-3 (where a column names no other), clip 10, up to 10,000 "
           "steps, seeds 1-5, float32; solved: held-out accuracy >= 0.99")  # fmt: skip


def setting_name(setting: dict[str, object]) -> str:
    """`RMSprop; default init; scalar digits`, say (`SGD at lr 0.1; ...` where the learning rate is not COURSE_LR)."""
    names = [SETTING_NAMES.get(str(setting[k]), str(setting[k])) for k in ("optimizer.name", "init.name", "encoding")]
    lr = float(setting.get("optimizer.lr", COURSE_LR))
    if lr != COURSE_LR:
        names[0] += f"{AT_LR}{lr:g}"
    return "; ".join(names)


def solved_at(solved: str, length: str) -> str:
    """k/n at `length` in a `solved (k/n) by data.length` text (`5: 5/5, 10: 4/5, ...`); '' if not tested."""
    number = re.sub(r"[^\d.]", "", length)
    found = re.search(rf"(?:^|, ){re.escape(number)}: (\d+/\d+)", solved) if number else None
    return found[1] if found else ""


def entries(results: Path) -> pd.DataFrame:
    """One row per cell and setting: its capacity text (lower median over seeds, range, k/n at the median), its
    median as a number (for the figure; censored values at their bound) and its source study."""
    rows, seen = [], set()
    for study, shared in SOURCES.items():
        table_path = results / study / "memory_capacity.csv"
        if not table_path.exists():
            continue
        table = with_censoring_text(pd.read_csv(table_path, dtype={"median": str, "range": str}))
        solved = next(c for c in table.columns if c.startswith("solved (k/n) by"))
        for _, row in table.iterrows():
            setting = {**shared, **{k: row[k] for k in ("optimizer.name", "init.name", "optimizer.lr") if k in row}}
            key = (row["model.name"], setting_name(setting))
            if key in seen:
                continue
            seen.add(key)
            median, spread = str(row["median"]), str(row["range"])
            detail, at = spread, solved_at(str(row[solved]), median)
            if at:
                low, high = proportion_interval(*map(int, at.split("/")))
                detail += f"; {at} at {re.sub(r'[^0-9]', '', median)} [{low:.2f}-{high:.2f}]"
            if row.get("non_monotone", 0) > 0:
                detail += f"; {int(row['non_monotone'])} non-monotone"
            text = f"{median} ({detail})"
            value = float(row["capacity_median"]) if pd.notna(row["capacity_median"]) else 0.0  # < v: drawn as 0
            rows.append({"cell": row["model.name"], "setting": key[1], "capacity": text, "study": study,
                         "value": value})  # fmt: skip
    return pd.DataFrame(rows, columns=["cell", "setting", "capacity", "study", "value"])


def table(found: pd.DataFrame) -> pd.DataFrame:
    """Cells as rows, settings as columns, each entry the capacity text; `-`: not run."""
    order = list(dict.fromkeys(found["setting"]))
    wide = found.pivot(index="cell", columns="setting", values="capacity").reindex(columns=order)
    wide = wide.reindex([c for c in CELLS if c in wide.index]).fillna("-")
    return wide.reset_index()


def costs(bench: Path, parameters: dict[str, int]) -> pd.DataFrame:
    """Per cell: parameters at hidden 128 (scalar digits) and seconds per 1,000 training steps at each of
    COST_LENGTHS, from the training benchmark's record `bench` (its machine and threads named in the header)."""
    rows = json.loads(bench.read_text())["rows"]
    speed = {(r["model"], r["length"]): r["fast_steps_per_s"] for r in rows if r["encoding"] == "scalar"}
    out = []
    for cell in CELLS:
        entry = {"cell": cell, "parameters": f"{parameters[cell]:,}"}
        for length in COST_LENGTHS:
            rate = speed.get((cell, length))
            entry[f"s / 1,000 steps at L = {length}"] = f"{1000 / rate:.1f}" if rate else "-"
        out.append(entry)
    return pd.DataFrame(out)


def gpu_costs(report: dict) -> pd.DataFrame:
    """Per cell: seconds per 1,000 training steps at each length of the packs benchmark's `report`, of one run
    alone and of each run of a fused pack (`-`: not measured, or its error)."""
    ways = {"alone": "alone", "fused": "fused pack, per run"}
    seconds: dict[str, dict[tuple[str, int], str]] = {}
    for row in report["rows"]:
        for way, name in ways.items():
            rate = row.get(way)
            shown = f"{1000 / rate:.2f}" if isinstance(rate, float) else "-"
            seconds.setdefault(row["cell"], {})[(name, row["length"])] = shown
    frame = pd.DataFrame.from_dict(seconds, orient="index").fillna("-")
    frame = frame[sorted(frame.columns, key=lambda column: (list(ways.values()).index(column[0]), column[1]))]
    frame.columns = [f"{name}, L = {length}" for name, length in frame.columns]
    return frame.rename_axis("cell").reset_index()


def tick_label(setting: str, width: int = 16) -> str:
    """A setting's name on lines that fit under its column: a line per part, its learning rate on a line of its own,
    long parts wrapped at `width` characters."""
    parts = setting.replace(AT_LR, f";{AT_LR}").split("; ")
    return "\n".join(line for part in parts for line in textwrap.wrap(part, width))


def figure(found: pd.DataFrame, out: Path) -> str:
    """A heatmap of the lower median capacities (cells x settings), each square labelled with its text's median;
    returns the PNG's file name."""
    wide = found.pivot(index="cell", columns="setting", values="value")
    wide = wide.reindex(index=[c for c in CELLS if c in wide.index], columns=list(dict.fromkeys(found["setting"])))
    labels = found.pivot(index="cell", columns="setting", values="capacity").reindex_like(wide)
    fig, ax = plt.subplots(figsize=(1.6 + 1.25 * wide.shape[1], 1.2 + 0.6 * wide.shape[0]))
    ax.imshow(np.ma.masked_invalid(wide.to_numpy(dtype=float)), cmap="viridis", aspect="auto", vmin=0)
    for (i, j), text in np.ndenumerate(labels.to_numpy(dtype=object)):
        if isinstance(text, str):
            ax.text(j, i, text.split(" (")[0], ha="center", va="center", color="white", fontsize=9,
                    bbox={"facecolor": "black", "alpha": 0.35, "linewidth": 0})  # fmt: skip
        else:
            ax.text(j, i, "not run", ha="center", va="center", color="grey", fontsize=8)
    ax.grid(False)
    ax.set_xticks(range(wide.shape[1]), [tick_label(c) for c in wide.columns], fontsize=8)
    ax.set_yticks(range(wide.shape[0]), list(wide.index))
    ax.set_title("Memory capacity (lower median over 5 seeds; >= v: never failed up to the longest tested L)")
    return figures.save(fig, out, "capacity_map", ["png"], setting=SETTING)


def parameter_counts(hidden: int, cells: tuple[str, ...] = CELLS) -> dict[str, int]:
    """Each of `cells`' trainable parameters at `hidden` units on scalar digits (the model builder's own count)."""
    from seqlab.models import build_model, count_parameters  # noqa: PLC0415 - torch, only to count

    return {cell: count_parameters(build_model(cell, hidden, 1, "scalar")) for cell in cells}


def matched_line(results: Path, found: pd.DataFrame, parameters: dict[str, int]) -> str | None:
    """The parameter-matched comparison: the RNN at MATCHED_HIDDEN units against the 128-unit LSTM and RNN (their
    capacities from the map's `found` entries)."""
    path = results / MATCHED / "memory_capacity.csv"
    if not path.exists():
        return None
    row = with_censoring_text(pd.read_csv(path, dtype={"median": str, "range": str})).iloc[0]
    course = found[found["setting"] == setting_name(SOURCES["course"])].set_index("cell")["capacity"]
    rnn_255 = parameter_counts(MATCHED_HIDDEN, ("rnn",))["rnn"]
    return (f"Parameter-matched: the RNN at hidden {MATCHED_HIDDEN} ({rnn_255:,} parameters, `+experiment={MATCHED}`) "
            f"has capacity {row['median']} ({row['range']}), against {course.get('lstm', '-')} for the LSTM at "
            f"hidden 128 ({parameters['lstm']:,}) and {course.get('rnn', '-')} for the RNN at hidden 128 "
            f"({parameters['rnn']:,}), same setting (RMSprop; default init; scalar digits).")  # fmt: skip


def blocks(docs: Path) -> list[tuple[str, object]]:
    """The map's heading, key, table, figure, costs and parameter-matched line; none before any study ran."""
    results = docs / "results"
    found = entries(results)
    if found.empty:
        return []
    parameters = parameter_counts(128)
    drawn = figure(found, results)
    parts: list[tuple[str, object]] = [
        ("heading", "Capacity map: which cell remembers longest, under which optimizer, init and encoding?"),
        ("paragraph", f"Each cell's memory capacity on the palindrome task at {SETTING}: the longest L with every "
         "tested L up to it solved, its lower median over seeds, the range over seeds in brackets and k/n seeds "
         "solving the median's L with its Clopper-Pearson 95% interval in square brackets (in a capacity search n "
         "counts only the seeds that tested that L: the others had failed a shorter one). Non-monotone: seeds "
         "that failed a shorter L than one they solved; a grid, testing every L, reads them at the shorter, where a "
         "capacity search, not testing shorter L once a longer one is solved, may read them higher. `>= v`: no "
         "tested L failed up to v, the longest tested (a lower bound); `< v`: the shortest tested L failed; `-`: not "
         "run. "
         "From the studies' own tables below "
         f"(`multirun_analysis/capacity_map.py`; sources: {', '.join(dict.fromkeys(found['study']))}"
         f"{across_processors(results, set(found['study']))})."),
        ("table", table(found)),
        ("image", (f"results/{drawn}", "capacity map: lower median capacity per cell and setting")),
    ]  # fmt: skip
    if (bench := docs / CPU_BENCH).exists():
        parts += [
            ("paragraph", "Parameters at hidden 128 (scalar digits, with the 10-way read-out) and the cost of 1,000 "
             "training steps at batch 128 on a 2-core CPU (`python -m seqlab.bench`, 2 threads: "
             f"[{CPU_BENCH}]({CPU_BENCH})):"),
            ("table", costs(bench, parameters)),
        ]  # fmt: skip
    if (docs / GPU_BENCH).exists():
        report = json.loads((docs / GPU_BENCH).read_text())
        parts += [
            ("paragraph", f"On one {report.get('gpu') or 'NVIDIA H200'} (torch {report['torch']}; hidden 128, batch "
             "128, one-hot digits; `python -m seqlab.bench --sweep --packs --device cuda`: "
             f"[{GPU_BENCH}]({GPU_BENCH})), seconds per 1,000 training steps of one run alone (cuDNN; the RRN: "
             "PyTorch ops) and of each run of a fused pack of 16 "
             "(`hydra/launcher=packed hydra.launcher.stacked=fused`):"),
            ("table", gpu_costs(report)),
        ]  # fmt: skip
    if line := matched_line(results, found, parameters):
        parts.append(("paragraph", line))
    return parts
