"""The data engine's demo: make a small BOP dataset and a robot recording, then show them.

    python -m offline_training.synthetic.demo --out out/demo

Writes ``OUT/dataset`` (BOP), ``OUT/recording`` (rosbag2), ``OUT/overview.png`` (frames of the
recording with their 2D detections, depth and ground-truth axes, plus dataset samples), and
prints what each contains. It also summarises the bundled demo bag when it is present.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BUNDLED_BAG = REPO / "data" / "demo" / "demo_bag"


def _draw_axes(rgb: np.ndarray, K: np.ndarray, T_cam_obj: np.ndarray, length: float) -> None:
    """Draw the object's x (red), y (green), z (blue) axes in place."""
    import cv2

    pts = np.array([[0, 0, 0], [length, 0, 0], [0, length, 0], [0, 0, length]], float)
    cam = pts @ T_cam_obj[:3, :3].T + T_cam_obj[:3, 3]
    if (cam[:, 2] <= 0.01).any():
        return
    uv = cam @ K.T
    uv = np.round(uv[:, :2] / uv[:, 2:]).astype(int)
    for axis, colour in zip(range(1, 4), [(255, 0, 0), (0, 200, 0), (0, 0, 255)], strict=True):
        cv2.line(rgb, tuple(uv[0]), tuple(uv[axis]), colour, 1, cv2.LINE_AA)


def recording_frames(bag: Path, every: int) -> list[list[np.ndarray]]:
    """Rows of (RGB + detections + GT axes, depth) panels for every ``every``-th frame."""
    from offline_training.ros_types import typestore
    from offline_training.synthetic.preview import depth_to_rgb, draw_boxes
    from offline_training.synthetic.recording import DEFAULT_TOPICS
    from ros_pose_estimation.core.conventions import depth_to_metres
    from ros_pose_estimation.tools.bag_reader import BagReader

    wanted = {
        DEFAULT_TOPICS[k]: k for k in ("rgb", "depth", "detections", "ground_truth", "camera_info")
    }
    frames: dict[int, dict] = {}
    with BagReader(bag, typestore=typestore()) as reader:
        for topic, stamp, msg in reader.messages(wanted, deserialize=True):
            frames.setdefault(stamp, {})[wanted[topic]] = msg
    rows = []
    for stamp in sorted(frames)[::every]:
        f = frames[stamp]
        img, dep = f["rgb"], f["depth"]
        rgb = img.data.reshape(img.height, img.width, 3)
        dtype = np.uint16 if dep.encoding == "16UC1" else np.float32
        depth = depth_to_metres(dep.data.view(dtype).reshape(dep.height, dep.width), dep.encoding)
        boxes, labels = [], []
        for d in f["detections"].detections:
            w, h = d.bbox.size_x, d.bbox.size_y
            boxes.append(
                (
                    d.bbox.center.position.x - (w - 1) / 2,
                    d.bbox.center.position.y - (h - 1) / 2,
                    w,
                    h,
                )
            )
            labels.append(d.results[0].hypothesis.class_id)
        panel = draw_boxes(rgb, boxes, labels)
        K = f["camera_info"].k.reshape(3, 3)
        for det in f["ground_truth"].detections:
            from scipy.spatial.transform import Rotation

            p, q = det.results[0].pose.pose.position, det.results[0].pose.pose.orientation
            T = np.eye(4)
            T[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
            T[:3, 3] = [p.x, p.y, p.z]
            _draw_axes(panel, K, T, 0.5 * max(det.bbox.size.x, det.bbox.size.z))
        rows.append([panel, depth_to_rgb(depth)])
    return rows


def main(argv: list[str] | None = None) -> int:
    import cv2

    from offline_training.synthetic.bop_reader import BopDataset
    from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
    from offline_training.synthetic.inspect_bag import summarize_bag
    from offline_training.synthetic.preview import contact_sheet, depth_to_rgb, mask_to_rgb
    from offline_training.synthetic.recording import RecordingConfig, write_recording

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="out/demo", help="output folder (replaced)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    print("== 1/3 BOP dataset: 2 categories x 4 instances, 24 images")
    cfg = DatasetConfig(
        categories=["mug", "laptop"], out=out / "dataset", instances=4, images=24, seed=args.seed
    )
    print(generate_dataset(cfg, progress=True))
    ds = BopDataset(out / "dataset", "train")
    samples = [ds[i] for i in range(0, len(ds), max(len(ds) // 4, 1))][:4]
    ds_rows = []
    for s in samples:
        inst = np.full(s.rgb.shape[:2], -1, np.int32)
        for i, obj in enumerate(s.objects):
            if obj.mask_visib is not None:
                inst[obj.mask_visib > 0] = i
        ds_rows.append([s.rgb, depth_to_rgb(s.depth), mask_to_rgb(inst)])

    print("\n== 2/3 rosbag2 recording: arm sweep around a mug, a bottle and a camera (3 s)")
    rec = RecordingConfig(
        categories=["mug", "bottle", "camera"], duration=3.0, seed=args.seed, storage="mcap"
    )
    summary = write_recording(rec, out / "recording", progress=True)
    print(summarize_bag(summary.path).format())

    print("\n== 3/3 bundled demo bag")
    if BUNDLED_BAG.exists():
        print(summarize_bag(BUNDLED_BAG).format())
    else:
        print(f"not found at {BUNDLED_BAG} (make it with scripts/make_demo_bag.sh)")

    rows = recording_frames(Path(summary.path), every=10)
    sheet_rec = contact_sheet([sum(rows, [])], ["recording: RGB + detections + GT axes | depth"])
    sheet_ds = contact_sheet(
        [sum(ds_rows[:2], []), sum(ds_rows[2:4], [])],
        ["BOP dataset: RGB | depth | visible masks"] * 2,
    )
    width = max(sheet_rec.shape[1], sheet_ds.shape[1])
    overview = np.concatenate(
        [
            np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=255)
            for im in (sheet_rec, sheet_ds)
        ]
    )
    cv2.imwrite(str(out / "overview.png"), overview[..., ::-1])
    print(f"\nwrote {out / 'overview.png'}; dataset in {out / 'dataset'}, bag in {summary.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
