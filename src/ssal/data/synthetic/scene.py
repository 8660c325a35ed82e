"""One synthetic scene: a road with its ground, clutter along it, and the actors a KITTI annotator would label.

``sample_scene(style_weights, rng)`` draws a scene style (residential street, city street, highway, campus),
then a road, its ground, and everything on it, in the world frame: origin on the ground under the ego vehicle,
x along the ego's heading, z up. The scene knows nothing of sensors or file formats; actors carry a velocity
and a track id so that a sequence of scenes can move them later.

Per-frame density factors (drawn log-normally per class) give the scene-to-scene variety of KITTI: crowded
streets, frames without a pedestrian, frames dominated by pedestrians or cyclists, empty roads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ssal.data.synthetic import actors as A
from ssal.data.synthetic.ground import Ground
from ssal.data.synthetic.road import Road
from ssal.data.synthetic.solids import CYLINDER, PART_COLUMNS, Solids, rotation_matrices
from ssal.data.synthetic.solids import part as solid_part

FRONT, BACK = 90.0, 55.0  # metres of road built ahead of and behind the ego vehicle


@dataclass(frozen=True)
class Style:
    """How a kind of street is furnished. Densities are per 100 m of road (per side or per lane)."""

    name: str
    lanes: tuple[int, int]  # per direction
    lane_width: tuple[float, float]
    parking: float  # probability of a parked row on each side
    park_fill: tuple[float, float]  # share of a parked row's slots taken
    traffic: float  # moving vehicles per 100 m per lane
    pedestrians: float  # per 100 m per sidewalk
    cyclists: float  # per 100 m of road
    crossing: float  # probability of people crossing the road ahead
    cross_street: float  # probability of a side street ahead (cross traffic, a gap in the frontage)
    sidewalk: tuple[float, float]
    setback: tuple[float, float]  # kerb+sidewalk to building fronts
    building_height: tuple[float, float]
    building_gap: tuple[float, float]
    trees: float  # per 100 m per side
    heavy: float  # share of vans, trucks, trams and trailers among moving vehicles
    yards: float  # probability of a fence, hedge or bushes in front of a building


STYLES = {
    "residential": Style("residential", (1, 1), (2.75, 3.3), 0.7, (0.2, 0.6), 0.8, 0.5, 0.33, 0.05, 0.15,
                         (1.5, 3.0), (1.0, 7.0), (4.5, 10.0), (1.0, 6.0), 20.0, 0.13, 0.8),
    "city": Style("city", (1, 2), (3.0, 3.5), 0.5, (0.2, 0.65), 1.6, 1.3, 0.9, 0.15, 0.35, (2.5, 4.5), (0.0, 1.5),
                  (8.0, 24.0), (0.0, 3.0), 8.0, 0.19, 0.1),
    "highway": Style("highway", (2, 3), (3.5, 3.75), 0.03, (0.1, 0.4), 1.5, 0.0, 0.05, 0.0, 0.0, (0.0, 0.0),
                     (5.0, 25.0), (4.0, 12.0), (10.0, 50.0), 16.0, 0.3, 0.0),
    "campus": Style("campus", (1, 1), (3.0, 3.5), 0.3, (0.2, 0.6), 0.5, 2.5, 2.1, 0.3, 0.1, (3.0, 6.0), (3.0, 12.0),
                    (6.0, 15.0), (4.0, 15.0), 16.0, 0.08, 0.5),
}
STYLE_WEIGHTS = {"residential": 0.45, "city": 0.30, "highway": 0.13, "campus": 0.12}


@dataclass
class Actors:
    """The labelled things of a scene (A of them), world frame."""

    name: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U16"))
    box: np.ndarray = field(default_factory=lambda: np.zeros((0, 7)))  # x, y, z (centre), l, w, h, yaw
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # m/s, world x and y
    track_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tags: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U64"))  # comma-separated, "" for none

    def __len__(self) -> int:
        return len(self.name)


@dataclass
class Scene:
    style: str
    road: Road
    ground: Ground
    solids: Solids
    actors: Actors
    ego_pose: np.ndarray  # (4, 4) ego frame (on the ground, x forward) -> world


class _Layout:
    """Collects solids and actors while keeping footprints from overlapping."""

    def __init__(self, road: Road, ground: Ground, front: float = FRONT, situations: tuple[str, ...] = ()):
        self.road, self.ground = road, ground
        self.front = front  # metres of road built ahead (more for a drive, whose ego vehicle moves on)
        self.situations = situations
        self.night = "night" in situations
        self.tags: list[str] = []
        self.parts: list[np.ndarray] = []
        self.poses: list[tuple] = []
        self.owner: list[int] = []
        self.occupied = _Occupancy()
        self.names: list[str] = []
        self.boxes: list[tuple] = []
        self.velocities: list[tuple] = []

    def free(self, x: float, y: float, length: float, width: float, yaw: float, margin: float) -> bool:
        return not self.occupied.overlaps(x, y, length / 2 + margin, width / 2 + margin, yaw)

    def add(self, dims, parts, x: float, y: float, yaw: float, name: str | None = None, speed: float = 0.0,
            margin: float = 0.15, check: bool = True, tags: str = "") -> bool:
        """Place a thing whose footprint centre is at world ``x, y`` (on the ground there); ``name`` (a KITTI
        class) makes it an actor."""
        length, width, height = dims
        if check and not self.free(x, y, length, width, yaw, margin):
            return False
        self.occupied.add(x, y, length / 2, width / 2, yaw)
        owner = -1
        if name is not None:
            owner = len(self.names)
            self.names.append(name)
            self.boxes.append((x, y, height / 2, length, width, height, yaw))  # z: lifted onto the ground later
            self.velocities.append((speed * math.cos(yaw), speed * math.sin(yaw)))
            self.tags.append(tags)
        rows = np.asarray(parts, dtype=np.float64).reshape(-1, PART_COLUMNS)
        self.parts.append(rows)
        self.poses.extend([(x, y, 0.0, yaw)] * len(rows))
        self.owner.extend([owner] * len(rows))
        return True

    def add_on_road(self, dims, parts, s: float, l: float, turn: float = 0.0, **kwargs) -> bool:
        """``add`` at road coordinates; ``turn``: heading relative to the road direction."""
        x, y, direction = self.road.to_world(s, l)
        return self.add(dims, parts, float(x), float(y), float(direction) + turn, **kwargs)

    def finish(self, style: str, ego_pose: np.ndarray, rng: np.random.Generator) -> Scene:
        parts = np.concatenate(self.parts) if self.parts else np.zeros((0, PART_COLUMNS))
        poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, 4)
        poses[:, 2] = self.ground.height(poses[:, 0], poses[:, 1])  # everything stands on the ground
        solids = Solids.from_parts(parts, poses, np.asarray(self.owner))
        count = len(self.names)
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 7)
        boxes[:, 2] += self.ground.height(boxes[:, 0], boxes[:, 1])
        actors = Actors(
            name=np.asarray(self.names, dtype="<U16"), box=boxes,
            velocity=np.asarray(self.velocities, dtype=np.float64).reshape(-1, 2),
            track_id=rng.permutation(count).astype(np.int64) if count else np.zeros(0, dtype=np.int64),
            tags=np.asarray(self.tags, dtype="<U64"),
        )
        return Scene(style, self.road, self.ground, solids, actors, ego_pose)


class _Occupancy:
    """Oriented rectangles on the ground, bucketed in a coarse grid so that a new one is only tested against its
    neighbours (separating-axis test, in plain Python: a scene places a few hundred things)."""

    CELL = 8.0

    def __init__(self):
        self.rects: list[tuple[float, float, float, float, float, float]] = []  # cx, cy, hl, hw, cos, sin
        self.cells: dict[tuple[int, int], list[int]] = {}

    def _cells(self, x: float, y: float, reach: float):
        lo_x, hi_x = math.floor((x - reach) / self.CELL), math.floor((x + reach) / self.CELL)
        lo_y, hi_y = math.floor((y - reach) / self.CELL), math.floor((y + reach) / self.CELL)
        return [(i, j) for i in range(lo_x, hi_x + 1) for j in range(lo_y, hi_y + 1)]

    def add(self, x: float, y: float, half_length: float, half_width: float, yaw: float) -> None:
        index = len(self.rects)
        self.rects.append((x, y, half_length, half_width, math.cos(yaw), math.sin(yaw)))
        for cell in self._cells(x, y, math.hypot(half_length, half_width)):
            self.cells.setdefault(cell, []).append(index)

    def overlaps(self, x: float, y: float, half_length: float, half_width: float, yaw: float) -> bool:
        reach = math.hypot(half_length, half_width)
        candidate = (x, y, half_length, half_width, math.cos(yaw), math.sin(yaw))
        seen = set()
        for cell in self._cells(x, y, reach):
            for index in self.cells.get(cell, ()):
                if index not in seen:
                    seen.add(index)
                    if _rectangles_overlap(candidate, self.rects[index]):
                        return True
        return False


def _rectangles_overlap(a: tuple, b: tuple) -> bool:
    """Separating-axis test of two oriented rectangles (cx, cy, half length, half width, cos, sin)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx * dx + dy * dy > (math.hypot(a[2], a[3]) + math.hypot(b[2], b[3])) ** 2:
        return False
    for cos, sin in ((a[4], a[5]), (-a[5], a[4]), (b[4], b[5]), (-b[5], b[4])):
        reach_a = a[2] * abs(cos * a[4] + sin * a[5]) + a[3] * abs(-cos * a[5] + sin * a[4])
        reach_b = b[2] * abs(cos * b[4] + sin * b[5]) + b[3] * abs(-cos * b[5] + sin * b[4])
        if abs(dx * cos + dy * sin) > reach_a + reach_b:
            return False
    return True


