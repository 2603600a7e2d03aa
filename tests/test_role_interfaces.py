"""Each role's documented interface: defaults/main.yml and
meta/argument_specs.yml hold the same keys, with the same defaults."""

import pytest
import yaml
from conftest import ROLES, ROOT


def load(role, relative):
    return yaml.safe_load((ROOT / "roles" / role / relative).read_text()) or {}


def test_every_role_is_checked():
    assert {"git", "lab_network", "python", "uv"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_match_defaults(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)
    for name, spec in options.items():
        assert "description" in spec, f"{name} has no description"
        assert spec.get("default") == defaults[name], f"{name}: spec default differs"


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    for name in load(role, "defaults/main.yml"):
        assert name.startswith(f"{role}_"), name
