"""Every experiment preset composes, for each value its sweep gives each key, into a run config that passes the
checks a run makes before training (the schema's and the combinations': the machine's own are checked where a run
trains)."""

import pytest
from conftest import CONF, seqlab_configs, write_corpus
from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser

from seqlab.validate import validate

PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def swept_values(params: dict[str, str]) -> list[str]:
    """`key=value` for every value of every swept key (`a,b`, `range(...)`)."""
    parsed = OverridesParser.create().parse_overrides([f"{key}={values}" for key, values in params.items()])
    return [
        f"{o.key_or_group}={value}"
        for o in parsed
        for value in (o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()])
    ]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_into_valid_runs_for_each_swept_value(preset, tmp_path):
    with seqlab_configs():
        sweep = compose(config_name="config", overrides=[f"+experiment={preset}"], return_hydra_config=True)
        params = dict(sweep.hydra.sweeper.params)
        assert params, f"{preset} sweeps nothing"
        book = write_corpus(tmp_path / "book.txt", characters=20_000)  # a text run's book need not be on this machine
        for override in swept_values(params):
            cfg = compose(config_name="config", overrides=[f"+experiment={preset}", override])
            assert cfg.sweep_name == preset  # each preset's runs in a sweep directory of its own
            if cfg.data.name == "text":
                cfg.data.path = str(book)
            validate(cfg)
