"""``ros2 launch ros_pose_estimation pose.launch.py [arg:=value ...]``

Starts ``pose_estimation_node`` (a lifecycle node that configures and activates itself unless
``autostart:=false`` is set in the params file) with the parameters of ``params_file``, the
launch arguments below on top, and its inputs remapped to the camera's topics. ``mode`` and
``device`` override the params file only when given: ``params_file:=.../pose_rgbd.yaml`` alone
runs in that file's ``mode: rgbd``.

Arguments (``ros2 launch ros_pose_estimation pose.launch.py --show-args``):
    params_file        parameters YAML (default: the package's config/pose.yaml)
    mode               rgb | rgbd (default: the params file's)
    device             auto | cpu | cuda | cuda:N (default: the params file's)
    namespace          namespace of the node (outputs: <ns>/pose_estimation_node/...)
    image_topic        colour image (sensor_msgs/Image)
    camera_info_topic  its CameraInfo
    depth_topic        aligned depth (rgbd mode)
    detections_topic   vision_msgs/Detection2DArray from the detector
    mask_topic         instance-label mask image (params file: mask_input: true)
    use_sim_time       true when playing a bag with --clock
    log_level          debug | info | warn | error
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "ros_pose_estimation"

#: (name, default, description) of every launch argument.
ARGUMENTS = (
    ("params_file", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "pose.yaml"]),
     "parameters YAML of the node"),
    ("mode", "", "rgb (colour + detections) or rgbd (also aligned depth); empty: the "
     "params file's"),
    ("device", "", "torch device: auto, cpu, cuda, cuda:N; empty: the params file's"),
    ("namespace", "", "namespace of the node"),
    ("image_topic", "/camera/color/image_raw", "colour image topic"),
    ("camera_info_topic", "/camera/color/camera_info", "camera info of the colour image"),
    ("depth_topic", "/camera/aligned_depth/image_raw", "depth aligned to the colour image"),
    ("detections_topic", "/detections", "vision_msgs/Detection2DArray of the detector"),
    ("mask_topic", "/segmentation/instances", "instance-label mask (with mask_input: true)"),
    ("use_sim_time", "false", "use /clock (bag playback with --clock)"),
    ("log_level", "info", "logger level of the node"),
)


#: launch arguments that override the params file only when given (not empty)
OPTIONAL_OVERRIDES = ("mode", "device")


def _node(context) -> list:
    """The node, its parameters the params file's with ``use_sim_time`` and the
    :data:`OPTIONAL_OVERRIDES` that were given on top (``context``: the launch context)."""
    overrides = {"use_sim_time": LaunchConfiguration("use_sim_time")}
    for name in OPTIONAL_OVERRIDES:
        value = context.launch_configurations.get(name, "")
        if value:
            overrides[name] = value
    return [Node(
        package=PACKAGE,
        executable="pose_estimation_node",
        name="pose_estimation_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=[
            ("image", LaunchConfiguration("image_topic")),
            ("image/compressed", [LaunchConfiguration("image_topic"), "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info_topic")),
            ("depth", LaunchConfiguration("depth_topic")),
            ("detections", LaunchConfiguration("detections_topic")),
            ("mask", LaunchConfiguration("mask_topic")),
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )]  # fmt: skip


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text)
            for name, default, text in ARGUMENTS]  # fmt: skip
    return LaunchDescription([*args, OpaqueFunction(function=_node)])
