"""Hydra's own launcher test suites (`hydra.test_utils.launcher_common_tests`, as Hydra's joblib and submitit
plugins use them) on seqlab's presets that launch any Hydra app: `local_parallel` here, the SLURM presets in
test_slurm.py. seqlab's own launcher (`packed`) and sweepers train seqlab runs only; the suites' contract checks
run on seqlab's app in test_hydra_contract.py."""

import os

import pytest
from conftest import cluster_is_up
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

SEQLAB_CONF = "hydra.searchpath=[pkg://seqlab.conf]"  # seqlab's presets, for apps that are not seqlab's

pytestmark = pytest.mark.slow
ON_SLURM = [SEQLAB_CONF, "hydra.launcher.timeout_min=5"]
SLURM = pytest.mark.slurm
if not (os.environ.get("SEQLAB_REQUIRE_SLURM") or cluster_is_up()):  # required: test_slurm.py says it is missing
    SLURM = [SLURM, pytest.mark.skip(reason="no SLURM cluster (start one with scripts/slurm/start_local_cluster.sh)")]


@pytest.mark.parametrize(("launcher_name", "overrides"), [("local_parallel", [SEQLAB_CONF, "hydra.launcher.n_jobs=2"])])
class TestLocalParallelLauncher(LauncherTestSuite):
    """Hydra's launcher suite on seqlab's local_parallel preset."""


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [({}, ["-m", "hydra/launcher=local_parallel", SEQLAB_CONF, "hydra.launcher.n_jobs=2"])],
)
class TestLocalParallelLauncherIntegration(IntegrationTestSuite):
    """Hydra's integration suite on seqlab's local_parallel preset."""


@pytest.mark.parametrize(("launcher_name", "overrides"), [pytest.param("slurm", ON_SLURM, marks=SLURM)])
class TestSlurmLauncher(LauncherTestSuite):
    """Hydra's launcher suite on seqlab's slurm preset, against the real local cluster."""


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [pytest.param({}, ["-m", "hydra/launcher=slurm", *ON_SLURM], marks=SLURM)],
)
class TestSlurmLauncherIntegration(IntegrationTestSuite):
    """Hydra's integration suite on seqlab's slurm preset, against the real local cluster."""
