"""Package metadata and the light-runtime rule (training-only deps stay out of the runtime).

(tqdm is not checked: torch itself imports it through torch.hub when it is installed.)
"""

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_declares_runtime_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "ros_pose_estimation"
    deps = {e.text for e in root.iter("exec_depend")}
    for key in (
        "rclpy",
        "sensor_msgs",
        "geometry_msgs",
        "vision_msgs",
        "visualization_msgs",
        "tf2_ros",
        "tf2_msgs",
        "message_filters",
        "diagnostic_msgs",
        "lifecycle_msgs",
        "python3-numpy",
        "python3-opencv",
        "python3-scipy",
        "python3-pytorch-pip",
    ):
        assert key in deps, key
    training = {e.text for e in root.iter("exec_depend") if e.get("condition")}
    assert training == {"python3-rosbags-pip", "python3-open3d-pip", "python3-tqdm"}
    assert root.find("export/build_type").text == "ament_python"


def test_setup_installs_ament_resources_and_scripts_dir():
    setup_cfg = (ROOT / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/ros_pose_estimation" in setup_cfg
    assert "script_dir=$base/lib/ros_pose_estimation" in setup_cfg
    setup_py = (ROOT / "setup.py").read_text()
    for piece in (
        "share/ament_index/resource_index/packages",
        "launch/*.launch.py",
        "config/*.yaml",
        "package.xml",
    ):
        assert piece in setup_py
    assert (ROOT / "resource" / "ros_pose_estimation").is_file()


def test_only_the_project_packages_and_no_global_train_command_are_installed():
    code = (
        "import setuptools, sys\n"
        "captured = {}\n"
        "setuptools.setup = lambda **kw: captured.update(kw)\n"
        "sys.argv = ['setup.py']\n"
        "exec(open('setup.py').read())\n"
        "print(sorted({p.split('.')[0] for p in captured['packages']}))\n"
        "print([s.split('=')[0].strip() for s in captured['entry_points']['console_scripts']])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out[0] == "['offline_training', 'ros_pose_estimation']"
    scripts = ast.literal_eval(out[1])
    assert "train" not in scripts and {"pose-train", "pose_estimation_node"} <= set(scripts)


def test_runtime_modules_do_not_import_training_dependencies():
    code = (
        "import sys\n"
        "import ros_pose_estimation.core.camera, ros_pose_estimation.core.metrics\n"
        "import ros_pose_estimation.shapes, ros_pose_estimation.render\n"
        "import ros_pose_estimation.nemo.checkpoint, ros_pose_estimation.models\n"
        "bad = [m for m in ('open3d', 'rosbags', 'diffusers', 'transformers', 'rclpy',\n"
        "                   'offline_training') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "", f"runtime import path pulled in: {out.stdout.strip()}"
