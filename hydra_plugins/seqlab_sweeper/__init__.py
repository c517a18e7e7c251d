"""seqlab's Hydra sweeper plugin (Hydra instantiates sweepers only from the `hydra_plugins` namespace)."""