def sample_scene(rng: np.random.Generator, style_weights: dict[str, float] | None = None, front: float = FRONT,
                 situations: tuple[str, ...] = ()) -> Scene:
    """Draw one scene with ``front`` metres of road ahead of the ego vehicle and the rare ``situations`` (names
    of ``SITUATIONS``) staged in it."""
    weights = style_weights or STYLE_WEIGHTS
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    style = STYLES[names[rng.choice(len(names), p=p / p.sum())]]

    road = _sample_road(style, rng)
    ground = _sample_ground(road, style, rng)
    layout = _Layout(road, ground, front, tuple(situations))
    layout.occupied.add(-0.4, 0.0, 2.6, 1.1, 0.0)  # the ego vehicle itself
    density = {name: math.exp(rng.normal(0.0, 0.7)) for name in ("vehicles", "pedestrians", "cyclists")}
    if rng.random() < 0.02:  # now and then an empty road
        density = {name: 0.05 for name in density}
    cross_s = float(rng.uniform(12.0, 45.0)) if rng.random() < style.cross_street else None

    _stage_situations(layout, style, cross_s, rng)  # first: they need their room
    if rng.random() < PARKING_LOT.get(style.name, 0.0):
        _parking_lot(layout, density["vehicles"], cross_s, rng)
    _buildings(layout, style, cross_s, rng)
    _backdrop(layout, style, rng)
    _street_furniture(layout, style, rng)
    _parked_rows(layout, style, density["vehicles"], cross_s, rng)
    _traffic(layout, style, density["vehicles"], cross_s, rng)
    _cyclists(layout, style, density["cyclists"], rng)
    _pedestrians(layout, style, density["pedestrians"], cross_s, rng)
    _seated_people(layout, style, rng)

    pitch, roll = rng.normal(0.0, 0.008), rng.normal(0.0, 0.005)
    ego_pose = np.eye(4)
    ego_pose[:3, :3] = _rotation(0.0, pitch, roll)
    return layout.finish(style.name, ego_pose, rng)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    return rotation_matrices(np.array([yaw]), np.array([pitch]), np.array([roll]))[0]


