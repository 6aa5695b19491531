"""Tune face_padding: emotion accuracy on FER2013 faces seen as webcam frames, through the detector and the crop.

Each 48x48 face of a labelled folder (default ../shared/data/fer2013-dev) is enlarged to --face-px and set in
a 640x480 frame (edges replicated); the engine detects it and crops it with each padding, and the accuracy is
compared with the model on the original crop (detector 'skip'). Prints plain text; never asserts.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from _common import cpu_model, setup_django  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
ENGINE_PATH = "engagement.engines.bundled.BundledEngine"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fer", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013-dev")
    parser.add_argument("--face-px", type=int, default=144, help="width of the enlarged face in the frame")
    parser.add_argument("--paddings", default="0,0.05,0.1,0.15,0.2,0.25,0.3")
    parser.add_argument("--emotion-model", default=None, help="engine emotion_model option (default: the engine's)")
    parser.add_argument("--detector", default="blazeface")
    return parser.parse_args()


def main() -> None:
    """Detect each framed face once, then score every padding on the same boxes."""
    args = parse_args()
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs")
    setup_django()
    import cv2
    import numpy as np

    from engagement.engines import build_engine
    from engagement.engines.base import EMOTIONS

    options = {"age_gender": False, "threads": 1}
    if args.emotion_model:
        options["emotion_model"] = args.emotion_model
    engine = build_engine({"ENGINE": ENGINE_PATH, "OPTIONS": options})
    print(f"engine options: {engine.options}")
    faces, labels = [], []
    for label, name in enumerate(EMOTIONS):
        for path in sorted((args.fer / name).glob("*.jpg")):
            faces.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
            labels.append(label)
    labels = np.array(labels)
    reference = engine.emotions(np.stack([cv2.resize(f, (engine._emotion.input_size,) * 2,
                                                     interpolation=cv2.INTER_AREA) for f in faces])).argmax(1)
    print(f"{len(faces)} faces from {args.fer}; the model on the original crops: "
          f"{(reference == labels).mean():.1%}")
    boxes, grays = [], []
    for face in faces:
        big = cv2.resize(face, (args.face_px, args.face_px), interpolation=cv2.INTER_CUBIC)
        top, left = (480 - args.face_px) // 2, (640 - args.face_px) // 2
        gray = cv2.copyMakeBorder(big, top, 480 - args.face_px - top, left, 640 - args.face_px - left,
                                  cv2.BORDER_REPLICATE)
        found = engine.detect(gray, args.detector, cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))
        boxes.append(found[0] if found else None)
        grays.append(gray)
    detected = [i for i, box in enumerate(boxes) if box is not None]
    widths = [boxes[i].w for i in detected]
    print(f"detected {len(detected)}/{len(faces)} ({args.detector}); box width median {np.median(widths):.0f} px "
          f"for a {args.face_px} px FER crop")
    print(f"{'padding':>8}{'accuracy (detected)':>21}{'agrees with original crop':>27}")
    for padding in (float(p) for p in args.paddings.split(",")):
        engine.options["face_padding"] = padding
        chips = np.stack([engine._emotion_chip(grays[i], boxes[i], args.detector) for i in detected])
        predicted = engine.emotions(chips).argmax(1)
        print(f"{padding:>8.2f}{(predicted == labels[detected]).mean():>21.1%}"
              f"{(predicted == reference[detected]).mean():>27.1%}")


if __name__ == "__main__":
    main()
