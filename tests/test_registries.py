"""Each registry (matchers, selectors, priority rules, forms, scopes, presets, metrics) is the one source of its
names: the scenario schema's choices, the report's words and the docs follow it, so adding an
entry is one table line beside its implementation (plus its test and docs), never a second list
to keep in step by hand."""

from __future__ import annotations

import typing

import pytest
from conftest import REPO

from sim.config.scenario import Program, World, load_scenario
from sim.metrics import REGISTRY
from sim.policies.matching import MATCHERS, SCOPES
from sim.policies.priority import PRIORITY_RULES
from sim.policies.rotation import FORMS
from sim.policies.selection import SELECTORS
from sim.present.html_report import describe_program, describe_world
from sim.world.presets import PRESETS

ODD = (REPO / "docs" / "ODD.md").read_text(encoding="utf-8")
REFERENCE = (REPO / "docs" / "scenario_reference.md").read_text(encoding="utf-8")


def choices(model, field: str) -> tuple:
    annotation = model.model_fields[field].annotation
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    return typing.get_args(annotation)


def test_the_schema_offers_exactly_the_registered_names():
    assert choices(Program, "matching") == tuple(MATCHERS)
    assert choices(Program, "selection") == tuple(SELECTORS)
    assert choices(Program, "priority") == tuple(PRIORITY_RULES)
    assert choices(Program, "form") == tuple(FORMS)
    assert choices(Program, "scope") == tuple(SCOPES)
    assert choices(World, "preset") == (*PRESETS, "roster")


def program(**changes) -> dict:
    p = load_scenario(REPO / "scenarios" / "dongcheng_2021.yaml").model_dump(mode="json")["policy"]["programs"][0]
    return p | changes


@pytest.mark.parametrize("name", list(MATCHERS))
def test_every_matcher_has_report_words_and_docs(name):
    words = MATCHERS[name].words
    assert words and words in describe_program(program(matching=name))
    assert f"`{name}`" in ODD and f"`{name}`" in REFERENCE


@pytest.mark.parametrize("name", list(SELECTORS))
def test_every_selector_has_report_words(name):
    text = describe_program(program(selection=name, gaming=0.5))
    assert SELECTORS[name].words and SELECTORS[name].words.format(gaming=0.5) in text
    assert f"`{name}`" in REFERENCE


@pytest.mark.parametrize("name", list(PRIORITY_RULES))
def test_every_priority_rule_is_in_the_report_and_the_docs(name):
    assert name.replace("_", " ") in describe_program(program(priority=[name]))
    assert f"`{name}`" in REFERENCE


@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_has_its_report_words(name):
    words = FORMS[name].words
    assert words and words.format(share="40%") in describe_program(program(form=name, part_time_share=0.4))
    assert f"`{name}`" in REFERENCE


@pytest.mark.parametrize("name", list(SCOPES))
def test_every_scope_has_its_report_words(name):
    words = SCOPES[name].words
    assert words and f", {words}" in describe_program(program(scope=name))
    assert f"`{name}`" in REFERENCE


def test_form_and_scope_words_differ():
    assert len({f.words for f in FORMS.values()}) == len(FORMS)
    assert len({s.words for s in SCOPES.values()}) == len(SCOPES)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_has_its_own_words(name):
    world = World(preset=name, scale=0.1).model_dump(mode="json")
    assert PRESETS[name].words and PRESETS[name].words in describe_world(world)
    assert f"`{name}`" in REFERENCE


def test_preset_words_differ():
    assert len({p.words for p in PRESETS.values()}) == len(PRESETS)


def test_every_metric_is_documented():
    metrics = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    for m in REGISTRY.values():
        assert f"`{m.family}`" in metrics, m.name