# --------------------------------------------------------------------------------------------- road, ground
def _sample_road(style: Style, rng: np.random.Generator) -> Road:
    lanes = int(rng.integers(style.lanes[0], style.lanes[1] + 1))
    lane_width = float(rng.uniform(*style.lane_width))
    parking = float(rng.uniform(2.0, 2.5)) if style.parking > 0.1 else float(rng.uniform(0.3, 1.2))
    curvature = 0.0 if rng.random() < 0.6 else float(rng.choice((-1, 1)) / rng.uniform(120.0, 600.0))
    ego_lane = int(rng.integers(0, lanes))
    road = Road(lanes=lanes, lane_width=lane_width, parking_width=parking,
                sidewalk_width=float(rng.uniform(*style.sidewalk)) if style.sidewalk[1] > 0 else 0.0,
                curvature=curvature, heading=float(rng.normal(0.0, 0.03)), ego_l=0.0)
    return replace(road, ego_l=road.lane_centre(ego_lane) + float(rng.normal(0.0, 0.2)))


def _sample_ground(road: Road, style: Style, rng: np.random.Generator) -> Ground:
    waves = []
    for _ in range(4):
        wavelength = rng.uniform(3.0, 25.0)
        direction = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / wavelength
        waves.append((rng.uniform(0.003, 0.012), k * math.cos(direction), k * math.sin(direction), rng.uniform(0, 6.3)))
    bumps = []
    for _ in range(2):
        wavelength, direction = rng.uniform(2.5, 8.0), rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / wavelength
        bumps.append((rng.uniform(0.0, 0.03), k * math.cos(direction), k * math.sin(direction), rng.uniform(0, 6.3)))
    return Ground(
        road=road, crossfall=float(rng.uniform(0.01, 0.025)), terrain_waves=np.asarray(bumps),
        kerb_height=float(rng.uniform(0.1, 0.16)) if road.sidewalk_width > 0 else 0.02,
        vertical_curve=float(rng.normal(0.0, 8e-5)), waves=np.asarray(waves),
        asphalt=float(rng.uniform(0.24, 0.36)), sidewalk=float(rng.uniform(0.28, 0.42)),
        terrain=float(rng.uniform(0.3, 0.5)), marking=float(rng.uniform(0.55, 0.75)),
        grass=float(rng.uniform(0.05, 0.4)) if style.name != "city" else 0.05,
        banks=tuple(float(rng.uniform(-0.15, 0.15)) if rng.random() < 0.3 else 0.0 for _ in range(2)),
    )


# ------------------------------------------------------------------------------------------------- clutter
def _outer_edge(road: Road) -> float:
    return road.half_width + road.sidewalk_width


