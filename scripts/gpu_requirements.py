"""Print what scripts/gpu_check.sh needs beyond CUDA torch and triton: the closure of seqlab's dependencies and
pytest's, at the versions installed here (run in a venv where both are installed; its output is
scripts/gpu_requirements.txt)."""

import importlib.metadata
import re

from packaging.requirements import Requirement

PROVIDED = {"torch", "triton"}  # on the GPU machine already
ROOTS = ("seqlab", "pytest")


def closure(name: str, found: dict[str, str]) -> None:
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in found or key in PROVIDED:
        return
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return
    found[key] = distribution.version
    for line in distribution.requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            closure(requirement.name, found)


if __name__ == "__main__":
    found: dict[str, str] = {}
    for root in ROOTS:
        closure(root, found)
    found.pop("seqlab", None)
    print("\n".join(f"{name}=={version}" for name, version in sorted(found.items())))
