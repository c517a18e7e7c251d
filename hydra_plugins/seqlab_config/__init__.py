"""seqlab's typed config schema and resolvers, put in place whenever Hydra builds a config search path."""