def _buildings(layout: _Layout, style: Style, cross_s: float | None, rng: np.random.Generator) -> None:
    road = layout.road
    for side in (-1, 1):
        setback = float(rng.uniform(*style.setback))
        s = -BACK + float(rng.uniform(-10, 0))
        while s < layout.front:
            length = float(rng.uniform(8.0, 30.0) if style.name != "residential" else rng.uniform(8.0, 16.0))
            gap = float(rng.uniform(*style.building_gap))
            centre = s + length / 2
            if cross_s is not None and abs(centre - cross_s) < length / 2 + 8.0:
                s = cross_s + 8.0
                continue
            if style.name == "highway" and rng.random() < 0.5:
                _tree_line(layout, side, centre, length, setback, rng)
            else:
                depth = float(rng.uniform(8.0, 18.0))
                height = float(rng.uniform(*style.building_height))
                offset = _outer_edge(road) + setback + depth / 2 + float(rng.uniform(0, 2.0))
                dims, parts = A.building(length, depth, height, float(rng.uniform(0.25, 0.55)), facing=-side,
                                         rng=rng)
                layout.add_on_road(dims, parts, centre, side * offset, check=True, margin=0.0)
                if setback > 1.5 and rng.random() < style.yards:
                    _front_yard(layout, side, centre, length, setback, rng)
                if gap > 2.5 and rng.random() < style.yards:  # a garden between two houses: trees, shrubs
                    _garden(layout, side, s + length + gap / 2, gap, _outer_edge(road) + setback, rng)
            s += length + gap


def _backdrop(layout: _Layout, style: Style, rng: np.random.Generator) -> None:
    """Where the street bends or ends: buildings or trees across it, far ahead and far behind (what KITTI's upper
    beams meet in most directions)."""
    road = layout.road
    width = _outer_edge(road) + 15.0
    for start, end, chance in ((layout.front - 35.0, layout.front, 0.9), (-BACK, -40.0, 0.6)):
        if rng.random() >= chance:
            continue
        s = float(rng.uniform(start, end))
        l = -width
        while l < width:
            size = float(rng.uniform(8.0, 25.0))
            if style.name in ("highway", "campus") or rng.random() < 0.3:
                dims, parts = A.tree(rng)
                size = dims[0] + float(rng.uniform(0.0, 4.0))
            else:
                length = float(rng.uniform(10.0, 20.0))
                height = float(rng.uniform(*style.building_height))
                dims, parts = A.building(length, size, height, float(rng.uniform(0.25, 0.55)), facing=0, windows=False)
            layout.add_on_road(dims, parts, s + float(rng.normal(0, 3.0)), l + size / 2, turn=math.pi / 2, margin=0.0)
            l += size + float(rng.uniform(0.0, 6.0))


def _tree_line(layout: _Layout, side: int, centre: float, length: float, setback: float, rng) -> None:
    for s in np.arange(centre - length / 2, centre + length / 2, rng.uniform(4.0, 9.0)):
        dims, parts = A.tree(rng)
        layout.add_on_road(dims, parts, float(s), side * (_outer_edge(layout.road) + setback + rng.uniform(0, 6)),
                           margin=-0.5)


def _garden(layout: _Layout, side: int, s: float, gap: float, edge: float, rng) -> None:
    for _ in range(int(rng.integers(1, 4))):
        dims, parts = A.tree(rng) if rng.random() < 0.5 else A.bush(rng)
        layout.add_on_road(dims, parts, s + float(rng.uniform(-gap / 3, gap / 3)),
                           side * (edge + float(rng.uniform(1.0, 10.0))), margin=-0.5)


def _front_yard(layout: _Layout, side: int, centre: float, length: float, setback: float, rng) -> None:
    edge = _outer_edge(layout.road)
    kind = rng.random()
    if kind < 0.6:  # a fence or a hedge along the property line
        hedge = rng.random() < 0.5
        height = float(rng.uniform(0.9, 1.9))
        dims, parts = A.wall(length * rng.uniform(0.6, 0.95), height, 0.6 if hedge else 0.05,
                             reflectance=0.42 if hedge else 0.3, dropout=0.15 if hedge else 0.35,
                             scatter=0.12 if hedge else 0.0)
        layout.add_on_road(dims, parts, centre, side * (edge + 0.4), margin=0.0)
    elif kind < 0.75:
        for _ in range(int(rng.integers(1, 4))):
            dims, parts = A.bush(rng)
            layout.add_on_road(dims, parts, centre + rng.uniform(-length / 2, length / 2),
                               side * (edge + rng.uniform(0.8, setback - 0.5)), margin=0.1)
    if rng.random() < 0.25:  # a car parked in the drive
        dims, parts = _build("Car", rng, layout)
        layout.add_on_road(dims, parts, centre + rng.uniform(-length / 3, length / 3),
                           side * (edge + setback / 2 + 0.3), turn=side * math.pi / 2 + rng.normal(0, 0.1),
                           name="Car", margin=0.3)


