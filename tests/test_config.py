"""Tracker parameter files: the defaults plus whatever a file sets, unknown names refused."""
import pytest

from vos_ros.core.config import TrackerConfig


def test_a_parameter_file_may_set_just_some_parameters(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("/**/vos_tracker:\n  ros__parameters:\n    model.input_short_side: 360\n")
    config = TrackerConfig.load(path)
    assert config.model.input_short_side == 360
    assert config.memory == TrackerConfig.load().memory          # the rest are the defaults


def test_unknown_parameters_are_named_in_the_error(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("/**/vos_tracker:\n  ros__parameters:\n    model.input_shortside: 360\n")
    with pytest.raises(KeyError, match="model.input_shortside"):
        TrackerConfig.load(path)
    with pytest.raises(KeyError, match="memory.topk"):
        TrackerConfig.load(memory__topk=3)
