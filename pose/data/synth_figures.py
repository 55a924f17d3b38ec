"""Articulated human-like figures for the synthetic dataset.

A figure is a 3-D kinematic skeleton with plausible proportions and a random pose, projected
orthographically and drawn as tapered capsules (limbs), a convex torso polygon and an elliptic head
with face marks. Left limbs are warm-coloured and right limbs cool-coloured, and the face and a
chest emblem show the facing direction: without these cues a network cannot tell left from right
and flip-test evaluation breaks.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

from pose.data.keypoints import NUM_JOINTS

# Part ids: a figure's parts are labelled `label_base + part id` in the label map.
TORSO, HEAD, L_UARM, L_LARM, R_UARM, R_LARM, L_ULEG, L_LLEG, R_ULEG, R_LLEG = range(10)
NUM_PARTS = 10

# Parts that contain each COCO keypoint: covering by them is not occlusion.
_INCIDENT: tuple[frozenset[int], ...] = (
    *(frozenset({HEAD}),) * 5,
    frozenset({TORSO, L_UARM}), frozenset({TORSO, R_UARM}),
    frozenset({L_UARM, L_LARM}), frozenset({R_UARM, R_LARM}),
    frozenset({L_LARM}), frozenset({R_LARM}),
    frozenset({TORSO, L_ULEG}), frozenset({TORSO, R_ULEG}),
    frozenset({L_ULEG, L_LLEG}), frozenset({R_ULEG, R_LLEG}),
    frozenset({L_LLEG}), frozenset({R_LLEG}),
)
_SHOULDERS_HIPS = (5, 6, 11, 12)

# Face points turned further than this from the camera are not labelled at all (v=0).
FACE_UNLABELLED = -0.5

SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << SHIFT

Colour = tuple[float, float, float]  # BGR, 0..255


# ----------------------------------------------------------------------------- primitives


def _fixed(points: np.ndarray) -> np.ndarray:
    """Fixed-point int32 coordinates for cv2 drawing with `SHIFT` fractional bits."""
    return np.round(np.asarray(points, dtype=np.float64) * _ONE).astype(np.int32)


def _point(p: np.ndarray) -> tuple[int, int]:
    q = _fixed(p)
    return int(q[0]), int(q[1])


def _circle(canvas: np.ndarray, centre: np.ndarray, radius: float, colour, line: int) -> None:
    cv2.circle(canvas, _point(centre), max(1, round(radius * _ONE)), colour, -1, line, SHIFT)


@dataclass(frozen=True)
class Capsule:
    """A limb: two discs of radii ra, rb joined by their common band (a tapered stick)."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float

    def draw(self, canvas, colour, grow: float, offset: np.ndarray, line: int) -> None:
        a, b = self.a + offset, self.b + offset
        ra, rb = self.ra + grow, self.rb + grow
        d = b - a
        n = float(math.hypot(d[0], d[1]))
        if n > 1e-3:
            perp = np.array([-d[1], d[0]]) / n
            quad = np.stack([a + perp * ra, b + perp * rb, b - perp * rb, a - perp * ra])
            cv2.fillConvexPoly(canvas, _fixed(quad), colour, line, SHIFT)
        _circle(canvas, a, ra, colour, line)
        _circle(canvas, b, rb, colour, line)


@dataclass(frozen=True)
class Polygon:
    """A convex polygon (the torso)."""

    points: np.ndarray

    def draw(self, canvas, colour, grow: float, offset: np.ndarray, line: int) -> None:
        pts = _fixed(self.points + offset)
        cv2.fillConvexPoly(canvas, pts, colour, line, SHIFT)
        if grow > 0:
            cv2.polylines(canvas, [pts], True, colour, max(1, round(2 * grow)), line, SHIFT)


@dataclass(frozen=True)
class Ellipse:
    """A filled ellipse: head, hair, ears and face marks."""

    centre: np.ndarray
    axes: tuple[float, float]
    angle: float  # degrees, cv2 convention

    def draw(self, canvas, colour, grow: float, offset: np.ndarray, line: int) -> None:
        axes = tuple(max(1, round((a + grow) * _ONE)) for a in self.axes)
        cv2.ellipse(canvas, _point(self.centre + offset), axes, self.angle, 0, 360, colour, -1,
                    line, SHIFT)