def _street_furniture(layout: _Layout, style: Style, rng: np.random.Generator) -> None:
    road = layout.road
    kerb = road.half_width
    for side in (-1, 1):
        if style.name == "highway":  # a guard rail, in 10 m pieces: long thin solids cull poorly
            for s in np.arange(-BACK, layout.front, 10.0):
                dims, parts = A.wall(10.0, 0.75, 0.3, reflectance=0.45)
                layout.add_on_road(dims, parts, float(s) + 5.0, side * (kerb + 0.6), check=False)
            continue
        lamp_spacing = float(rng.uniform(22.0, 40.0))
        for s in np.arange(-BACK + rng.uniform(0, lamp_spacing), layout.front, lamp_spacing):
            dims, parts = A.pole(rng, lamp=True)
            layout.add_on_road(dims, [_turn_lamp(p, side) for p in parts], float(s), side * (kerb + 0.4), margin=0.0)
        count = rng.poisson(style.trees * (layout.front + BACK) / 100)
        for s in np.sort(rng.uniform(-BACK, layout.front, count)):
            dims, parts = A.tree(rng)
            layout.add_on_road(dims, parts, float(s), side * (kerb + rng.uniform(0.6, max(0.8, road.sidewalk_width
                                                                                            - 0.5))),
                               margin=-0.3)
        for _ in range(rng.poisson(3.0)):
            kind = rng.random()
            dims, parts = (A.pole(rng, lamp=False) if kind < 0.35 else A.bicycle(rng) if kind < 0.6
                           else A.bin_or_box(rng))
            layout.add_on_road(dims, parts, float(rng.uniform(-BACK, layout.front)),
                               side * (kerb + rng.uniform(0.3, max(0.5, road.sidewalk_width - 0.3))),
                               turn=float(rng.choice((0.0, math.pi / 2))), margin=0.1)
        for _ in range(rng.poisson(VERGE_BUSHES.get(style.name, 0.0) * (layout.front + BACK) / 100)):
            # shrubs and tall grass on the verge beyond the sidewalk: scattered, patchy returns
            dims, parts = A.bush(rng)
            layout.add_on_road(dims, parts, float(rng.uniform(-BACK, layout.front)),
                               side * (_outer_edge(road) + rng.uniform(0.5, 4.0)), margin=0.0)


def _turn_lamp(row: tuple, side: int) -> tuple:
    """Street lamps reach over the road: their arm points towards the centre line."""
    row = list(row)
    if abs(row[1]) > 0:  # the arm, offset along x in the template
        row[1], row[2], row[4] = 0.0, -side * row[1], math.pi / 2
    return tuple(row)


# -------------------------------------------------------------------------------------------------- actors
def _vehicle(rng: np.random.Generator, heavy: float, allow_tram: bool = False) -> str:
    if rng.random() >= heavy:
        return "Car"
    kinds, p = ("Van", "Truck", "Misc", "Tram"), [0.5, 0.28, 0.17, 0.3 if allow_tram else 0.0]
    p = np.asarray(p) / sum(p)
    return kinds[rng.choice(4, p=p)]


def _build(name: str, rng: np.random.Generator, layout: _Layout | None = None):
    """A labelled thing of class ``name``: its box and solids. At night (``layout.night``) cars are dark."""
    if name == "Car":
        body = A.car_body(rng)
        colour = float(rng.uniform(0.03, 0.08)) if layout is not None and layout.night else None
        return A.car(rng, A.car_size(rng, body), body=body, colour=colour)
    dims = A.sample_size(name, rng)
    return dims, A.TEMPLATES[name](rng, dims)[1]


def _parked_rows(layout: _Layout, style: Style, density: float, cross_s, rng: np.random.Generator) -> None:
    road = layout.road
    for side in (-1, 1):
        if rng.random() >= min(1.0, style.parking * min(density, 1.5)):
            continue
        fill = float(np.clip(rng.uniform(*style.park_fill) * min(density, 1.3), 0.05, 1.0))
        start = float(rng.uniform(-BACK, 20.0))
        end = start + float(rng.uniform(25.0, layout.front + BACK))
        lateral = side * (road.lanes * road.lane_width + road.parking_width / 2)
        s = start
        while s < min(end, layout.front):
            name = _vehicle(rng, 0.19)
            dims, parts = _build(name, rng, layout)
            gap = float(rng.uniform(0.6, 2.5))
            centre = s + dims[0] / 2
            near_cross = cross_s is not None and abs(centre - cross_s) < 8.0
            if rng.random() < fill and not near_cross:
                with_traffic = 0.0 if side < 0 else math.pi
                turn = with_traffic if rng.random() < 0.75 else with_traffic + math.pi
                shift, speed = 0.0, 0.0
                if name == "Car" and rng.random() < PULLING_OUT:  # nose out into the lane, about to leave
                    angle = float(rng.uniform(0.25, 0.6))
                    turn = with_traffic - side * angle
                    shift, speed = -side * float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.0, 1.5))
                layout.add_on_road(dims, parts, centre, lateral + shift + rng.normal(0, 0.15),
                                   turn=turn + rng.normal(0, 0.04), name=name, margin=0.1, speed=speed)
            s += dims[0] + gap


