"""Property-based tests of the settings schema: any value of any type, from YAML or Python, either builds
a valid config or raises ConfigError — never a TypeError/ValueError traceback, never a silently wrong value."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fpga_accel as fa
from fpga_accel.config import ConvertConfig, QuantizeConfig

ANY = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                st.text(max_size=12), st.lists(st.integers(0, 9), max_size=3),
                st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=2))
CONVERT_FIELDS = [f.name for f in dataclasses.fields(ConvertConfig) if f.name != "output_dir"]
QUANTIZE_FIELDS = [f.name for f in dataclasses.fields(QuantizeConfig)]


def _build(kind, values):
    try:
        return kind(**values)
    except fa.ConfigError:
        return None


def _check_convert(config: ConvertConfig) -> None:
    assert isinstance(config.name, str) and config.name.isidentifier()
    assert config.reuse_factor == "auto" or (isinstance(config.reuse_factor, int) and config.reuse_factor >= 1)
    assert 0 < config.margin <= 1 and config.resolved_clock_period > 0
    assert isinstance(config.verify_samples, int) and config.verify_samples >= 0
    assert isinstance(config.strict, bool) and isinstance(config.allow_inexact, bool)
    assert isinstance(config.precision, str)


@pytest.mark.parametrize("key", CONVERT_FIELDS)
@settings(max_examples=60, deadline=None)
@given(value=ANY)
def test_convert_settings_are_valid_or_a_config_error(key, value):
    """Each field gets its own examples: with several random fields at once nearly every example was
    refused for one of the others, and a field whose check was removed (margin 5 accepted) went unnoticed."""
    config = _build(ConvertConfig, {"name": "p", key: value})
    if config is not None:
        _check_convert(config)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(CONVERT_FIELDS), ANY, max_size=4))
def test_convert_settings_together_are_valid_or_a_config_error(values):
    config = _build(ConvertConfig, {"name": "p", **values})
    if config is not None:
        _check_convert(config)


def _check_quantize(config: QuantizeConfig) -> None:
    for key in ("weight_bits", "bias_bits", "activation_bits"):
        assert isinstance(getattr(config, key), int) and 2 <= getattr(config, key) <= 24
    assert isinstance(config.epochs, int) and config.epochs >= 0


@pytest.mark.parametrize("key", QUANTIZE_FIELDS)
@settings(max_examples=60, deadline=None)
@given(value=ANY)
def test_quantize_settings_are_valid_or_a_config_error(key, value):
    config = _build(QuantizeConfig, {key: value})
    if config is not None:
        _check_quantize(config)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(QUANTIZE_FIELDS), ANY, max_size=4))
def test_quantize_settings_together_are_valid_or_a_config_error(values):
    config = _build(QuantizeConfig, values)
    if config is not None:
        _check_quantize(config)


VALID_CONVERT = st.fixed_dictionaries({}, optional={
    "reuse_factor": st.one_of(st.just("auto"), st.integers(1, 1024)), "margin": st.floats(0.01, 1.0),
    "verify_samples": st.integers(0, 10**5), "strict": st.booleans(), "allow_inexact": st.booleans()})
VALID_QUANTIZE = st.fixed_dictionaries({}, optional={
    "weight_bits": st.integers(2, 24), "bias_bits": st.integers(2, 24), "activation_bits": st.integers(2, 24),
    "epochs": st.integers(0, 1000)})


@settings(max_examples=200, deadline=None)
@given(VALID_CONVERT)
def test_valid_convert_settings_are_accepted_as_given(values):
    """The other side of the properties above (which pass for a schema that rejects everything)."""
    config = ConvertConfig(name="p", **values)
    assert all(getattr(config, key) == value for key, value in values.items())


@settings(max_examples=200, deadline=None)
@given(VALID_QUANTIZE)
def test_valid_quantize_settings_are_accepted_as_given(values):
    config = QuantizeConfig(**values)
    assert all(getattr(config, key) == value for key, value in values.items())