Shape = Capsule | Polygon | Ellipse


@dataclass(frozen=True)
class Stroke:
    shape: Shape
    colour: Colour
    outline: bool = True


@dataclass(frozen=True)
class Part:
    """One labelled body part, drawn as a whole at one depth (larger depth = nearer)."""

    part_id: int
    depth: float
    strokes: tuple[Stroke, ...]


@dataclass(frozen=True)
class Figure:
    """A posed figure in pixels, relative to its pelvis (add an offset to place it)."""

    keypoints: np.ndarray  # (17, 2) image-plane joint positions
    depth: np.ndarray  # (17,) towards the camera
    facing: np.ndarray  # (17,) >0 on the camera side of the head; 1 for body joints
    torso_incident: np.ndarray  # (17,) bool: the torso may cover this joint without hiding it
    parts: tuple[Part, ...]  # sorted far to near
    part_depth: np.ndarray  # (NUM_PARTS,)
    extent: tuple[float, float, float, float]  # x0, y0, x1, y1
    height: float
    outline: float


# ----------------------------------------------------------------------------- geometry


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / float(np.linalg.norm(v))


def _bend(d: np.ndarray, target: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit vector `d` by `angle` towards `target` (a joint flexing in that direction)."""
    p = target - float(target @ d) * d
    n = float(np.linalg.norm(p))
    if n < 1e-6:
        p = np.cross(d, np.array([1.0, 0.0, 0.0]))
        n = float(np.linalg.norm(p))
    return math.cos(angle) * d + math.sin(angle) * (p / n)


def _limb(abduction: float, flexion: float, side: int) -> np.ndarray:
    """Direction of a limb hanging down, swung sideways by `abduction` and forwards by `flexion`
    (person frame: +x the person's left, +y up, +z forwards)."""
    return np.array([
        side * math.sin(abduction),
        -math.cos(abduction) * math.cos(flexion),
        math.cos(abduction) * math.sin(flexion),
    ])


@dataclass(frozen=True)
class _Proportions:
    """Segment lengths and radii in units of standing height."""

    torso: float
    neck: float
    head_rx: float
    head_ry: float
    shoulder: float
    hip: float
    upper_arm: float
    lower_arm: float
    hand: float
    upper_leg: float
    lower_leg: float
    foot: float
    girth: float  # multiplies every limb radius


def _sample_proportions(rng: np.random.Generator) -> _Proportions:
    j = rng.uniform(0.93, 1.07, size=8)
    return _Proportions(
        torso=0.30 * j[0], neck=0.045, head_rx=0.052 * j[1], head_ry=0.066 * j[1],
        shoulder=rng.uniform(0.21, 0.26), hip=rng.uniform(0.12, 0.15),
        upper_arm=0.18 * j[2], lower_arm=0.155 * j[3], hand=0.06 * j[4],
        upper_leg=0.245 * j[5], lower_leg=0.245 * j[6], foot=0.12 * j[7],
        girth=rng.uniform(0.85, 1.25),
    )


@dataclass(frozen=True)
class _Pose:
    yaw: float  # body rotation about the vertical axis; 0 faces the camera
    roll: float  # in-plane rotation of the whole figure
    lean: float  # torso bends forwards
    side_lean: float
    head: np.ndarray  # head rotation relative to the body
    arms: dict[int, tuple[np.ndarray, np.ndarray]]  # side -> (upper, lower) directions
    legs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # side -> (upper, lower, foot)


def _sample_yaw(rng: np.random.Generator, side_prob: float, back_prob: float) -> float:
    u = rng.random()
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if u < back_prob:
        return math.radians(rng.uniform(130, 230))
    if u < back_prob + side_prob:
        return sign * math.radians(rng.uniform(55, 110))
    return math.radians(rng.uniform(-50, 50))


def _sample_arm(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
    raised = rng.random() < 0.15
    abduction = math.radians(rng.uniform(100, 170) if raised else rng.uniform(3, 75))
    upper = _limb(abduction, math.radians(rng.uniform(-35, 95)), side)
    target = np.array([-side * 0.3 + rng.normal(0, 0.4), rng.normal(0.3, 0.4), 1.0])
    lower = _bend(upper, target, math.radians(135 * rng.random() ** 1.3))
    return upper, lower


def _leg_angles(rng: np.random.Generator, mode: str, stride: float) -> tuple[float, float, float]:
    """(flexion, abduction, knee bend) in degrees for one leg under a whole-body leg mode."""
    if mode == "stand":
        return rng.uniform(-10, 15), rng.uniform(-3, 14), rng.uniform(0, 15)
    if mode == "walk":
        knee = rng.uniform(10, 60) if stride < 0 else rng.uniform(0, 25)
        return stride, rng.uniform(-2, 8), knee
    if mode == "squat":
        return rng.uniform(50, 100), rng.uniform(5, 30), rng.uniform(70, 130)
    return rng.uniform(-30, 100), rng.uniform(-5, 40), rng.uniform(0, 120)


def _sample_legs(rng: np.random.Generator) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    mode = str(rng.choice(["stand", "walk", "squat", "free"], p=[0.45, 0.3, 0.12, 0.13]))
    swing = rng.uniform(12, 35) * (1 if rng.random() < 0.5 else -1)
    strides = {1: swing, -1: -swing * rng.uniform(0.6, 1.0)}
    legs = {}
    for side in (1, -1):
        flex, abd, knee = _leg_angles(rng, mode, strides[side])
        upper = _limb(math.radians(abd), math.radians(flex), side)
        lower = _bend(upper, np.array([0.0, 0.0, -1.0]), math.radians(knee))
        out = math.radians(side * rng.uniform(0, 20))
        foot = np.array([math.sin(out), 0.0, math.cos(out)])
        if abs(float(foot @ lower)) < 0.95:  # keep the foot at a right angle to the shin
            foot = _unit(foot - float(foot @ lower) * lower)
        legs[side] = (upper, lower, foot)
    return legs


def _sample_pose(rng: np.random.Generator, side_prob: float, back_prob: float) -> _Pose:
    head = _rot_y(math.radians(rng.uniform(-35, 35))) @ _rot_x(math.radians(rng.uniform(-15, 15)))
    head = head @ _rot_z(math.radians(rng.uniform(-12, 12)))
    return _Pose(
        yaw=_sample_yaw(rng, side_prob, back_prob),
        roll=math.radians(rng.uniform(-15, 15)),
        lean=math.radians(rng.uniform(-8, 22)),
        side_lean=math.radians(rng.uniform(-8, 8)),
        head=head,
        arms={side: _sample_arm(rng, side) for side in (1, -1)},
        legs=_sample_legs(rng),
    )


# Face landmarks on the unit head sphere, head frame (+x the person's left):
# nose, left/right eye, left/right ear, mouth.
_FACE = np.array([
    [0.0, -0.15, 1.0], [0.38, 0.18, 0.9], [-0.38, 0.18, 0.9], [0.97, 0.0, 0.2],
    [-0.97, 0.0, 0.2], [0.0, -0.55, 0.83],
])
_FACE = _FACE / np.linalg.norm(_FACE, axis=1, keepdims=True)


@dataclass(frozen=True)
class _Skeleton:
    """3-D points of a posed figure in the person frame, units of standing height."""

    points: dict[str, np.ndarray]
    head_rot: np.ndarray  # head frame -> person frame


def _skeleton(p: _Proportions, q: _Pose) -> _Skeleton:
    torso_rot = _rot_z(q.side_lean) @ _rot_x(q.lean)
    lateral, up, fwd = torso_rot[:, 0], torso_rot[:, 1], torso_rot[:, 2]
    neck = up * p.torso
    pts = {"pelvis": np.zeros(3), "neck": neck, "chest_front": neck - up * 0.1 + fwd * 0.055,
           "torso_fwd": fwd}
    for side, s in ((1, "l"), (-1, "r")):
        sho = neck - up * 0.02 + lateral * side * p.shoulder / 2
        upper, lower = q.arms[side]
        elb = sho + upper * p.upper_arm
        wri = elb + lower * p.lower_arm
        hip = lateral * side * p.hip / 2
        lu, ll, foot = q.legs[side]
        knee = hip + lu * p.upper_leg
        ank = knee + ll * p.lower_leg
        pts.update({
            f"{s}_sho": sho, f"{s}_elb": elb, f"{s}_wri": wri, f"{s}_hand": wri + lower * p.hand,
            f"{s}_hip": hip, f"{s}_knee": knee, f"{s}_ank": ank,
            f"{s}_heel": ank + ll * 0.03 - foot * 0.03,
            f"{s}_toe": ank + ll * 0.035 + foot * p.foot,
        })
    pts["head"] = neck + up * p.neck + (q.head @ np.array([0.0, 1.0, 0.0])) * p.head_ry
    return _Skeleton(pts, q.head)


# ----------------------------------------------------------------------------- colours


def _hsv(h: float, s: float, v: float) -> Colour:
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, s, v)
    return (b * 255.0, g * 255.0, r * 255.0)


def _darker(c: Colour, f: float = 0.55) -> Colour:
    return (c[0] * f, c[1] * f, c[2] * f)


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(x * (1 - t) + y * t for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


_SKIN = ((224, 189, 160), (198, 152, 118), (160, 114, 82), (111, 76, 56), (236, 205, 180))
_HAIR = ((30, 25, 20), (60, 40, 25), (110, 80, 45), (170, 140, 90), (90, 90, 90))


@dataclass(frozen=True)
class _Palette:
    """Clothing colours: left side warm (red/orange), right side cool (blue)."""

    side: dict[int, tuple[Colour, Colour, Colour, Colour, Colour]]  # uarm, larm, hand, uleg, lleg
    torso: Colour
    emblem: Colour
    skin: Colour
    hair: Colour


def _side_colours(rng: np.random.Generator, hue: float) -> tuple[Colour, ...]:
    s, v = rng.uniform(0.65, 0.95), rng.uniform(0.6, 0.95)
    leg_h, leg_v = hue + rng.uniform(-8, 8), v * rng.uniform(0.7, 0.95)
    return (
        _hsv(hue, s, v),
        _hsv(hue + rng.uniform(-6, 6), s * 0.9, min(1.0, v * 1.08)),
        _hsv(hue, min(1.0, s * 1.05), v * 0.7),
        _hsv(leg_h, s, leg_v),
        _hsv(leg_h + rng.uniform(-5, 5), s * 0.9, min(1.0, leg_v * 1.1)),
    )


def _sample_palette(rng: np.random.Generator) -> _Palette:
    torso_hue = rng.uniform(70, 170) if rng.random() < 0.5 else rng.uniform(260, 330)
    torso_sat = rng.uniform(0.0, 0.15) if rng.random() < 0.25 else rng.uniform(0.35, 0.8)
    rgb_skin = _SKIN[int(rng.integers(len(_SKIN)))]
    rgb_hair = _HAIR[int(rng.integers(len(_HAIR)))]
    jitter = rng.uniform(0.9, 1.1)
    return _Palette(
        side={1: _side_colours(rng, rng.uniform(0, 30)),
              -1: _side_colours(rng, rng.uniform(200, 235))},
        torso=_hsv(torso_hue, torso_sat, rng.uniform(0.35, 0.85)),
        emblem=_hsv(rng.uniform(40, 70), rng.uniform(0.0, 0.35), 0.97),
        skin=tuple(min(255.0, c * jitter) for c in rgb_skin[::-1]),  # type: ignore[arg-type]
        hair=tuple(float(c) for c in rgb_hair[::-1]),  # type: ignore[arg-type]
    )


# ----------------------------------------------------------------------------- figure


class _Camera:
    """Orthographic projection of person-frame points after body yaw and in-plane roll."""

    def __init__(self, pose: _Pose, height: float) -> None:
        self.rot = _rot_z(pose.roll) @ _rot_y(pose.yaw)
        self.height = height

    def xy(self, p: np.ndarray) -> np.ndarray:
        q = self.rot @ p * self.height
        return np.array([q[0], -q[1]])

    def z(self, p: np.ndarray) -> float:
        return float((self.rot @ p)[2] * self.height)

    def direction(self, v: np.ndarray) -> np.ndarray:
        """Camera-frame unit direction (x right, y up, z towards the camera)."""
        return self.rot @ v


def _limb_parts(sk: _Skeleton, p: _Proportions, pal: _Palette, cam: _Camera) -> list[Part]:
    h, g, pts = cam.height, p.girth * cam.height, sk.points
    parts = []
    for side, s, ids in ((1, "l", (L_UARM, L_LARM, L_ULEG, L_LLEG)),
                         (-1, "r", (R_UARM, R_LARM, R_ULEG, R_LLEG))):
        c_ua, c_la, c_hand, c_ul, c_ll = pal.side[side]
        segs = (
            (ids[0], f"{s}_sho", f"{s}_elb", 0.034, 0.029, c_ua, 0.02, ()),
            (ids[1], f"{s}_elb", f"{s}_wri", 0.028, 0.022, c_la, 0.02,
             ((f"{s}_wri", f"{s}_hand", 0.022, 0.025, c_hand),)),
            (ids[2], f"{s}_hip", f"{s}_knee", 0.05, 0.04, c_ul, -0.03, ()),
            (ids[3], f"{s}_knee", f"{s}_ank", 0.040, 0.028, c_ll, -0.03,
             ((f"{s}_heel", f"{s}_toe", 0.022, 0.018, _darker(c_ll, 0.6)),)),
        )
        for pid, a, b, ra, rb, colour, bias, extras in segs:
            strokes = [Stroke(Capsule(cam.xy(pts[a]), cam.xy(pts[b]), ra * g, rb * g), colour)]
            strokes += [Stroke(Capsule(cam.xy(pts[ea]), cam.xy(pts[eb]), er * g, eb_r * g), ec)
                        for ea, eb, er, eb_r, ec in extras]
            depth = (cam.z(pts[a]) + cam.z(pts[b])) / 2 + bias * h
            parts.append(Part(pid, depth, tuple(strokes)))
    return parts


def _torso_part(sk: _Skeleton, p: _Proportions, pal: _Palette, cam: _Camera) -> Part:
    pts, h = sk.points, cam.height
    up = _unit(pts["neck"])
    fwd = pts["torso_fwd"]
    lateral = np.cross(up, fwd)
    corners = []
    for centre, half_w in ((pts["neck"] - up * 0.02, p.shoulder / 2 + 0.015 * p.girth),
                           (pts["pelvis"] - up * 0.02, p.hip / 2 + 0.04 * p.girth)):
        for sx in (-1, 1):
            for sz in (-1, 1):
                corners.append(cam.xy(centre + lateral * sx * half_w + fwd * sz * 0.055))
    hull = cv2.convexHull(np.array(corners, dtype=np.float32)).reshape(-1, 2).astype(np.float64)
    strokes = [Stroke(Polygon(hull), pal.torso)]
    if cam.direction(fwd)[2] > 0.15:
        strokes.append(Stroke(Ellipse(cam.xy(pts["chest_front"]), (0.035 * h, 0.035 * h), 0.0),
                              pal.emblem, outline=False))
    depth = (cam.z(pts["neck"]) + cam.z(pts["pelvis"])) / 2
    return Part(TORSO, depth, tuple(strokes))


@dataclass(frozen=True)
class _Head:
    """Projected head: face landmarks (nose, eyes, ears, mouth) and the head ellipse."""

    xy: np.ndarray  # (6, 2)
    z: np.ndarray  # (6,)
    facing: np.ndarray  # (6,) camera-facing component of each landmark's surface normal
    centre: np.ndarray
    axes: tuple[float, float]
    angle: float
    up: np.ndarray  # 2-D projection of the head's up axis (length <= 1)
    back: np.ndarray  # 2-D projection of the back of the head (length <= 1)
    forward: float  # camera-facing component of the face direction


def _project_head(sk: _Skeleton, p: _Proportions, cam: _Camera) -> _Head:
    h = cam.height
    radii = np.array([p.head_rx, p.head_ry, p.head_rx * 1.1])
    centre = sk.points["head"]
    surface = centre + (sk.head_rot @ (_FACE * radii).T).T
    surface[0] = centre + sk.head_rot @ (_FACE[0] * radii * 1.12)  # the nose protrudes
    normals = (cam.rot @ sk.head_rot @ _FACE.T).T
    up = cam.xy(sk.head_rot @ np.array([0.0, 1.0, 0.0])) / h
    fwd = cam.direction(sk.head_rot @ np.array([0.0, 0.0, 1.0]))
    rx = math.hypot(p.head_rx * fwd[2], p.head_rx * 1.1 * math.hypot(fwd[0], fwd[1]))
    return _Head(
        xy=np.array([cam.xy(q) for q in surface]), z=np.array([cam.z(q) for q in surface]),
        facing=normals[:, 2], centre=cam.xy(centre), axes=(rx * h, p.head_ry * h),
        angle=math.degrees(math.atan2(up[0], -up[1])), up=up,
        back=cam.xy(sk.head_rot @ np.array([0.0, 0.0, -1.0])) / h, forward=float(fwd[2]),
    )


def _face_marks(hd: _Head, pal: _Palette) -> list[Stroke]:
    """Mouth, eyes and nose on the camera side of the head: they show the facing direction."""
    rx, ry = hd.axes
    marks = []
    if hd.facing[5] > 0:
        marks.append(Stroke(Ellipse(hd.xy[5], (0.3 * rx, 0.08 * ry), hd.angle), (40, 40, 150),
                            outline=False))
    for k in (1, 2):
        if hd.facing[k] > 0:
            marks.append(Stroke(Ellipse(hd.xy[k], (0.14 * rx, 0.14 * rx), 0.0), (25, 25, 25),
                                outline=False))
    if hd.facing[0] > 0:
        nose = _mix(_darker(pal.skin, 0.7), (60, 60, 200), 0.3)
        marks.append(Stroke(Ellipse(hd.xy[0], (0.15 * rx, 0.15 * rx), 0.0), nose, outline=False))
    return marks


def _head_part(sk: _Skeleton, p: _Proportions, pal: _Palette, cam: _Camera, hd: _Head) -> Part:
    h = cam.height
    rx, ry = hd.axes
    neck_top = cam.xy(sk.points["neck"] + _unit(sk.points["neck"]) * p.neck)
    neck = Stroke(Capsule(cam.xy(sk.points["neck"]), neck_top, 0.028 * h, 0.026 * h),
                  _darker(pal.skin, 0.9))
    face = Stroke(Ellipse(hd.centre, (rx, ry), hd.angle), pal.skin)
    hair_centre = hd.centre + hd.back * 0.3 * rx + hd.up * 0.12 * ry
    hair = Stroke(Ellipse(hair_centre, (rx * 1.04, ry * 0.95), hd.angle), pal.hair)
    ears = [Stroke(Ellipse(hd.xy[k], (0.22 * rx, 0.28 * ry), hd.angle),
                   _mix(pal.skin, pal.side[side][0], 0.6)) for k, side in ((3, 1), (4, -1))]
    ears_back = [e for e, f in zip(ears, hd.facing[3:5], strict=True) if f < 0]
    ears_front = [e for e, f in zip(ears, hd.facing[3:5], strict=True) if f >= 0]
    order = [hair, *ears_back, face] if hd.forward > 0 else [*ears_back, face, hair]
    strokes = (neck, *order, *ears_front, *_face_marks(hd, pal))
    return Part(HEAD, cam.z(sk.points["head"]) + 0.01 * h, strokes)


def _keypoints(sk: _Skeleton, cam: _Camera, hd: _Head) -> tuple[np.ndarray, ...]:
    """COCO-ordered (17, 2) positions, (17,) depths and (17,) facing values."""
    body = [f"{s}_{n}" for n in ("sho", "elb", "wri", "hip", "knee", "ank") for s in ("l", "r")]
    xy = np.concatenate([hd.xy[:5], np.array([cam.xy(sk.points[b]) for b in body])])
    z = np.concatenate([hd.z[:5], np.array([cam.z(sk.points[b]) for b in body])])
    facing = np.concatenate([hd.facing[:5], np.ones(len(body))])
    return xy, z, facing


def _extent(parts: tuple[Part, ...]) -> tuple[float, float, float, float]:
    pts: list[np.ndarray] = []
    for part in parts:
        for st in part.strokes:
            sh = st.shape
            if isinstance(sh, Capsule):
                r = max(sh.ra, sh.rb)
                pts += [sh.a - r, sh.a + r, sh.b - r, sh.b + r]
            elif isinstance(sh, Polygon):
                pts += list(sh.points)
            else:
                r = max(sh.axes)
                pts += [sh.centre - r, sh.centre + r]
    arr = np.array(pts)
    return (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 0].max()),
            float(arr[:, 1].max()))


def sample_figure(rng: np.random.Generator, height: float, side_prob: float = 0.25,
                  back_prob: float = 0.1) -> Figure:
    """A random figure of standing height `height` pixels, relative to its pelvis."""
    props = _sample_proportions(rng)
    pose = _sample_pose(rng, side_prob, back_prob)
    pal = _sample_palette(rng)
    sk = _skeleton(props, pose)
    cam = _Camera(pose, height)
    hd = _project_head(sk, props, cam)
    parts = [_torso_part(sk, props, pal, cam), _head_part(sk, props, pal, cam, hd)]
    parts = tuple(sorted(parts + _limb_parts(sk, props, pal, cam), key=lambda q: q.depth))
    xy, z, facing = _keypoints(sk, cam, hd)
    part_depth = np.zeros(NUM_PARTS)
    for part in parts:
        part_depth[part.part_id] = part.depth
    return Figure(xy, z, facing, _torso_incident(sk, cam, z, props), parts, part_depth,
                  _extent(parts), height, outline=max(0.7, 0.008 * height))


def _torso_incident(sk: _Skeleton, cam: _Camera, z: np.ndarray, p: _Proportions) -> np.ndarray:
    """Shoulders and hips on the near or middle of the torso are covered by it without being
    hidden; on the far side (a figure seen from the side) the torso hides them."""
    incident = np.zeros(NUM_JOINTS, dtype=bool)
    level = {5: ("neck", p.shoulder), 6: ("neck", p.shoulder), 11: ("pelvis", p.hip),
             12: ("pelvis", p.hip)}
    for j, (centre, width) in level.items():  # far side once turned more than ~37 degrees
        incident[j] = z[j] - cam.z(sk.points[centre]) >= -0.6 * width / 2 * cam.height
    return incident


# ----------------------------------------------------------------------------- rendering


def draw_figure(image: np.ndarray, labels: np.ndarray, fig: Figure, offset: np.ndarray,
                label_base: int) -> None:
    """Draw `fig` at `offset` into the BGR image and its part labels into the label map."""
    for part in fig.parts:
        label = label_base + part.part_id
        for st in part.strokes:
            grow = fig.outline if st.outline else 0.0
            if grow:
                st.shape.draw(image, _darker(st.colour), grow, offset, cv2.LINE_AA)
            st.shape.draw(image, st.colour, 0.0, offset, cv2.LINE_AA)
            st.shape.draw(labels, label, grow, offset, cv2.LINE_8)


def _joint_visible(fig: Figure, j: int, label: int, label_base: int) -> bool:
    """Whether the surface on top at joint j is the joint itself rather than something in front."""
    if label < label_base:
        return True  # background, or a figure drawn behind this one
    part = label - label_base
    if part >= NUM_PARTS:
        return False  # a figure drawn in front
    if part == TORSO and j in _SHOULDERS_HIPS:
        return bool(fig.torso_incident[j])
    if part in _INCIDENT[j]:
        return True
    return fig.part_depth[part] <= fig.depth[j] + 0.02 * fig.height


def figure_keypoints(fig: Figure, offset: np.ndarray, labels: np.ndarray, label_base: int,
                     occluder_label: int) -> np.ndarray:
    """(17, 3) COCO keypoints x, y, v of a drawn figure given the final label map.

    v=2 visible, v=1 inside the image but covered (by another figure, an occluder, the figure's
    own nearer parts or the far side of its head), v=0 with x=y=0 outside the image or a face point
    turned well away from the camera."""
    h, w = labels.shape
    out = np.zeros((NUM_JOINTS, 3))
    for j in range(NUM_JOINTS):
        x, y = fig.keypoints[j] + offset
        if not (0 <= x <= w - 1 and 0 <= y <= h - 1) or fig.facing[j] <= FACE_UNLABELLED:
            continue
        label = int(labels[int(round(y)), int(round(x))])
        visible = (fig.facing[j] > 0 and label != occluder_label
                   and _joint_visible(fig, j, label, label_base))
        out[j] = (x, y, 2 if visible else 1)
    return out