def _parking_lot(layout: _Layout, density: float, cross_s, rng: np.random.Generator) -> None:
    """A car park beside the road: one or two rows of bays, perpendicular or angled to the road, cars nose in or
    nose out, so that a car's heading says nothing of where it stands."""
    road = layout.road
    side = float(rng.choice((-1.0, 1.0)))
    start = float(rng.uniform(-25.0, 35.0))
    length = float(rng.uniform(20.0, 50.0))
    if cross_s is not None and start - 8.0 < cross_s < start + length + 8.0:
        return
    angle = float(rng.choice((math.pi / 2, math.radians(60), math.radians(45))))
    bay = 2.5 / math.sin(angle)  # along the road
    depth = 5.0 * math.sin(angle) + 1.0
    edge = _outer_edge(road) + float(rng.uniform(0.5, 3.0))
    fill = float(np.clip(rng.uniform(0.4, 0.95) * min(density, 1.3), 0.2, 1.0))
    rows = 1 if rng.random() < 0.5 else 2
    for row in range(rows):
        lateral = side * (edge + depth / 2 + row * (depth + 6.0))  # a 6 m aisle between rows
        tilt = angle if row == 0 else math.pi - angle  # the far row leans the other way
        for s in np.arange(start, start + length, bay):
            if rng.random() >= fill:
                continue
            name = _vehicle(rng, 0.08)
            dims, parts = _build(name, rng, layout)
            facing_in = rng.random() < 0.65
            turn = -side * tilt if facing_in else math.pi - side * tilt
            layout.add_on_road(dims, parts, float(s) + rng.normal(0, 0.1), lateral + rng.normal(0, 0.2),
                               turn=turn + rng.normal(0, 0.05), name=name, margin=0.05)
    # the lot's edge: low kerb stones or a hedge on the far side
    dims, parts = A.wall(length, float(rng.uniform(0.2, 1.2)), 0.4, reflectance=0.4, dropout=0.2, scatter=0.05)
    layout.add_on_road(dims, parts, start + length / 2, side * (edge + rows * depth + (rows - 1) * 6.0 + 1.0),
                       margin=0.0)


def _traffic(layout: _Layout, style: Style, density: float, cross_s, rng: np.random.Generator) -> None:
    road = layout.road
    for lane in [*range(road.lanes), *range(-road.lanes, 0)]:
        count = rng.poisson(style.traffic * density * (layout.front + BACK) / 100)
        towards = lane >= 0  # right-hand lanes run towards +s
        for s in rng.uniform(-BACK, layout.front, count):
            name = _vehicle(rng, style.heavy, allow_tram=style.name == "city" and lane in (-1, 0))
            dims, parts = _build(name, rng, layout)
            turn = (0.0 if towards else math.pi) + rng.normal(0, 0.03)
            layout.add_on_road(dims, parts, float(s), road.lane_centre(lane) + rng.normal(0, 0.25), turn=turn,
                               name=name, speed=float(rng.uniform(3.0, 15.0)), margin=0.8)
    if cross_s is not None:  # an intersection: traffic on the side street crossing ours, some of it turning
        for _ in range(rng.poisson(3.0 * density)):
            name = _vehicle(rng, style.heavy)
            dims, parts = _build(name, rng, layout)
            direction = rng.choice((-1, 1))
            l = float(rng.uniform(-1, 1) * (_outer_edge(road) + 25.0))
            turn = direction * math.pi / 2 + rng.normal(0, 0.05)
            if abs(l) < road.half_width + 4.0 and rng.random() < 0.4:  # turning in or out of our road
                turn += float(rng.choice((-1, 1)) * rng.uniform(0.4, 1.0))
            layout.add_on_road(dims, parts, cross_s + direction * 2.0 + rng.normal(0, 0.3), l, turn=turn, name=name,
                               speed=float(rng.uniform(0, 10)), margin=0.8)


def _cyclists(layout: _Layout, style: Style, density: float, rng: np.random.Generator) -> None:
    road = layout.road
    for _ in range(rng.poisson(style.cyclists * density * (layout.front + BACK) / 100)):
        side = -1 if rng.random() < 0.6 else 1
        where = rng.random()
        if where < 0.65:  # at the edge of the outer lane, mostly with the traffic
            lateral = side * (road.lanes * road.lane_width - 0.7)
            turn = (0.0 if side < 0 else math.pi) + (math.pi if rng.random() < 0.15 else 0.0)
        elif where < 0.88 and road.sidewalk_width > 2.0:  # on the sidewalk or a bike path, either way
            lateral = side * (road.half_width + rng.uniform(0.6, road.sidewalk_width - 0.5))
            turn = float(rng.choice((0.0, math.pi)))
        else:  # crossing or turning
            lateral = float(rng.uniform(-road.half_width, road.half_width))
            turn = float(rng.choice((-1, 1)) * rng.uniform(0.5, 2.6))
        dims, parts = _build("Cyclist", rng)
        layout.add_on_road(dims, parts, float(rng.uniform(-BACK, layout.front)), lateral + rng.normal(0, 0.2),
                           turn=turn + rng.normal(0, 0.08), name="Cyclist", speed=float(rng.uniform(2, 7)), margin=0.3)


