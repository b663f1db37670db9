"""Machine profiles (config/profiles): partial tracker parameter files chosen by name."""
import pytest
import yaml

from vos_ros.core.config import (
    PROFILES_DIR,
    TRACKER_CONFIG,
    TrackerConfig,
    load_params,
    profile_names,
    profile_path,
)
from vos_ros.tools.cli import main


def test_the_profiles_ship():
    assert {"cpu", "desktop_gpu", "jetson_orin"} <= set(profile_names())


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_loads_validates_and_sets_only_what_it_changes(name):
    path = profile_path(name)
    assert path == PROFILES_DIR / f"{name}.yaml"
    assert list(yaml.safe_load(path.read_text())) == ["/**/vos_tracker"]   # the node's parameter-file layout
    given, defaults = load_params(path), load_params(TRACKER_CONFIG)
    assert given and all(defaults[key] != value for key, value in given.items()), given
    config = TrackerConfig.load(profile=name)                           # validated by the loader
    for key, value in given.items():
        group, field = key.split(".")
        assert getattr(getattr(config, group), field) == value


def test_gpu_profiles_ask_for_cuda_and_the_cpu_one_for_a_smaller_input():
    assert TrackerConfig.load(profile="jetson_orin").model.device == "cuda"
    assert TrackerConfig.load(profile="desktop_gpu").model.precision == "bf16"
    cpu = TrackerConfig.load(profile="cpu").model
    assert cpu.device == "cpu" and cpu.input_short_side < TrackerConfig.load().model.input_short_side


def test_a_parameter_file_overrides_the_profile(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("/**/vos_tracker:\n  ros__parameters:\n    model.input_short_side: 320\n")
    config = TrackerConfig.load(path, profile="cpu")
    assert config.model.input_short_side == 320 and config.model.device == "cpu"


def test_an_unknown_profile_is_refused_with_the_known_names(capsys):
    with pytest.raises(ValueError, match="unknown profile 'orin'; known: cpu, desktop_gpu, jetson_orin"):
        profile_path("orin")
    with pytest.raises(ValueError, match="unknown profile 'orin'"):
        TrackerConfig.load(profile="orin")
    for command in (["track", "clip.mp4", "--box", "1,2,3,4", "--out", "o.mp4"], ["bench", "speed"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--profile", "orin"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--profile: invalid choice: 'orin'" in err and "'jetson_orin'" in err, err
