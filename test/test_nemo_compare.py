"""benchmarks.nemo_compare's run syntax: NAME=CHECKPOINT[:PRESET], PRESET optionally -raw
and / or -fixprop."""

import argparse

import pytest

from benchmarks.nemo_compare import parse_run, preset_config


def test_run_names_checkpoint_and_preset():
    assert parse_run("a=x.pt") == ("a", "x.pt", "default")
    assert parse_run("a=x.pt:reference") == ("a", "x.pt", "reference")
    assert parse_run("a=C:/m/x.pt") == ("a", "C:/m/x.pt", "default")  # not a preset: the path
    assert parse_run("a=x.pt:default-raw") == ("a", "x.pt", "default-raw")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_run("x.pt")


def test_raw_presets_switch_the_view_correction_off():
    assert preset_config("default").view_correction is True
    raw = preset_config("reference-raw")
    assert raw.view_correction is False
    assert raw.replace(view_correction=True) == preset_config("reference")


def test_fixprop_presets_keep_the_category_proportions_and_combine_with_raw():
    assert parse_run("a=x.pt:default-raw-fixprop") == ("a", "x.pt", "default-raw-fixprop")
    assert preset_config("default").refine_proportions is True
    both = preset_config("default-fixprop-raw")
    assert both.refine_proportions is False and both.view_correction is False
    assert both == preset_config("default-raw-fixprop")
    assert both.replace(refine_proportions=True, view_correction=True) == preset_config("default")


def test_prior_presets_set_the_proportion_prior():
    assert parse_run("a=x.pt:default-prior0.05") == ("a", "x.pt", "default-prior0.05")
    assert preset_config("default").proportion_prior == 0.0
    prior = preset_config("default-prior0.05-raw")
    assert prior.proportion_prior == 0.05 and prior.view_correction is False
    assert preset_config("default-raw-prior2") == prior.replace(proportion_prior=2.0)
    assert parse_run("a=x.pt:default-priorx") == ("a", "x.pt:default-priorx", "default")


def test_gravity_and_nostand_suffixes():
    from benchmarks.nemo_compare import wants_gravity

    assert not wants_gravity("default") and not wants_gravity("default-raw")
    for preset in ("default-gravity", "default-raw-gravity", "default-gravity-raw",
                   "default-prior0.05-gravity"):  # fmt: skip
        assert wants_gravity(preset), preset
    assert preset_config("default-gravity") == preset_config("default")  # no config change
    nostand = preset_config("default-nostand-gravity")
    assert nostand.stand_upright is False
    assert nostand.replace(stand_upright=True) == preset_config("default")
    assert parse_run("a=x.pt:default-nostand-gravity") == ("a", "x.pt", "default-nostand-gravity")