def _person(rng: np.random.Generator, child: bool, vest: bool = False):
    dims = A.child_size(rng) if child else A.sample_size("Pedestrian", rng)
    return dims, A.pedestrian(rng, dims, vest=vest)[1]


def _pedestrians(layout: _Layout, style: Style, density: float, cross_s, rng: np.random.Generator) -> None:
    road = layout.road
    spots = []  # (s, l, heading relative to the road or None for any)
    for side in (-1, 1):
        width = max(road.sidewalk_width, 1.2)
        for _ in range(rng.poisson(style.pedestrians * density * (layout.front + BACK) / 100)):
            s = float(rng.uniform(-BACK, layout.front))
            l = side * (road.half_width + rng.uniform(0.4, width - 0.3))
            group = 1 if rng.random() < 0.65 else int(rng.integers(2, 5))
            walking = rng.random() < 0.7
            heading = float(rng.choice((0.0, math.pi))) if walking else None
            for k in range(group):
                spots.append((s + rng.normal(0, 0.8) * (k > 0), l + rng.normal(0, 0.5) * (k > 0), heading))
    if rng.random() < style.crossing * min(1.0, density):
        s = cross_s if cross_s is not None else float(rng.uniform(6.0, 40.0))
        direction = float(rng.choice((-1, 1)))
        for _ in range(int(rng.integers(1, 6))):
            spots.append((s + rng.normal(0, 1.2), rng.uniform(-road.half_width - 1, road.half_width + 1),
                          (direction if rng.random() < 0.75 else -direction) * math.pi / 2))
    for s, l, heading in spots:
        turn = rng.uniform(-math.pi, math.pi) if heading is None else heading + rng.normal(0, 0.25)
        child = rng.random() < CHILDREN
        dims, parts = _person(rng, child)
        layout.add_on_road(dims, parts, s, l, turn=float(turn), name="Pedestrian", speed=float(rng.uniform(0.8, 1.8)),
                           margin=0.05, tags="child" if child else "")


def _seated_people(layout: _Layout, style: Style, rng: np.random.Generator) -> None:
    """Benches on wide sidewalks, some with a person sitting (KITTI's Person_sitting), and now and then a
    mannequin or a statue: a person-shaped thing that is no one (unlabelled)."""
    road = layout.road
    if road.sidewalk_width < 2.5 or style.name == "highway":
        return
    for _ in range(rng.poisson(0.6 if style.name in ("city", "campus") else 0.2)):
        side = float(rng.choice((-1.0, 1.0)))
        s, l = float(rng.uniform(-BACK, layout.front)), side * (road.half_width + road.sidewalk_width - 0.5)
        facing = math.pi / 2 * -side  # towards the road
        if not layout.add_on_road(*A.bench(rng), s, l, turn=facing, margin=0.2):
            continue
        for offset in (-0.5, 0.5):
            if rng.random() < 0.35:
                dims, parts = A.person_sitting(rng)
                layout.add_on_road(dims, parts, s + offset, l - side * 0.1, turn=facing, name="Person_sitting",
                                   check=False)
    if rng.random() < 0.15:
        side = float(rng.choice((-1.0, 1.0)))
        dims, parts = A.pedestrian(rng, bag="none")
        layout.add_on_road(dims, parts, float(rng.uniform(-20.0, 50.0)),
                           side * (road.half_width + road.sidewalk_width - 0.3), turn=float(rng.uniform(-3, 3)),
                           margin=0.05)


# ----------------------------------------------------------------------------------------- the long tail
# Rare situations, drawn per drive (each with this probability), staged before the rest of the scene. The
# actors they put in carry the situation's name as a tag (and "child" for children).
SITUATIONS = {"construction_zone": 0.03, "children_group": 0.03, "cyclist_among_parked": 0.03,
              "car_behind_truck": 0.03, "rain": 0.025, "night": 0.03}
PARKING_LOT = {"residential": 0.2, "city": 0.2, "campus": 0.4}
VERGE_BUSHES = {"residential": 14.0, "highway": 16.0, "campus": 16.0, "city": 4.0}  # per 100 m per side
PULLING_OUT = 0.04  # share of parked cars leaving their space
CHILDREN = 0.03  # share of pedestrians who are children (groups of children apart)


def sample_situations(rng: np.random.Generator, probabilities: dict[str, float] | None = None) -> tuple[str, ...]:
    """The rare situations of one drive (usually none)."""
    probabilities = SITUATIONS if probabilities is None else probabilities
    return tuple(name for name in sorted(probabilities) if rng.random() < probabilities[name])


