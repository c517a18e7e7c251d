"""seqlab's Hydra sweeper plugin: the basic sweeper plus a failure summary."""
