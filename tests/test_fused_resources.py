"""The fused kernels' resource check (issue 36): every configuration the engine can launch, compiled ahead of time
for sm_80 and sm_90 (`python -m seqlab.engines.fused_resources`), fits its target's shared memory and does not
spill, or the engine trains that shape stacked in PyTorch and says why. The record is checked against the kernels'
source, and one configuration is compiled again here to check the record against Triton itself."""

import itertools
import json
import os
import subprocess
import sys

import pytest

from seqlab.engines.fused_config import (
    SHARED_MEMORY,
    STAGES,
    candidates,
    config_for,
    configurations,
    dot_chunk,
    fits,
    launch_config,
    measured,
    overflow,
    record,
)
from seqlab.engines.fused_resources import KERNELS, fused_cells, source_hash

SHAPES = list(
    itertools.product(
        (1, 16, 17, 32, 33, 128, 256), (1, 16, 17, 32, 50, 64, 100, 128, 200, 256), (1, 2, 16), (0, 108, 132)
    )
)  # fmt: skip  batch, hidden, runs, SMs (0: not known)


def test_the_record_is_of_the_kernels_as_they_are():
    assert record()["source"] == source_hash(), "the kernels changed: python -m seqlab.engines.fused_resources"


def test_the_record_holds_each_configuration_the_engine_can_propose_once_per_target_cell_and_kernel():
    proposed = {config for shape in SHAPES for stages in STAGES for config in candidates(*shape, stages)}
    assert proposed == set(configurations())
    for target, name, config in itertools.product(SHARED_MEMORY, fused_cells(), configurations()):
        assert sorted(row["kernel"] for row in measured(name, config, target)) == sorted(KERNELS)


def test_every_launch_fits_its_target_without_spilling_or_the_engine_falls_back_saying_why():
    fallbacks = set()
    for target, name, (batch, hidden, runs, processors), stages in itertools.product(
        SHARED_MEMORY, fused_cells(), SHAPES, STAGES
    ):  # fmt: skip
        config = fits(name, batch, hidden, runs, target, processors, stages)
        if isinstance(config, str):
            assert f"the fused {name} " in config and ("spills" in config or "shared memory" in config)
            fallbacks.add((target, name, hidden))
        else:
            assert [overflow(row) for row in measured(name, config, target)] == [None, None]
    assert {(target, name) for target, name, _ in fallbacks} < set(itertools.product(SHARED_MEMORY, fused_cells()))
    for name in fused_cells():  # the course setting on an H100: batch 128, hidden 128, a pack of 16
        assert not isinstance(launch_config(name, 128, 128, 16, "sm_90", 132), str)


def test_a_wide_tile_that_spills_gives_way_to_a_narrow_one_that_fits():
    for target, name, (batch, hidden, runs, processors) in itertools.product(SHARED_MEMORY, fused_cells(), SHAPES):
        first, *rest = candidates(batch, hidden, runs, processors)
        if rest and any(overflow(row) for row in measured(name, first, target)):
            assert launch_config(name, batch, hidden, runs, target, processors) in (rest[0], *[
                f"the fused {name} {row['kernel']} at hidden {hidden} {overflow(row)}"
                for row in measured(name, rest[0], target) if overflow(row)])  # fmt: skip


def test_the_record_is_what_triton_compiles_now():
    """One configuration compiled again, for sm_90, in a process of its own (Triton's interpreter, which other
    tests switch on, cannot compile): the same figures as the record where Triton's version is the record's."""
    pytest.importorskip("triton")
    config = launch_config("lstm", 128, 128, 16, "sm_90", 132)
    code = ("import json, sys; from seqlab.engines.fused_config import LaunchConfig; "
            "from seqlab.engines.fused_resources import compiled; config = LaunchConfig(**json.loads(sys.argv[1])); "
            "print(json.dumps(compiled('lstm', 'backward', config, 'sm_90')))")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", code, json.dumps(config.__dict__)], capture_output=True, text=True,
                          env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    [recorded] = [r for r in measured("lstm", config, "sm_90") if r["kernel"] == "backward"]
    import triton

    if triton.__version__ == record()["triton"]:
        assert row == recorded
    assert overflow(row) is None


def test_the_chunk_is_the_shortest_fp32_operand_the_installed_triton_takes(monkeypatch):
    compiler = pytest.importorskip("triton.backends.nvidia.compiler")
    for needs, chunk in ((8, 8), (16, 16), (4, 8)):  # Triton 3.9, 3.6, one that would take less than CHUNK
        monkeypatch.setattr(compiler, "min_dot_size", lambda target, k=needs: lambda lhs, rhs: (1, 1, k))
        dot_chunk.cache_clear()
        assert dot_chunk() == chunk == config_for(16, 128).block_k
    monkeypatch.setitem(sys.modules, "triton.backends.nvidia.compiler", None)  # no way to ask: what every one takes
    dot_chunk.cache_clear()
    assert dot_chunk() == 16
    monkeypatch.undo()
    dot_chunk.cache_clear()


def test_the_launch_follows_the_pipelining_depth_the_bench_sets_and_the_record_decides_it():
    from seqlab.bench_sweep import pack_ways, pipelined

    assert launch_config("rrn", 128, 128, 16, "sm_90", 132).num_stages == 1  # the depth launched by default
    with pipelined(2):
        assert launch_config("rrn", 128, 128, 16, "sm_90", 132).num_stages == 2  # fits at 2 stages (the record)
        assert "the fused lstm forward at hidden 128 spills" in launch_config("lstm", 128, 128, 16, "sm_90", 132)
    assert launch_config("lstm", 128, 128, 16, "sm_90", 132).num_stages == 1
    assert [name for name, _, _ in pack_ways(())] == ["alone", "stacked", "fused"]
    assert [name for name, _, _ in pack_ways((1, 2, 3))] == ["alone", "fused", "fused_2_stages", "fused_3_stages"]
