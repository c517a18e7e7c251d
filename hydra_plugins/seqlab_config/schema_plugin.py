"""Hydra calls every search-path plugin each time it sets up a config loader (a run, a sweep, the compose API). For a
seqlab config (seqlab's conf/ on the search path), this one
- adds the working directory's conf/, where there is one, after seqlab's: a user's options for seqlab's groups
  (conf/local/default.yaml, conf/experiment/my_study.yaml, ...). Here and not in config.yaml's `hydra.searchpath`,
  which Hydra allows in a primary config only, so that a user's primary config can start from seqlab's
  (`defaults: [config]`);
- puts seqlab's schema into Hydra's ConfigStore and registers its resolver, so that they are in place for every
  composition, also in a host process that resets Hydra's singletons or OmegaConf's resolvers between runs (Hydra's
  own test utilities do).
For every Hydra app, it stores the schemas of seqlab's sweepers and launchers, which any app may choose; other apps'
configs are otherwise left as they are."""

import os

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from seqlab.schema import register, register_plugins

SEQLAB_CONF = ("pkg://seqlab.conf", "/seqlab/conf")  # seqlab's configs, installed or from a checkout
USER_CONF = "file://conf"


class SeqlabSchemaPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        register_plugins()
        paths = [element.path or "" for element in search_path.get_path()]
        if not any(path == SEQLAB_CONF[0] or path.rstrip("/").endswith(SEQLAB_CONF[1]) for path in paths):
            return
        register()
        if USER_CONF not in paths and os.path.isdir(USER_CONF.removeprefix("file://")):  # else Hydra would warn
            search_path.append(provider="seqlab", path=USER_CONF)
