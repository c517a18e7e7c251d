"""Packed runs on SLURM: hydra-submitit-launcher's SLURM launcher with one pack per array task.

`hydra/launcher=slurm_packed` (seqlab/conf/hydra/launcher/slurm_packed.yaml). The sweep's runs are grouped into
packs as by the local packed launcher (`seqlab.packs`), and each pack becomes one task of the job array, which
trains it with `packed.train_pack`. The submitit machinery is the base launcher's: each task's callable is this
launcher with its pack, so a requeued task (time limit, preemption) trains its pack again, every run resuming
from its own checkpoint and every completed run skipped. (The module's name says `submitit` and the class's
`Slurm`, which is how `seqlab.threads` knows that runs here get SLURM's CPUs per task.)
"""

# no `from __future__ import annotations`: Hydra's plugin scan imports this module in a way that dataclasses with
# string annotations do not support

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, setup_globals
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import open_dict

from hydra_plugins.seqlab_launcher.packed import check_settings, pack_key, train_pack
from seqlab.packs import packs
from seqlab.schema import PackSettings

SEPARATOR = "--"  # between the members' overrides in a task's override list (never a valid override)


class PackedSlurmLauncher(SlurmLauncher):
    """One job array; one pack (at most `max_runs` runs, `stacked` as in the local packed launcher) per task."""

    def __init__(self, max_runs: int = 32, stacked: str | bool = "auto", graph: bool = False, **params: Any) -> None:
        check_settings(max_runs, stacked, graph)
        super().__init__(**params)
        self.max_runs, self.stacked, self.graph = max_runs, stacked, graph

    def __call__(self, sweep_overrides: list[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: dict[type, Singleton]) -> list[JobReturn]:  # fmt: skip
        """Inside the array task: train the pack whose members' overrides `sweep_overrides` holds."""
        import submitit  # noqa: PLC0415

        Singleton.set_state(singleton_state)
        setup_globals()
        configs = []
        for member in split(sweep_overrides):
            config = self.hydra_context.config_loader.load_sweep_config(self.config, member)
            with open_dict(config.hydra.job):
                config.hydra.job.id = submitit.JobEnvironment().job_id
            configs.append(config)
        return train_pack(self.hydra_context, self.task_function, configs, self.stacked, self.graph)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        configs = [self.hydra_context.config_loader.load_sweep_config(self.config, list(o)) for o in job_overrides]
        grouped = packs([pack_key(c) for c in configs], self.max_runs)
        tasks = [joined([[*job_overrides[i], f"hydra.job.num={initial_job_idx + i}"] for i in m]) for m in grouped]
        returns: list[JobReturn] = [JobReturn()] * len(job_overrides)
        for members, returned in zip(grouped, super().launch(tasks, initial_job_idx), strict=True):
            for i, job_return in zip(members, returned, strict=True):
                returns[i] = job_return
        return returns


def joined(members: list[list[str]]) -> list[str]:
    """The members' override lists as one list, SEPARATOR between them."""
    return [override for i, member in enumerate(members) for override in ([SEPARATOR] if i else []) + member]


def split(overrides: list[str]) -> list[list[str]]:
    """The members' override lists back from `joined`."""
    members: list[list[str]] = [[]]
    for override in overrides:
        if override == SEPARATOR:
            members.append([])
        else:
            members[-1].append(override)
    return members


@dataclass
class PackedSlurmQueueConf(SlurmQueueConf, PackSettings):
    """hydra-submitit-launcher's SLURM settings and the pack's (seqlab.schema.PackSettings)."""

    _target_: str = "hydra_plugins.seqlab_launcher.submitit_packed.PackedSlurmLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="submitit_slurm_packed", node=PackedSlurmQueueConf,
                             provider="seqlab")  # fmt: skip
