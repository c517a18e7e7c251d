"""The typed schema (seqlab/schema.py): whatever the source of a key, the schema types and checks it; Hydra's own
features (completion, a user's config dir, search path and primary config, hydra.mode, single-run presets,
`--cfg hydra --resolve`) work as they do in plain Hydra."""

import dataclasses

import pytest
from conftest import ROOT, TINY, run_cli, seqlab_configs, tiny
from hydra import compose
from omegaconf import OmegaConf

from seqlab import rundir, schema
from seqlab.errors import ConfigError
from seqlab.validate import validate


def test_every_key_of_every_schema_has_a_default_and_numbers_a_rule():
    for key, item in schema._all_fields():
        has_default = item.default is not dataclasses.MISSING or item.default_factory is not dataclasses.MISSING
        assert has_default or key in ("data", "optimizer", "init"), key
        if item.type in (int, float):
            assert "rule" in item.metadata, f"{key}: a number without a range"


def test_the_choices_named_in_the_schema_are_the_code_s_own():
    from seqlab.init import INIT_SCHEMES
    from seqlab.models.registry import CELLS
    from seqlab.optim import OPTIMIZERS
    from seqlab.tasks import BUILDERS

    assert set(schema.OPTIMIZERS) == set(OPTIMIZERS)  # an update rule without a schema could not be configured
    assert set(schema.DATASETS) == set(BUILDERS)
    assert set(schema.INITS) <= set(INIT_SCHEMES)
    assert schema.accepted("model.name") == "one of " + ", ".join(sorted(CELLS))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["optimizer=sgd", "optimizer.momentum=-1"],
            "optimizer.momentum=-1.0 is invalid: expected a finite number >= 0",
        ),
        (["optimizer=adam", "optimizer.betas=[0.9,1.5]"], "optimizer.betas=1.5 is invalid: expected a finite number"),
        (["init=chrono", "init.t_max=2"], "init.t_max=2 is invalid: expected an integer > 2"),
        (["dataset=recall", "data.queries=some"], "data.queries='some' is invalid: expected all or an integer >= 1"),
        (["dataset=recall", "data.pairs=8", "data.queries=9"], "data.queries=9 is invalid: expected an integer from 1"),
        (["grad_flow.steps=[0,sometime]"], "grad_flow.steps='sometime' is invalid: expected first or middle or last"),
        (["eval.solved_accuracy=1.5"], "eval.solved_accuracy=1.5 is invalid: expected a finite number > 0 and <= 1"),
        (["seed=4294967296"], "seed=4294967296 is invalid: expected an integer >= 0 and <= 4294967295"),
    ],
)
def test_values_outside_their_rule_name_the_key_and_what_it_accepts(overrides, message):
    with seqlab_configs():
        cfg = compose(config_name="config", overrides=[*TINY, *overrides])
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert str(error.value).startswith(message), error.value


@pytest.mark.parametrize(
    ("added", "message"),
    [
        ("+seedd=3", "seedd is not a config key (did you mean seed?"),
        ("+train.early_stop.patiense=3", "train.early_stop.patiense is not a config key (did you mean "
         "train.early_stop.patience?"),
        ("+logger.tensorboard.foo=1", "logger.tensorboard.foo is not a config key (see the keys with"),
        ("+data.lenght=3", "data.lenght is not a config key (did you mean data.length?"),
    ],
)  # fmt: skip
def test_a_key_added_with_plus_must_be_a_schema_key(added, message):
    with seqlab_configs():
        cfg = compose(config_name="config", overrides=[*TINY, added])
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert str(error.value).startswith(message), error.value


def test_a_user_option_that_does_not_start_from_a_schema_is_typed_by_its_name(tmp_path):
    (tmp_path / "optimizer").mkdir()
    (tmp_path / "optimizer" / "mine.yaml").write_text("name: adam\nlr: 0.01\nweight_decay: 0.0\nbetas: [0.9, 0.99]\n"
                                                      "momentum: 0.5\n")  # fmt: skip
    with seqlab_configs():
        cfg = compose(
            config_name="config", overrides=[*TINY, "optimizer=mine", f"hydra.searchpath=[file://{tmp_path}]"]
        )
    with pytest.raises(ConfigError, match=r"^optimizer.momentum is not a key of this optimizer: only of"):
        validate(cfg)


def test_the_run_directory_resolver_is_in_place_after_a_host_clears_resolvers():
    OmegaConf.clear_resolver("seqlab_dirname")  # as Hydra's own test utilities do between runs
    with seqlab_configs():
        cfg = compose(config_name="config", overrides=["seed=3"], return_hydra_config=True)
        assert cfg.hydra.run.dir == "outputs/runs/" + rundir.dir_name(cfg.hydra.job.override_dirname)


def test_composition_with_a_cleared_config_store_still_finds_the_schema():
    from hydra.core.config_store import ConfigStore

    repo = ConfigStore.instance().repo  # as a host that restores Hydra's singletons to before seqlab's first run
    repo.pop("seqlab_schema.yaml", None)
    repo.pop("schema", None)
    with seqlab_configs():
        cfg = compose(config_name="config", overrides=["optimizer=adam"])
    assert OmegaConf.get_type(cfg.optimizer) is schema.AdamConf


