"""Things that stand in the synthetic world, each built from several solids in its own frame.

Actor frame: origin on the ground at the centre of the thing's footprint, x forward (along its length), y left,
z up. Every template returns ``(dims, parts)``: the tight box ``(l, w, h)`` that a KITTI annotator would draw
(every solid stays inside it) and the solids (``ssal.data.synthetic.solids.part`` rows).

Sizes follow KITTI's label statistics (means and spreads of l, w, h per class); the target classes are Car,
Pedestrian and Cyclist, the other labelled ones Van, Truck, Tram, Misc and Person_sitting; clutter (buildings,
trees, poles, parked bicycles, benches, mannequins, ...) carries no label. Each target class comes in several
shapes (car bodies, adults and children with or without bags, bicycle types) whose front and back differ the way
a LiDAR can see.
"""

from __future__ import annotations

import math

import numpy as np

from ssal.data.synthetic.solids import BOX, CYLINDER, ELLIPSOID, part

RETRO = 0.95  # number plates, tail lamps, signs
HEADLAMP = 0.6  # clear lenses: bright, but not retro-reflective like the red tail lamps and the plate
TYRE = 0.04
GLASS, GLASS_DROPOUT = 0.10, 0.45

# KITTI label statistics: (mean, spread, low, high) of length, width, height in metres.
SIZES = {
    "Car": ((3.90, 0.42, 3.0, 5.3), (1.62, 0.10, 1.38, 1.95), (1.56, 0.13, 1.30, 2.05)),
    "Van": ((5.08, 0.45, 4.2, 6.2), (1.90, 0.12, 1.65, 2.20), (2.21, 0.25, 1.80, 2.80)),
    "Truck": ((10.1, 2.5, 6.0, 16.5), (2.59, 0.15, 2.30, 2.90), (3.25, 0.40, 2.60, 4.00)),
    "Tram": ((16.0, 4.0, 10.0, 30.0), (2.54, 0.08, 2.35, 2.70), (3.53, 0.15, 3.20, 3.80)),
    "Misc": ((3.0, 1.2, 1.2, 6.5), (1.50, 0.35, 0.70, 2.40), (1.60, 0.50, 0.80, 3.00)),
    "Pedestrian": ((0.80, 0.20, 0.35, 1.30), (0.62, 0.12, 0.38, 0.95), (1.73, 0.11, 1.10, 2.00)),
    "Cyclist": ((1.76, 0.17, 1.35, 2.10), (0.60, 0.10, 0.40, 0.90), (1.73, 0.09, 1.45, 1.98)),
    "Person_sitting": ((0.83, 0.12, 0.6, 1.1), (0.59, 0.07, 0.45, 0.75), (1.27, 0.08, 1.05, 1.45)),
}
LABELLED = tuple(SIZES)


