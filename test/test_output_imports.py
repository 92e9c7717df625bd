"""The node's building blocks import neither rclpy nor training dependencies (nor torch: the
conversions and the estimator contract in core are numpy only), and the output builders import
their message packages only when called."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_building_blocks_import_light():
    code = (
        "import sys\n"
        "import ros_pose_estimation.pipeline.tracking, ros_pose_estimation.node.stats\n"
        "import ros_pose_estimation.pipeline.pose_pipeline\n"
        "import ros_pose_estimation.pipeline.estimators\n"
        "import ros_pose_estimation.pipeline.world_fusion\n"
        "import ros_pose_estimation.node.time_sync\n"
        "import ros_pose_estimation.viz.overlay, ros_pose_estimation.viz.colors\n"
        "from ros_pose_estimation.conversions import detection3d, tf, markers\n"
        "from ros_pose_estimation.conversions import diagnostics, poses\n"
        "from ros_pose_estimation.conversions import camera_info, detections, image, masks\n"
        "import ros_pose_estimation.core.estimation, ros_pose_estimation.core.crops\n"
        "bad = [m for m in ('rclpy', 'open3d', 'rosbags', 'torch', 'offline_training',\n"
        "                   'vision_msgs', 'tf2_msgs', 'visualization_msgs', 'diagnostic_msgs',\n"
        "                   'geometry_msgs') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "", f"import pulled in: {out.stdout.strip()}"


def test_conversions_package_and_estimator_contract_do_not_import_torch():
    code = (
        "import sys\n"
        "import ros_pose_estimation.conversions as c, ros_pose_estimation.core.estimation\n"
        "for name in c.__all__: getattr(c, name)\n"  # the lazily imported outputs too
        "print(','.join(m for m in ('torch', 'rclpy', 'ros_pose_estimation.nemo',\n"
        "                           'ros_pose_estimation.cse') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "", f"import pulled in: {out.stdout.strip()}"
