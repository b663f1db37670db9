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


def test_renamed_parameters_are_refused_with_their_new_names(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("/**/vos_tracker:\n  ros__parameters:\n    lifecycle.lost_after: 10\n")
    with pytest.raises(KeyError, match="parameter 'lifecycle.lost_after' was renamed to 'track.lost_after'"):
        TrackerConfig.load(path)
    with pytest.raises(KeyError, match="'lifecycle.max_objects' was renamed to 'track.max_objects'"):
        TrackerConfig.load(lifecycle__max_objects=3)
    assert TrackerConfig.load(track__lost_after=10).track.lost_after == 10


def test_device_auto_is_the_default_and_a_wrong_device_is_named():
    import torch

    from vos_ros.core.weights import resolve_device

    assert TrackerConfig.load().model.device == "auto"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="model.device must be auto, cpu or cuda"):
        TrackerConfig.load(model__device="gpu")