def sample_size(name: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """(l, w, h) of a labelled class, with one shared size factor so that big things are big in every way."""
    shared = rng.normal()
    values = []
    for mean, spread, low, high in SIZES[name]:
        z = 0.6 * shared + 0.8 * rng.normal()
        values.append(float(np.clip(mean + spread * z, low, high)))
    return tuple(values)


def paint(rng: np.random.Generator) -> float:
    """Car paint reflectance: dark (black, navy) to bright (white, silver)."""
    return float(rng.choice((0.06, 0.12, 0.25, 0.4, 0.55), p=(0.22, 0.18, 0.2, 0.25, 0.15)) * rng.uniform(0.8, 1.2))


def segment(p0, p1, radius: float, reflectance: float, dropout: float = 0.0) -> tuple:
    """A cylinder from point ``p0`` to ``p1`` (actor frame)."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    pitch = math.acos(max(-1.0, min(1.0, axis[2] / length)))
    yaw = math.atan2(axis[1], axis[0])
    return part(CYLINDER, (p0 + p1) / 2, (radius, radius, length / 2), yaw=yaw, pitch=pitch,
                reflectance=reflectance, dropout=dropout)


def _wheels(xs, width: float, radius: float, thickness: float = 0.11) -> list:
    return [part(CYLINDER, (x, side * (width / 2 - thickness), radius), (radius, radius, thickness), roll=math.pi / 2,
                 reflectance=TYRE, dropout=0.15) for x in xs for side in (-1, 1)]


def _lamps(length: float, width: float, z: float, colour_front: float = HEADLAMP) -> list:
    lamps = []
    for x, reflectance in ((length / 2 - 0.02, colour_front), (-length / 2 + 0.02, RETRO)):
        for side in (-1, 1):
            lamps.append(part(BOX, (x, side * (width / 2 - 0.2), z), (0.02, 0.13, 0.05), reflectance=reflectance))
    lamps.append(part(BOX, (-length / 2 + 0.01, 0.0, z - 0.3), (0.01, 0.26, 0.06), reflectance=RETRO))  # plate
    return lamps


# ------------------------------------------------------------------------------------------- labelled actors
# Car bodies and how often each is met; a body reshapes the sampled KITTI size a little (an SUV is taller, a
# hatchback shorter) and decides the profile a LiDAR sees: where the cabin sits between bonnet and boot.
BODIES = ("sedan", "hatchback", "estate", "suv", "mpv", "pickup")
BODY_WEIGHTS = (0.34, 0.26, 0.12, 0.15, 0.07, 0.06)
_BODY_SCALE = {"sedan": (1.03, 1.0, 0.97), "hatchback": (0.92, 0.99, 0.99), "estate": (1.07, 1.0, 0.99),
               "suv": (1.04, 1.04, 1.12), "mpv": (1.02, 1.02, 1.16), "pickup": (1.22, 1.05, 1.08)}
def car_body(rng: np.random.Generator) -> str:
    return BODIES[rng.choice(len(BODIES), p=BODY_WEIGHTS)]


def car_size(rng: np.random.Generator, body: str) -> tuple[float, float, float]:
    """A KITTI Car size shaped by ``body`` (kept within KITTI's Car bounds)."""
    scale = _BODY_SCALE[body]
    return tuple(float(np.clip(v * f, low, high)) for v, f, (_, _, low, high)
                 in zip(sample_size("Car", rng), scale, SIZES["Car"]))


def slab(p0, p1, half_width: float, thickness: float, reflectance: float, dropout: float = 0.0) -> tuple:
    """A thin box whose mid-plane runs from ``p0`` to ``p1`` (actor frame, both at y = 0): a raked windscreen
    or rear window."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    pitch = math.acos(max(-1.0, min(1.0, axis[2] / length)))
    yaw = math.atan2(axis[1], axis[0])
    return part(BOX, (p0 + p1) / 2, (thickness, half_width, length / 2), yaw=yaw, pitch=pitch,
                reflectance=reflectance, dropout=dropout)


def car(rng: np.random.Generator, dims=None, name: str = "Car", body: str | None = None, colour: float | None = None):
    """A car of one of ``BODIES``. What tells its front from its back to a LiDAR: a long low bonnet ahead of a
    raked windscreen, a short boot (sedan) or an upright tailgate behind, mirrors at the front of the cabin,
    clear headlamps at the front and retro-reflective tail lamps and plate at the back."""
    body = body or car_body(rng)
    l, w, h = dims or car_size(rng, body)
    colour = paint(rng) if colour is None else colour
    radius = float(np.clip(0.31 + 0.1 * (h - 1.5), 0.28, 0.40))
    clearance = radius * 0.55
    shoulder = h * (rng.uniform(0.5, 0.58) if body in ("suv", "mpv", "pickup") else rng.uniform(0.56, 0.64))
    bonnet = l * {"mpv": rng.uniform(0.12, 0.18), "suv": rng.uniform(0.2, 0.26)}.get(body, rng.uniform(0.24, 0.31))
    front = l / 2 - bonnet  # foot of the windscreen
    rear = {"sedan": -l / 2 + l * rng.uniform(0.17, 0.23), "pickup": -l / 2 + l * rng.uniform(0.36, 0.42)
            }.get(body, -l / 2 + 0.12)
    rake = min((h - shoulder) * rng.uniform(0.9, 1.4), 0.4 * (front - rear))
    roof_front, roof_rear = front - rake, rear + (0.35 * rake if body == "sedan" else 0.05)
    inner = w * 0.41
    axle = l / 2 - max(0.6, 0.2 * l)
    parts = [
        part(BOX, (0, 0, (clearance + shoulder) / 2), (l / 2, w / 2 - 0.1, (shoulder - clearance) / 2),
             reflectance=colour),
        part(BOX, ((roof_front + roof_rear) / 2, 0, (shoulder + h - 0.05) / 2),
             ((roof_front - roof_rear) / 2, inner, (h - 0.05 - shoulder) / 2), reflectance=GLASS,
             dropout=GLASS_DROPOUT),
        slab((front - 0.03, 0, shoulder), (roof_front, 0, h - 0.05), inner, 0.02, GLASS, GLASS_DROPOUT),
        part(BOX, ((roof_front + roof_rear) / 2, 0, h - 0.03), ((roof_front - roof_rear) / 2, inner, 0.03),
             reflectance=colour),
        part(BOX, (l / 2 - 0.04, 0, clearance + 0.12), (0.04, w / 2 - 0.25, 0.1), reflectance=0.05),  # grille
        *_mirrors(front - 0.1, w, shoulder + 0.1, colour),
        *_wheels((axle, -axle), w, radius),
        *_lamps(l, w, shoulder - 0.12, HEADLAMP),
    ]
    if body == "sedan":  # a boot lid a little above the bonnet, and a sloping rear window down to it
        parts.append(part(BOX, ((-l / 2 + rear) / 2, 0, shoulder + 0.04), ((rear + l / 2) / 2 - 0.02, w / 2 - 0.12,
                                                                           0.04), reflectance=colour))
        parts.append(slab((rear + 0.03, 0, shoulder + 0.08), (roof_rear, 0, h - 0.05), inner, 0.02, GLASS,
                          GLASS_DROPOUT))
    elif body == "pickup":  # an open bed: low floor, side walls, tailgate
        bed = (rear + l / 2) / 2
        parts += [part(BOX, (-l / 2 + bed, side * (w / 2 - 0.14), shoulder + 0.12), (bed - 0.02, 0.04, 0.12),
                       reflectance=colour) for side in (-1, 1)]
        parts.append(part(BOX, (-l / 2 + 0.05, 0, shoulder + 0.12), (0.04, w / 2 - 0.14, 0.12), reflectance=colour))
    else:  # an upright tailgate with its window
        parts.append(part(BOX, (rear - 0.02, 0, (shoulder + h - 0.1) / 2), (0.02, inner, (h - 0.1 - shoulder) / 2),
                          reflectance=GLASS, dropout=GLASS_DROPOUT))
    return (l, w, h), parts


def _mirrors(x: float, width: float, z: float, colour: float) -> list:
    return [part(BOX, (x, side * (width / 2 - 0.06), z), (0.07, 0.05, 0.06), reflectance=colour) for side in (-1, 1)]


def van(rng: np.random.Generator, dims=None):
    l, w, h = dims or sample_size("Van", rng)
    colour = paint(rng)
    radius = 0.36
    belt = h * 0.5
    parts = [
        part(BOX, (0, 0, (0.3 + belt) / 2), (l / 2, w / 2 - 0.01, (belt - 0.3) / 2), reflectance=colour),
        part(BOX, (-0.12 * l, 0, (belt + h) / 2), (0.38 * l, w / 2 - 0.03, (h - belt) / 2), reflectance=colour),
        part(BOX, (0.3 * l, 0, (belt + h * 0.9) / 2), (0.11 * l, w * 0.45, (h * 0.9 - belt) / 2),
             reflectance=GLASS, dropout=GLASS_DROPOUT),
        *_wheels((l / 2 - 0.9, -l / 2 + 0.9), w, radius),
        *_lamps(l, w, belt - 0.1),
    ]
    return (l, w, h), parts


def truck(rng: np.random.Generator, dims=None):
    l, w, h = dims or sample_size("Truck", rng)
    cab = min(2.3, 0.3 * l)
    radius = 0.5
    parts = [
        part(BOX, (l / 2 - cab / 2, 0, (0.5 + h * 0.85) / 2), (cab / 2, w / 2 - 0.05, (h * 0.85 - 0.5) / 2),
             reflectance=paint(rng)),
        part(BOX, (-cab / 2, 0, (1.0 + h) / 2), ((l - cab) / 2 - 0.1, w / 2, (h - 1.0) / 2),
             reflectance=rng.uniform(0.2, 0.6)),
        *_wheels((l / 2 - 1.0, -l / 2 + 1.4, -l / 2 + 2.7), w, radius, 0.15),
        *_lamps(l, w, 0.9),
    ]
    return (l, w, h), parts


def tram(rng: np.random.Generator, dims=None):
    l, w, h = dims or sample_size("Tram", rng)
    parts = [
        part(BOX, (0, 0, 0.75), (l / 2, w / 2, 0.45), reflectance=rng.uniform(0.3, 0.6)),
        part(BOX, (0, 0, (1.2 + h - 0.5) / 2), (l / 2 - 0.1, w / 2 - 0.02, (h - 1.7) / 2),
             reflectance=GLASS, dropout=GLASS_DROPOUT),
        part(BOX, (0, 0, h - 0.25), (l / 2 - 0.2, w / 2 - 0.05, 0.25), reflectance=rng.uniform(0.3, 0.6)),
    ]
    return (l, w, h), parts


def misc(rng: np.random.Generator, dims=None):
    """A trailer, a cart or a container: KITTI's catch-all vehicle class."""
    l, w, h = dims or sample_size("Misc", rng)
    radius = min(0.35, h / 4)
    parts = [
        part(BOX, (0, 0, (2 * radius + h) / 2), (l / 2, w / 2, (h - 2 * radius) / 2),
             reflectance=rng.uniform(0.1, 0.6)),
        part(BOX, (l / 2 - 0.2, 0, radius * 1.5), (0.2, 0.1, 0.04), reflectance=0.3),  # drawbar
        *_wheels((0.0,), w, radius, 0.1),
    ]
    return (l, w, h), parts


CHILD_HEIGHT = (0.95, 1.45)


def child_size(rng: np.random.Generator) -> tuple[float, float, float]:
    """(l, w, h) of a child: a pedestrian box scaled to a height of about 1-1.45 m."""
    h = float(rng.uniform(*CHILD_HEIGHT))
    l, w, _ = sample_size("Pedestrian", rng)
    return max(0.35, l * h / 1.73), max(0.38, w * h / 1.73), h


def pedestrian(rng: np.random.Generator, dims=None, bag: str | None = None, vest: bool = False):
    """A walking person facing +x. What shows the facing to a LiDAR: feet that point forward, a torso leaning
    a little into the walk, the head ahead of the spine, and often a backpack behind or a bag at one side."""
    l, w, h = dims or sample_size("Pedestrian", rng)
    scale = h / 1.73
    clothes, trousers = (0.85 if vest else rng.uniform(0.08, 0.5)), rng.uniform(0.06, 0.4)
    hip, shoulder = 0.50 * h, 0.81 * h
    if bag is None:
        bag = str(rng.choice(("none", "backpack", "handbag"), p=(0.55, 0.3, 0.15)))
    foot_length = 0.12 * scale
    pack = 0.1 * scale if bag == "backpack" else 0.0
    torso_depth = min(0.12 * scale, l / 2 - pack - 0.02)
    half_step = max(0.0, min((l - 0.3) / 2, l / 2 - foot_length - 0.02))  # the label's length is mostly the stride
    leg_radius = 0.065 * scale
    lean = 0.04 * scale  # the shoulders ahead of the hips
    parts = []
    for side, forward in ((-1, 1), (1, -1)):
        y = side * min(0.1 * scale, w / 2 - leg_radius)
        ankle = (forward * half_step, y, leg_radius)
        parts.append(segment(ankle, (0.0, y, hip), leg_radius, trousers))
        parts.append(part(BOX, (ankle[0] + foot_length / 2, y, 0.04), (foot_length / 2 + 0.02, 0.045 * scale, 0.04),
                          reflectance=0.1))
        hand = (-forward * half_step * 0.7, side * (w / 2 - 0.05), hip - 0.05)
        parts.append(segment((lean, side * (w / 2 - 0.07), shoulder - 0.03), hand, 0.045 * scale, clothes))
    parts += [
        part(ELLIPSOID, (lean / 2, 0, (hip + shoulder) / 2 + 0.02), (torso_depth, w / 2 - 0.08,
                                                                      (shoulder - hip) / 2 + 0.05),
             pitch=-0.08, reflectance=clothes),
        part(ELLIPSOID, (lean + 0.03 * scale, 0, h - 0.115 * scale), (0.1 * scale, 0.085 * scale, 0.115 * scale),
             reflectance=rng.uniform(0.15, 0.4)),
    ]
    if bag == "backpack":
        parts.append(part(BOX, (-torso_depth - pack / 2 + 0.02, 0, shoulder - 0.2 * scale),
                          (pack / 2, min(0.15 * scale, w / 2 - 0.06), 0.2 * scale), reflectance=rng.uniform(0.1, 0.6)))
    elif bag == "handbag":
        side = float(rng.choice((-1, 1)))
        parts.append(part(BOX, (0.0, side * (w / 2 - 0.07), hip - 0.12), (0.12, 0.05, 0.13),
                          reflectance=rng.uniform(0.05, 0.5)))
    return (l, w, h), parts


def person_sitting(rng: np.random.Generator, dims=None):
    """A person seated (on a bench, a step, a cafe chair), facing +x: KITTI's Person_sitting."""
    l, w, h = dims or sample_size("Person_sitting", rng)
    scale = h / 1.27
    clothes = rng.uniform(0.08, 0.5)
    seat = 0.45 * scale
    back = -l / 2 + 0.15
    knee = (l / 2 - 0.08, 0.0, seat + 0.03)
    parts = []
    for side in (-1, 1):
        y = side * min(0.1 * scale, w / 2 - 0.07)
        parts.append(segment((back + 0.1, y, seat), (knee[0], y, knee[2]), 0.07 * scale, clothes))
        parts.append(segment((knee[0], y, knee[2]), (knee[0] - 0.03, y, 0.05), 0.055 * scale, clothes))
    top = h - 0.23 * scale
    parts += [
        part(ELLIPSOID, (back + 0.05, 0, (seat + top) / 2), (0.12 * scale, w / 2 - 0.08, (top - seat) / 2 + 0.04),
             reflectance=clothes),
        part(ELLIPSOID, (back + 0.08, 0, h - 0.115 * scale), (0.1 * scale, 0.085 * scale, 0.115 * scale),
             reflectance=rng.uniform(0.15, 0.4)),
    ]
    return (l, w, h), parts


def bench(rng: np.random.Generator):
    """A bench seen from its front (+x): seat and backrest, unlabelled."""
    length = rng.uniform(1.4, 2.2)
    reflectance = rng.uniform(0.2, 0.45)
    return (0.6, length, 0.9), [
        part(BOX, (0.05, 0, 0.42), (0.22, length / 2, 0.03), reflectance=reflectance),
        part(BOX, (-0.24, 0, 0.7), (0.04, length / 2, 0.2), reflectance=reflectance),
        *[part(BOX, (0.0, side * (length / 2 - 0.1), 0.2), (0.25, 0.03, 0.2), reflectance=0.2) for side in (-1, 1)],
    ]


BICYCLES = ("road", "mountain", "city")


def cyclist(rng: np.random.Generator, dims=None, bike: str | None = None):
    """A rider on a road bike (thin tyres, a low bent-over rider), a mountain bike (fat tyres) or a city bike
    (upright rider, a basket in front, a rack behind), facing +x."""
    l, w, h = dims or sample_size("Cyclist", rng)
    bike = bike or str(rng.choice(BICYCLES, p=(0.3, 0.3, 0.4)))
    radius = min(0.35, l / 4 - 0.02) * (0.95 if bike == "mountain" else 1.0)
    tyre = {"road": 0.02, "mountain": 0.05, "city": 0.03}[bike]
    rear, front = -l / 2 + radius, l / 2 - radius
    frame_colour, clothes = rng.uniform(0.1, 0.6), rng.uniform(0.08, 0.5)
    saddle = (rear + 0.25, 0.0, 2 * radius + 0.25)
    bar = (front - 0.12, 0.0, 2 * radius + (0.42 if bike == "city" else 0.3))
    crank = ((rear + front) / 2 + 0.05, 0.0, radius)
    parts = [
        part(CYLINDER, (rear, 0, radius), (radius, radius, tyre), roll=math.pi / 2, reflectance=TYRE, dropout=0.4),
        part(CYLINDER, (front, 0, radius), (radius, radius, tyre), roll=math.pi / 2, reflectance=TYRE, dropout=0.4),
        segment(saddle, bar, 0.03, frame_colour),
        segment(crank, saddle, 0.03, frame_colour),
        segment(crank, bar, 0.03, frame_colour),
        segment((rear, 0, radius), crank, 0.025, frame_colour),
        part(BOX, (bar[0], 0, bar[2] + 0.02), (0.03, min(0.28, w / 2 - 0.02), 0.02), reflectance=0.3),  # handlebar
    ]
    if bike == "city":
        parts.append(part(BOX, (min(front + 0.12, l / 2 - 0.16), 0, bar[2] - 0.12), (0.15, 0.17, 0.12),
                          reflectance=rng.uniform(0.2, 0.5), dropout=0.3))  # basket
        parts.append(part(BOX, (rear + 0.05, 0, 2 * radius + 0.05), (0.2, 0.08, 0.02), reflectance=0.3))  # rack
    lean = {"road": rng.uniform(0.7, 0.95), "mountain": rng.uniform(0.45, 0.7), "city": rng.uniform(0.1, 0.3)}[bike]
    torso_length = 0.3 * h
    hip = (saddle[0] - 0.05, 0.0, saddle[2] + 0.08)
    neck = (hip[0] + torso_length * math.sin(lean), 0.0, hip[2] + torso_length * math.cos(lean))
    head_radius = 0.11
    head_z = min(neck[2] + 0.15, h - head_radius)
    parts += [
        segment(hip, neck, min(0.15, w / 2 - 0.05), clothes),
        part(ELLIPSOID, (neck[0] + 0.06, 0, head_z), (head_radius, 0.09, head_radius),
             reflectance=rng.uniform(0.1, 0.5)),
    ]
    if rng.random() < 0.3:  # a backpack on the rider's back
        parts.append(part(BOX, ((hip[0] + neck[0]) / 2 - 0.16, 0, (hip[2] + neck[2]) / 2 + 0.05), (0.07, 0.14, 0.18),
                          pitch=lean, reflectance=rng.uniform(0.1, 0.6)))
    for side, phase in ((-1, 1.0), (1, -1.0)):
        y = side * 0.1
        pedal = (crank[0] + phase * 0.15, y, crank[2] + phase * 0.1)
        knee = (hip[0] + 0.35, y, (hip[2] + pedal[2]) / 2 + 0.15)
        parts += [segment((hip[0], y, hip[2]), knee, 0.065, clothes), segment(knee, pedal, 0.05, clothes)]
        parts.append(segment((neck[0] - 0.03, side * 0.17, neck[2] - 0.06),
                             (bar[0], side * min(0.25, w / 2 - 0.04), bar[2] + 0.03), 0.04, clothes))
    top = max(p[3] + max(p[7:10]) for p in parts)
    return (l, w, max(h, top)), parts


TEMPLATES = {"Car": car, "Van": van, "Truck": truck, "Tram": tram, "Misc": misc, "Pedestrian": pedestrian,
             "Person_sitting": person_sitting, "Cyclist": cyclist}


# -------------------------------------------------------------------------------------- unlabelled clutter
def building(length: float, depth: float, height: float, reflectance: float, facing: int = -1,
             windows: bool = True, rng: np.random.Generator | None = None):
    """A block with its front face towards ``facing`` (-1: -y, +1: +y). With ``rng`` the façade is irregular,
    as streets are: a few sections of different heights, some set back, with balconies, a step at the door."""
    if rng is None or length < 8.0:
        sections = [(0.0, length, 0.0, height)]
    else:
        count = int(rng.integers(2, 5))
        cuts = np.sort(rng.uniform(0.15, 0.85, count - 1)) * length
        edges = np.concatenate(([0.0], cuts, [length]))
        sections = [(float(a - length / 2), float(b - a), float(rng.uniform(0.0, 1.5)) * (rng.random() < 0.5),
                     float(height * rng.uniform(0.7, 1.0))) for a, b in zip(edges[:-1], edges[1:])]
    parts = []
    for start, size, recess, top in sections:
        centre_x = start + size / 2
        front = depth / 2 - recess  # the front face's distance from the centre line
        parts.append(part(BOX, (centre_x, -facing * recess / 2, top / 2), (size / 2, depth / 2 - recess / 2, top / 2),
                          reflectance=reflectance if rng is None else reflectance * rng.uniform(0.8, 1.2)))
        if windows and top > 4:
            # A glass band per storey on the front face: windows return weak and patchy echoes.
            for z in np.arange(1.8, top - 1.0, 3.0):
                parts.append(part(BOX, (centre_x, facing * (front + 0.02), z), (size / 2 - 0.5, 0.03, 0.7),
                                  reflectance=GLASS, dropout=0.6))
                if rng is not None and recess > 0.8 and z > 3 and rng.random() < 0.6:  # a balcony
                    parts.append(part(BOX, (centre_x, facing * (front + 0.5), z - 0.6),
                                      (min(size / 2 - 0.3, 2.0), 0.45, 0.5), reflectance=reflectance, dropout=0.3))
    return (length, depth + 0.1, height), parts


def wall(length: float, height: float, thickness: float, reflectance: float, dropout: float = 0.0,
         scatter: float = 0.0):
    """A wall, a fence (thin, with gaps: ``dropout``) or a hedge (leafy: ``scatter``)."""
    return (length, thickness, height), [part(BOX, (0, 0, height / 2), (length / 2, thickness / 2, height / 2),
                                              reflectance=reflectance, dropout=dropout, scatter=scatter)]


def tree(rng: np.random.Generator):
    trunk_height = rng.uniform(1.8, 3.5)
    crown = rng.uniform(1.3, 3.5)
    trunk_radius = rng.uniform(0.1, 0.3)
    crown_height = crown * rng.uniform(0.9, 1.6)
    parts = [
        part(CYLINDER, (0, 0, trunk_height / 2 + 0.3), (trunk_radius, trunk_radius, trunk_height / 2 + 0.3),
             reflectance=rng.uniform(0.25, 0.4)),
        part(ELLIPSOID, (0, 0, trunk_height + crown_height * 0.8), (crown, crown, crown_height),
             reflectance=rng.uniform(0.35, 0.6), dropout=0.35, scatter=0.3 * crown),
    ]
    return (2 * crown, 2 * crown, trunk_height + 1.8 * crown_height), parts


def bush(rng: np.random.Generator):
    size = rng.uniform(0.4, 1.5)
    height = rng.uniform(0.5, 1.6)
    width = size * rng.uniform(0.7, 1.3)
    return (2 * size, 2 * width, height), [part(ELLIPSOID, (0, 0, height / 2), (size, width, height / 2),
                                                reflectance=rng.uniform(0.3, 0.5), dropout=0.2, scatter=0.15)]


def pole(rng: np.random.Generator, lamp: bool = True):
    height = rng.uniform(4.0, 9.0) if lamp else rng.uniform(2.2, 3.2)
    radius = rng.uniform(0.06, 0.15)
    parts = [part(CYLINDER, (0, 0, height / 2), (radius, radius, height / 2), reflectance=rng.uniform(0.2, 0.4))]
    if lamp:
        parts.append(part(BOX, (0.8, 0, height - 0.1), (0.8, 0.12, 0.08), reflectance=0.3))
    else:  # a traffic sign
        parts.append(part(BOX, (0, 0, height - 0.35), (0.02, 0.35, 0.35), reflectance=RETRO))
    return (1.8, 0.3, height), parts


def bicycle(rng: np.random.Generator):
    """A parked bicycle: not a Cyclist (no rider), unlabelled as in KITTI."""
    radius = 0.34
    parts = [
        part(CYLINDER, (-0.52, 0, radius), (radius, radius, 0.025), roll=math.pi / 2, reflectance=TYRE, dropout=0.5),
        part(CYLINDER, (0.52, 0, radius), (radius, radius, 0.025), roll=math.pi / 2, reflectance=TYRE, dropout=0.5),
        segment((-0.52, 0, radius), (0.45, 0, 0.95), 0.03, rng.uniform(0.1, 0.6)),
        segment((0.0, 0, radius), (-0.2, 0, 0.9), 0.03, rng.uniform(0.1, 0.6)),
    ]
    return (1.75, 0.5, 1.0), parts


def bin_or_box(rng: np.random.Generator):
    """Street furniture: a bin, an electrical cabinet, a bollard."""
    kind = rng.integers(3)
    if kind == 0:
        return (0.6, 0.6, 1.0), [part(CYLINDER, (0, 0, 0.5), (0.3, 0.3, 0.5), reflectance=rng.uniform(0.1, 0.4))]
    if kind == 1:
        return (1.0, 0.5, 1.4), [part(BOX, (0, 0, 0.7), (0.5, 0.25, 0.7), reflectance=rng.uniform(0.2, 0.5))]
    return (0.25, 0.25, 0.9), [part(CYLINDER, (0, 0, 0.45), (0.1, 0.1, 0.45), reflectance=RETRO)]