def _stage_situations(layout: _Layout, style: Style, cross_s, rng: np.random.Generator) -> None:
    road = layout.road
    situations = layout.situations
    if "construction_zone" in situations:
        _construction_zone(layout, rng)
    if "children_group" in situations:  # on the sidewalk: walking along it together, or waiting at the kerb
        side = float(rng.choice((-1.0, 1.0)))
        s = float(rng.uniform(8.0, 35.0))
        waiting = rng.random() < 0.4
        heading = float(rng.choice((0.0, math.pi)))
        for _ in range(int(rng.integers(4, 9))):
            dims, parts = _person(rng, child=True)
            if waiting:
                l, turn, speed = side * (road.half_width + float(rng.uniform(0.3, 1.2))), -side * math.pi / 2, 0.0
            else:
                l = side * (road.half_width + float(rng.uniform(0.3, max(0.6, road.sidewalk_width - 0.3))))
                turn, speed = heading, float(rng.uniform(0.8, 1.2))
            layout.add_on_road(dims, parts, s + float(rng.normal(0, 1.5)), l, turn=turn + rng.normal(0, 0.2),
                               name="Pedestrian", speed=speed, margin=0.05, tags="children_group,child")
    if "cyclist_among_parked" in situations:  # a parked row with cyclists waiting in its gaps to pull out
        side = -1.0
        lateral = side * (road.lanes * road.lane_width + road.parking_width / 2)
        s = float(rng.uniform(5.0, 15.0))
        for k in range(int(rng.integers(6, 10))):
            if k % 3 == 1:
                dims, parts = _build("Cyclist", rng)
                layout.add_on_road(dims, parts, s + dims[0] / 2, lateral + rng.normal(0, 0.2),
                                   turn=float(rng.uniform(0.0, 0.5)), name="Cyclist", margin=0.05,
                                   tags="cyclist_among_parked")
            else:
                dims, parts = _build("Car", rng, layout)
                layout.add_on_road(dims, parts, s + dims[0] / 2, lateral + rng.normal(0, 0.1),
                                   turn=float(rng.choice((0.0, math.pi), p=(0.8, 0.2))), name="Car", margin=0.05)
            s += dims[0] + float(rng.uniform(0.8, 2.0))
    if "car_behind_truck" in situations:  # a truck parked at the kerb ahead, a car parked just beyond it
        side = float(rng.choice((-1.0, 1.0)))
        dims, parts = _build("Truck", rng)
        s = float(rng.uniform(12.0, 30.0))
        lateral = side * (road.lanes * road.lane_width + dims[1] / 2 + 0.2)
        turn = 0.0 if side < 0 else math.pi
        if layout.add_on_road(dims, parts, s, lateral, turn=turn, name="Truck", margin=0.3):
            car_dims, car_parts = _build("Car", rng, layout)
            inward = -side * float(rng.uniform(0.3, 0.9))  # peeking out a little towards the road
            layout.add_on_road(car_dims, car_parts, s + dims[0] / 2 + car_dims[0] / 2 + float(rng.uniform(0.8, 3.0)),
                               lateral + inward, turn=turn + rng.normal(0, 0.05), name="Car", margin=0.1,
                               tags="car_behind_truck")


def _construction_zone(layout: _Layout, rng: np.random.Generator) -> None:
    """Road works in the outer oncoming lane ahead (never the ego car's own): a line of cones and barriers, a truck
    or a trailer, workers in reflective vests."""
    road = layout.road
    side = 1.0
    start, length = float(rng.uniform(10.0, 30.0)), float(rng.uniform(15.0, 35.0))
    lane = side * (road.lanes * road.lane_width - road.lane_width / 2)
    inner = lane - side * road.lane_width / 2
    for s in np.arange(start, start + length, 2.5):  # cones on the lane line
        layout.add_on_road((0.4, 0.4, 0.75), [_cone()], float(s), inner, margin=0.0)
    for s in (start - 1.0, start + length + 1.0):  # barriers across the lane
        dims, parts = A.wall(road.lane_width * 0.8, 1.0, 0.1, reflectance=A.RETRO, dropout=0.3)
        layout.add_on_road(dims, parts, s, lane, turn=math.pi / 2, margin=0.0)
    name = "Truck" if rng.random() < 0.5 else "Misc"
    dims, parts = _build(name, rng)
    layout.add_on_road(dims, parts, start + length / 2, lane, turn=rng.normal(0, 0.05), name=name, margin=0.3,
                       tags="construction_zone")
    for _ in range(int(rng.integers(2, 5))):
        dims = A.sample_size("Pedestrian", rng)
        parts = A.pedestrian(rng, dims, vest=True)[1]
        layout.add_on_road(dims, parts, float(rng.uniform(start, start + length)), lane + rng.normal(0, 0.8),
                           turn=float(rng.uniform(-math.pi, math.pi)), name="Pedestrian", margin=0.1,
                           speed=float(rng.uniform(0.0, 0.8)), tags="construction_zone")


def _cone() -> tuple:
    """A traffic cone: a narrow cylinder banded with retro-reflective foil."""
    return solid_part(CYLINDER, (0.0, 0.0, 0.375), (0.15, 0.15, 0.375), reflectance=A.RETRO, dropout=0.2)
