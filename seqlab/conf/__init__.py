"""seqlab's Hydra configs, shipped in the package (Hydra reads them as pkg://seqlab.conf when installed)."""
