"""seqlab's Hydra launcher plugin, packed runs (Hydra instantiates launchers only from `hydra_plugins`)."""
