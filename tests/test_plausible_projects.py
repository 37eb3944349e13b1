"""Limits of a plausible project in the vocabulary (issue 11, item 12): defaults for a
vocabulary that sets none, and a broken limit named at start."""

from __future__ import annotations

import pytest

from zugabe.domain.vocabulary import Limits, Vocabulary
from zugabe.errors import ConfigError

# A minimal vocabulary of another region: one town, one department, two measure types.
TOWN_VOCABULARY = """
[measure_types]
road_renewal = { de = "Fahrbahnerneuerung", en = "Road renewal" }
stream_restoration = { de = "Gewässerumbau", en = "Stream restoration" }

[departments.roads]
de = "Straßenbau"
en = "Roads"
measure_types = ["road_renewal", "stream_restoration"]

[organisations.herne]
de = "Stadt Herne"
en = "City of Herne"
kind = "city"
departments = ["roads"]
"""


def test_a_vocabulary_without_limits_gets_the_defaults() -> None:
    vocabulary = Vocabulary.from_toml(TOWN_VOCABULARY, source="town")
    assert vocabulary.limits == Limits(
        max_area_m2=10_000_000, max_length_m=20_000, max_cost_eur=1e10
    )
    assert vocabulary.limits_of("road_renewal") == vocabulary.limits
    assert vocabulary.limits_of("unknown") == vocabulary.limits


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[limits]\nmax_area_m2 = -5\n", "limits.max_area_m2 must be a positive number, got -5"),
        ("[limits]\nmax_length_m = 0\n", "limits.max_length_m must be a positive number, got 0"),
        (
            '[limits]\nmax_cost_eur = "viel"\n',
            "limits.max_cost_eur must be a positive number, got 'viel'",
        ),
        (
            "[limits]\nmax_cost_eur = inf\n",
            "limits.max_cost_eur must be a positive number, got inf",
        ),
        (
            "[limits]\nmax_area_m2 = true\n",
            "limits.max_area_m2 must be a positive number, got True",
        ),
        (
            "[limits]\nmax_area_km2 = 5\n",
            "limits: unknown key 'max_area_km2'; allowed: max_area_m2, max_length_m, max_cost_eur",
        ),
        ("limits = 5\n", "limits must be a table"),
    ],
)
def test_broken_limits_are_named(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Vocabulary.from_toml(toml + TOWN_VOCABULARY, source="town.toml")
    assert caught.value.detail == f"town.toml: {message}"


def test_broken_limits_of_a_measure_type_are_named() -> None:
    broken = TOWN_VOCABULARY.replace(
        'en = "Road renewal" }', 'en = "Road renewal", max_length_m = -1, max_lenght_m = 5 }'
    )
    with pytest.raises(ConfigError) as caught:
        Vocabulary.from_toml(broken, source="town.toml")
    assert caught.value.detail == (
        "town.toml: measure_types.road_renewal: unknown key 'max_lenght_m'; allowed: de, en, "
        "max_area_m2, max_length_m, max_cost_eur; "
        "measure_types.road_renewal.max_length_m must be a positive number, got -1"
    )