@pytest.mark.slow
def test_shell_completion_lists_groups_and_keys(tmp_path):
    proc = run_cli("-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "seqlab-run optimizer="})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["optimizer=adam", "optimizer=rmsprop", "optimizer=sgd", "optimizer=sgd_momentum"]
    install = run_cli("-sc", "install=bash", cwd=tmp_path)
    assert install.returncode == 0 and "hydra_bash_completion" in install.stdout


@pytest.mark.slow
def test_a_users_config_dir_search_path_and_primary_config_compose(tmp_path):
    mine = tmp_path / "mine"
    (mine / "experiment").mkdir(parents=True)
    (mine / "experiment" / "pinned.yaml").write_text("# @package _global_\nmodel: {hidden_size: 8}\n"
                                                     "train: {max_steps: 3}\n")  # fmt: skip
    (mine / "primary.yaml").write_text("defaults:\n  - config\n  - _self_\ntrain:\n  max_steps: 7\n")
    env = {"PYTHONPATH": str(ROOT)}
    by_dir = run_cli("--config-dir", str(mine), "+experiment=pinned", "--cfg", "job", cwd=tmp_path, env=env)
    assert by_dir.returncode == 0 and "max_steps: 3" in by_dir.stdout, by_dir.stderr
    by_path = run_cli(f"hydra.searchpath=[file://{mine}]", "+experiment=pinned", "--cfg", "job", cwd=tmp_path, env=env)
    assert by_path.returncode == 0 and "max_steps: 3" in by_path.stdout, by_path.stderr
    primary = run_cli("--config-dir", str(mine), "--config-name", "primary", "--cfg", "job", cwd=tmp_path, env=env)
    assert primary.returncode == 0 and "max_steps: 7" in primary.stdout, primary.stderr
    resolved = run_cli("--cfg", "hydra", "--resolve", cwd=tmp_path, env=env)
    assert resolved.returncode == 0 and "Traceback" not in resolved.stderr, resolved.stderr
    # a single-run preset (it pins one run) trains without -m
    single = run_cli("--config-dir", str(mine), "+experiment=pinned", "train.progress=false", cwd=tmp_path, env=env)
    assert single.returncode == 0, single.stderr
    assert list((tmp_path / "outputs" / "runs").glob(f"*/{rundir.RESULT}"))


@pytest.mark.slow
def test_hydra_mode_multirun_on_the_command_line_sweeps(tmp_path):
    proc = run_cli("hydra.mode=MULTIRUN", *TINY, "seed=1,2", "sweep_name=modes", cwd=tmp_path,
                   env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "outputs" / "multirun" / "modes").glob(f"*/{rundir.RESULT}"))) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ("# @package _global_\ntrain: {max_stepz: 50}\n", "train.max_stepz is not a config key (did you mean "
         "train.max_steps?"),
        ("# @package _global_\ntrain: {max_steps: [50\n", "while parsing a flow sequence"),
        ("# @package _global_\noptimizer: {lr: '${nope}'}\n", "optimizer.lr: Interpolation key 'nope' not found"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("multirun", [False, True])
def test_a_broken_preset_is_one_line_and_leaves_nothing(tmp_path, preset, message, multirun):
    mine = tmp_path / "mine" / "experiment"
    mine.mkdir(parents=True)
    (mine / "broken.yaml").write_text(preset)
    work = tmp_path / "work"
    work.mkdir()
    sweep = ["-m", "seed=1,2"] if multirun else []
    proc = run_cli("--config-dir", str(mine.parent), *sweep, "+experiment=broken", *TINY, cwd=work,
                   env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not list(work.iterdir())


@pytest.mark.slow
def test_two_sweeps_get_two_folders_and_a_relaunch_finds_its_own(tmp_path):
    env = {"PYTHONPATH": str(ROOT)}
    first = run_cli("-m", *TINY, "model=rnn,lstm", cwd=tmp_path, env=env)
    second = run_cli("-m", *TINY, "seed=1,2", cwd=tmp_path, env=env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    folders = sorted(p.name for p in (tmp_path / "outputs" / "multirun").iterdir())
    assert len(folders) == 2 and all(len(list((tmp_path / "outputs" / "multirun" / f).glob("*/result.json"))) == 2
                                     for f in folders)  # fmt: skip
    again = run_cli("-m", "model=rnn,lstm", *reversed(TINY), "hydra/launcher=local_parallel", "threads=1",
                    "logger=none", cwd=tmp_path, env=env)  # fmt: skip
    assert "2 runs: 0 trained, 2 already completed (skipped), 0 failed" in again.stderr, again.stderr


@pytest.mark.slow
def test_the_command_line_overrides_a_presets_swept_values_but_gives_no_key_twice(tmp_path):
    env = {"PYTHONPATH": str(ROOT)}
    preset = ["-m", "+experiment=ledger_speed", "seed=1"]
    narrowed = run_cli(*preset, "model=rnn", "data.length=5", *tiny("train.max_steps=2"), cwd=tmp_path, env=env)
    assert narrowed.returncode == 0, narrowed.stderr
    assert "1 runs: 1 trained" in narrowed.stderr
    twice = run_cli("-m", "+experiment=ledger_speed", "seed=1", "seed=2", *TINY, cwd=tmp_path, env=env)
    assert twice.returncode == 2 and twice.stderr.strip().endswith(
        "seed is given twice (seed=1 and seed=2): give it once"
    )
