"""Libraries declare ranges, applications pin: pyproject.toml against constraints.txt,
and what each set-up profile of scripts/bootstrap.sh installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.strip().partition("==")
        if version:
            pins[canonicalize_name(name)] = version
    return pins


def profile_extras(profile: str) -> list[str]:
    script = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    found = re.search(rf'^\s*{profile}\) extras="([^"]*)"', script, re.MULTILINE)
    assert found, f"scripts/bootstrap.sh has no {profile} profile"
    return found.group(1).split(",")


def test_the_library_declares_ranges_not_pins() -> None:
    for text in PROJECT["dependencies"]:
        requirement = Requirement(text)
        assert requirement.specifier, f"{text}: give a compatible range"
        assert all(s.operator != "==" for s in requirement.specifier), f"{text}: a pin"


def test_constraints_pin_every_requirement_inside_its_range() -> None:
    pins = constraints()
    declared = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        declared += extra
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pins[name]}, outside {text!r}"
        )


def test_torch_stays_pinned_exactly() -> None:
    zoo = [Requirement(t) for t in PROJECT["optional-dependencies"]["zoo"]]
    (torch,) = [r for r in zoo if r.name == "torch"]
    assert str(torch.specifier) == "==2.13.0"


def test_the_serve_profile_installs_only_serving_and_the_zoo_export() -> None:
    assert sorted(profile_extras("serve")) == ["grpc", "zoo"]
    every = set(PROJECT["optional-dependencies"])
    assert set(profile_extras("all")) == every
    serve = {
        canonicalize_name(Requirement(t).name)
        for extra in profile_extras("serve")
        for t in PROJECT["optional-dependencies"][extra]
    }
    assert not serve & {"ray", "pyspark", "pyarrow", "pytest", "mypy", "ruff", "pandas"}
