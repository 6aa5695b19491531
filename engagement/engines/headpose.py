"""A coarse head pose (yaw, pitch in degrees) from BlazeFace's six keypoints and a generic head.

The head is modelled as the ear tragions 145 mm apart, with the nose tip 100 mm in front of the line
between them and 25 mm below it (adult averages). Roll is removed first (the eye line made level),
then the nose's offset from the tragions' midpoint, measured in head widths, gives the angles.
Good for telling a learner who faces the screen from one who has turned away or looks down; not a
gaze tracker (eyes can move without the head) and only within about 10 degrees.
"""
from __future__ import annotations

import math

import numpy as np

EAR_SPAN_MM = 145.0  # bitragion breadth
NOSE_FORWARD_MM = 100.0  # nose tip in front of the tragion line
NOSE_DROP_MM = 25.0  # nose tip below the tragion line, head level


def head_pose(keypoints) -> dict[str, float]:
    """Yaw (positive: the face turned toward the image's right) and pitch (positive: looking down).

    `keypoints` are BlazeFace's six (x, y) points in pixels: eyes, nose tip, mouth, tragions.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    left_eye, right_eye, nose, _mouth, left_ear, right_ear = points
    # Undo the roll so that "down" means down the face, not down the picture.
    roll = math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])
    rotate = np.array([[math.cos(-roll), -math.sin(-roll)], [math.sin(-roll), math.cos(-roll)]])
    left_ear, right_ear, nose = (rotate @ p for p in (left_ear, right_ear, nose))
    middle = (left_ear + right_ear) / 2
    span = max(abs(right_ear[0] - left_ear[0]), 1e-6)
    # Rotating the head by yaw moves the nose sideways by FORWARD*sin(yaw) and brings the ears to SPAN*cos(yaw).
    yaw = math.atan2((nose[0] - middle[0]) * EAR_SPAN_MM, span * NOSE_FORWARD_MM)
    mm_per_px = EAR_SPAN_MM * math.cos(yaw) / span
    drop = (nose[1] - middle[1]) * mm_per_px
    # Pitching by p moves the nose to DROP*cos(p) + FORWARD*sin(p) below the ear line.
    radius = math.hypot(NOSE_DROP_MM, NOSE_FORWARD_MM)
    pitch = math.asin(max(-1.0, min(1.0, drop / radius))) - math.atan2(NOSE_DROP_MM, NOSE_FORWARD_MM)
    return {"yaw": round(math.degrees(yaw), 1), "pitch": round(math.degrees(pitch), 1)}
