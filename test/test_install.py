"""`pip install .` (pyproject.toml): the wheel holds the ROS-free library, config, profiles, weights and the
vos-ros command; installed, it finds its files and imports without ROS; the ROS build stays CMake."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the tree (tracked and untracked, not ignored files), as a clean clone
    with today's changes would build it; built by pip with this environment's setuptools."""
    pytest.importorskip("setuptools", reason="no build backend in this environment")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in listed.stdout.splitlines():
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(src)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    (path,) = dist.glob("vos_ros-*.whl")
    return path


def test_the_wheel_holds_config_profiles_weights_and_the_command(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = z.read(f"{info}/entry_points.txt").decode()
        metadata = z.read(f"{info}/METADATA").decode()
        for source in [*(REPO / "config").rglob("*.yaml"), REPO / "models" / "vos_lite0.pt",
                       REPO / "models" / "MODEL_CARD.md", REPO / "models" / "grounding_scores.json"]:
            packed = f"vos_ros/_share/{source.relative_to(REPO)}"
            assert packed in names and z.read(packed) == source.read_bytes(), packed
    assert "vos_ros/_share/config/profiles/jetson_orin.yaml" in names
    assert "vos-ros = vos_ros.tools.cli:main" in entry_points
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "torch>=2.4" in requires and not any(r.startswith("torch=") for r in requires)   # a torch there stays
    assert not any(n.startswith(("vos_ros/nodes/", "test/", "launch/")) for n in names)   # the ROS side stays out
    assert {"vos_ros/core/session.py", "vos_ros/tools/cli.py", "vos_ros/prompts/ground.py"} <= names


def test_installed_it_finds_its_files_and_imports_without_ros(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)   # what pip puts in site-packages
    # ROS modules made unimportable: the library and the CLI must not need them.
    probe = """
import sys
for name in ("rclpy", "sensor_msgs", "std_msgs", "builtin_interfaces", "rosidl_runtime_py", "ament_index_python"):
    sys.modules[name] = None
import vos_ros.core.session, vos_ros.tools.cli, vos_ros.tools.track, vos_ros.tools.bench_speed
from vos_ros.core import config
from vos_ros.core.weights import DEFAULT_CHECKPOINT
assert config.SHARE_DIR == config.WHEEL_SHARE_DIR and str(config.SHARE_DIR).startswith(sys.argv[1]), config.SHARE_DIR
assert DEFAULT_CHECKPOINT.is_file() and str(DEFAULT_CHECKPOINT).startswith(sys.argv[1])
for name in config.profile_names():
    config.TrackerConfig.load(profile=name)
print(sorted(config.profile_names()))
"""
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe, str(site)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'cpu', 'desktop_gpu', 'jetson_orin'" in done.stdout


def test_the_ros_build_stays_cmake():
    """colcon picks the build type from package.xml (colcon-ros identifies it before any Python one)."""
    package = pytest.importorskip("catkin_pkg.package")
    assert package.parse_package(str(REPO)).get_build_type() == "ament_cmake"


def test_the_gpu_bench_script_dry_run_prints_its_commands(tmp_path: Path):
    out = tmp_path / "bench"
    env = {**os.environ, "OUT_DIR": str(out), "PIP_ARGS": "--no-index --find-links wheels"}
    done = subprocess.run(["bash", str(REPO / "scripts" / "bench_gpu.sh"), "--dry-run", "--sizes", "480x854"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"+ python3 -m venv --system-site-packages {out}/venv" in lines
    assert f"+ {out}/venv/bin/python -m pip install --no-index --find-links wheels {REPO}" in lines
    bench = f"+ {out}/venv/bin/vos-ros bench speed --device cuda --json {out}/bench_gpu.json --sizes 480x854"
    assert lines[-1] == bench
    assert not out.exists()   # a dry run makes nothing
