"""The pieces of the synthetic world: solids and ray casting, road and ground, sensor, actors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssal.data.synthetic import actors
from ssal.data.synthetic.ground import Ground
from ssal.data.synthetic.raycast import GROUND, NOTHING, angle_blocks, candidate_pairs, cast
from ssal.data.synthetic.road import Road
from ssal.data.synthetic.scene import _rectangles_overlap, sample_scene
from ssal.data.synthetic.sensor import Lidar, LidarModel, hdl64e_elevations, reflectance_echo
from ssal.data.synthetic.solids import BOX, CYLINDER, ELLIPSOID, Solids, intersect, part


def _solids(*parts_and_poses) -> Solids:
    parts = [p for p, _ in parts_and_poses]
    poses = [pose for _, pose in parts_and_poses]
    return Solids.from_parts(np.array(parts), np.array(poses), np.arange(len(parts)))


def _cast_one(solids: Solids, direction) -> tuple[float, float]:
    direction = np.asarray(direction, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    t, cosine = intersect(solids, np.zeros(1, dtype=np.int64), np.zeros(3), direction[:, None])
    return float(t[0]), float(cosine[0])


def test_ray_meets_box_cylinder_and_ellipsoid_where_geometry_says():
    box = _solids((part(BOX, (0, 0, 0), (1, 1, 1)), (10, 0, 0, 0)))
    assert _cast_one(box, (1, 0, 0)) == pytest.approx((9.0, 1.0))
    turned = _solids((part(BOX, (0, 0, 0), (1, 1, 1)), (10, 0, 0, math.pi / 4)))
    assert _cast_one(turned, (1, 0, 0))[0] == pytest.approx(10 - math.sqrt(2))  # meets the corner edge
    pole = _solids((part(CYLINDER, (0, 0, 0), (0.5, 0.5, 2)), (5, 0, 0, 0)))
    assert _cast_one(pole, (1, 0, 0)) == pytest.approx((4.5, 1.0))
    wheel = _solids((part(CYLINDER, (0, 0, 0), (0.5, 0.5, 0.1), roll=math.pi / 2), (0, 5, 0, 0)))
    assert _cast_one(wheel, (0, 1, 0)) == pytest.approx((4.9, 1.0))  # axis along y: the flat face first
    ball = _solids((part(ELLIPSOID, (0, 0, 0), (2, 2, 2)), (10, 0, 0, 0)))
    t, cosine = _cast_one(ball, (1, 0, 0))
    assert (t, cosine) == pytest.approx((8.0, 1.0))
    assert _cast_one(ball, (0, 1, 0))[0] == math.inf  # looking away
    around = _solids((part(BOX, (0, 0, 0), (3, 3, 3)), (0, 0, 0, 0)))
    assert _cast_one(around, (1, 0, 0))[0] == math.inf  # the sensor inside a solid sees out of it


def test_culling_misses_no_hit_that_brute_force_finds():
    rng = np.random.default_rng(0)
    parts, poses = [], []
    for k in range(60):
        kind = (BOX, CYLINDER, ELLIPSOID)[k % 3]
        parts.append(part(kind, (0, 0, rng.uniform(0, 2)), rng.uniform(0.1, 4, 3), yaw=rng.uniform(-3, 3),
                          pitch=rng.uniform(-0.5, 0.5)))
        distance, angle = rng.uniform(1.5, 40), rng.uniform(-np.pi, np.pi)
        poses.append((distance * math.cos(angle), distance * math.sin(angle), -1.7, rng.uniform(-3, 3)))
    parts.append(part(BOX, (0, 0, 0), (60, 0.2, 1.0)))  # a long wall beside the sensor
    poses.append((10.0, 4.0, -1.5, 0.0))
    solids = Solids.from_parts(np.array(parts), np.array(poses), np.arange(len(parts)))
    lidar = Lidar(LidarModel(elevations_deg=tuple(hdl64e_elevations(16)), columns=360, body=()))
    origin = np.zeros(3)
    ray, solid = candidate_pairs(*angle_blocks(solids.corners(), lidar.elevations, 360, 80.0), 360)
    culled = np.full(len(lidar.directions), np.inf)
    t, _ = intersect(solids, solid, origin, lidar.directions.T[:, ray])
    np.minimum.at(culled, ray, t)

    every_ray = np.tile(np.arange(len(lidar.directions)), len(solids))
    every_solid = np.repeat(np.arange(len(solids)), len(lidar.directions))
    brute = np.full(len(lidar.directions), np.inf)
    t, _ = intersect(solids, every_solid, origin, lidar.directions.T[:, every_ray])
    np.minimum.at(brute, every_ray, t)
    brute[brute > 80.0] = np.inf
    culled[culled > 80.0] = np.inf
    assert np.isfinite(brute).sum() > 500
    np.testing.assert_array_equal(culled, brute)
    assert len(ray) < 0.2 * len(every_ray)  # and the cull does cut the work


@pytest.mark.parametrize("curvature", [0.0, 1 / 150, -1 / 400])
def test_road_coordinates_round_trip(curvature):
    road = Road(curvature=curvature, heading=0.05, ego_l=-1.6)
    s = np.linspace(-50, 80, 27)
    l = np.linspace(-15, 15, 27)
    x, y, _ = road.to_world(s, l)
    back_s, back_l = road.to_road(x, y)
    np.testing.assert_allclose(back_s, s, atol=1e-9)
    np.testing.assert_allclose(back_l, l, atol=1e-9)
    ego_x, ego_y, _ = road.to_world(0.0, -1.6)
    assert (float(ego_x), float(ego_y)) == pytest.approx((0.0, 0.0))


def test_rays_land_on_the_ground_and_the_ego_stands_at_zero():
    road = Road(lanes=1, lane_width=3.2, parking_width=2.2, sidewalk_width=2.5, curvature=1 / 200, ego_l=-1.6)
    waves = np.array([[0.01, 0.5, 0.2, 0.3], [0.008, -0.1, 0.9, 1.0]])
    ground = Ground(road=road, crossfall=0.02, kerb_height=0.14, vertical_curve=5e-5, waves=waves)
    assert float(ground.height(np.zeros(1), np.zeros(1))[0]) == pytest.approx(0.0, abs=1e-12)
    lidar = Lidar(LidarModel(body=()))
    origin = np.array([0.0, 0.0, 1.73])
    t = ground.intersect(origin, lidar.directions, 80.0)
    hit = np.isfinite(t)
    points = origin + t[hit, None] * lidar.directions[hit]
    assert hit.sum() > 0.8 * (lidar.directions[:, 2] < -0.03).sum()
    assert np.abs(points[:, 2] - ground.height(points[:, 0], points[:, 1])).max() < 0.005
    _, l = road.to_road(points[:, 0], points[:, 1])
    kerb = np.abs(np.abs(l) - road.half_width) < 0.05
    assert kerb.sum() > 50  # rays meeting the kerb itself settle too


def test_hdl64e_beams_span_kitti_elevations_with_a_denser_upper_block():
    elevations = hdl64e_elevations()
    assert len(elevations) == 64
    assert elevations[0] == pytest.approx(2.0) and elevations[-1] == pytest.approx(-24.8)
    assert np.all(np.diff(elevations) < 0)
    upper, lower = -np.diff(elevations[:32]).mean(), -np.diff(elevations[32:]).mean()
    assert upper == pytest.approx(1 / 3, abs=0.01) and lower == pytest.approx(0.5, abs=0.03)
    assert len(hdl64e_elevations(32)) == 32


def test_reflectance_is_kitti_like_steps_in_zero_one():
    rng = np.random.default_rng(0)
    distance = rng.uniform(3, 80, 20000)
    echo = reflectance_echo(rng.uniform(0, 1, 20000), rng.uniform(0, 1, 20000), distance, rng)
    assert echo.min() >= 0 and echo.max() <= 1
    np.testing.assert_allclose(echo * 100, np.round(echo * 100), atol=1e-6)
    assert (echo[distance < 15] == 0).mean() < 0.15 < (echo[distance > 50] == 0).mean()
    plates = reflectance_echo(np.full(100, 0.95), np.full(100, 0.05), np.full(100, 10.0), rng)
    assert np.median(plates[plates > 0]) > 0.6  # retro-reflectors stay bright at grazing incidence


@pytest.mark.parametrize("name", sorted(actors.TEMPLATES))
def test_an_actors_returns_fall_inside_its_label_box(name):
    rng = np.random.default_rng(3)
    lidar = Lidar(LidarModel(body=()))
    flat = Ground(road=Road(sidewalk_width=0.0), crossfall=0.0, kerb_height=0.0)
    for k in range(3):
        dims, parts = actors.TEMPLATES[name](rng)
        distance = 6.0 + dims[0]
        yaw = rng.uniform(-np.pi, np.pi)
        solids = Solids.from_parts(np.array(parts), np.tile([distance, 0.0, 0.0, yaw], (len(parts), 1)),
                                   np.zeros(len(parts)))
        hits = cast(np.array([0.0, 0.0, 1.73]), np.eye(3), lidar.directions, lidar.elevations,
                    lidar.model.columns, flat, solids, 80.0)
        on_actor = hits.surface >= 0
        assert on_actor.sum() > 20
        points = hits.distance[on_actor, None] * lidar.directions[on_actor] + [0.0, 0.0, 1.73]
        local = points - [distance, 0.0, 0.0]
        c, s = math.cos(-yaw), math.sin(-yaw)
        x, y = c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]
        length, width, height = dims
        assert np.abs(x).max() <= length / 2 + 0.02
        assert np.abs(y).max() <= width / 2 + 0.02
        assert local[:, 2].min() >= -0.02 and local[:, 2].max() <= height + 0.02


def test_sizes_follow_kitti_statistics():
    rng = np.random.default_rng(0)
    for name, expected in (("Car", (3.9, 1.6, 1.56)), ("Pedestrian", (0.8, 0.6, 1.73)), ("Cyclist", (1.76, 0.6, 1.73))):
        sizes = np.array([actors.sample_size(name, rng) for _ in range(2000)])
        np.testing.assert_allclose(sizes.mean(axis=0), expected, rtol=0.05)
        assert np.all(sizes.std(axis=0) > 0.05)


def test_rectangle_overlap_is_the_separating_axis_answer():
    def rect(x, y, half_l, half_w, yaw):
        return (x, y, half_l, half_w, math.cos(yaw), math.sin(yaw))

    assert _rectangles_overlap(rect(0, 0, 2, 1, 0), rect(3.9, 0, 2, 1, 0))
    assert not _rectangles_overlap(rect(0, 0, 2, 1, 0), rect(4.1, 0, 2, 1, 0))
    assert _rectangles_overlap(rect(0, 0, 1, 1, math.pi / 4), rect(2.8, 0, 1, 1, math.pi / 4))  # corners meet
    assert not _rectangles_overlap(rect(0, 0, 1, 1, math.pi / 4), rect(2.9, 0, 1, 1, math.pi / 4))
    assert _rectangles_overlap(rect(0, 0, 1, 1, math.pi / 4), rect(2.7, 0, 1.5, 0.2, 0))


def test_a_scene_keeps_its_things_apart_and_on_the_ground():
    scene = sample_scene(np.random.default_rng(7))
    boxes = scene.actors.box
    assert len(boxes) > 0
    ground = scene.ground.height(boxes[:, 0], boxes[:, 1])
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 5] / 2, ground, atol=1e-9)
    rects = [(b[0], b[1], b[3] / 2, b[4] / 2, math.cos(b[6]), math.sin(b[6])) for b in boxes]
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            assert not _rectangles_overlap(rects[i], rects[j])


def test_a_scan_has_kitti_density_and_knows_where_points_came_from():
    lidar = Lidar(LidarModel())
    rng = np.random.default_rng(11)
    scene = sample_scene(rng)
    origin = scene.ego_pose[:3, 2] * 1.73
    scan = lidar.scan(origin, scene.ego_pose[:3, :3], scene.ground, scene.solids, len(scene.actors), rng)
    assert 80_000 < len(scan.points) < 150_000  # KITTI: about 110k-125k
    assert scan.points.dtype == np.float32
    assert np.hypot(scan.points[:, 0], scan.points[:, 1]).max() <= 80.5
    assert np.all(scan.visible <= scan.potential)
    assert set(np.unique(scan.owner)) <= set(range(-1, len(scene.actors)))
    for actor in np.unique(scan.owner[scan.owner >= 0])[:5]:
        box = scene.actors.box[actor]
        centre = box[:3] - origin  # the ego's tilt is small: the points lie near the box
        assert np.linalg.norm(scan.points[scan.owner == actor, :3].mean(axis=0) - centre) < max(box[3:6])
    assert GROUND == -1 and NOTHING == -2


def _side_view(parts, length: float, yaw: float = 0.0, distance: float = 8.0):
    """Ray-cast an actor standing ``distance`` m to the left of a sensor (seen side-on), returns the hit points in
    the actor's frame (x forward) and the reflectance of the solid each came from."""
    lidar = Lidar(LidarModel(body=()))
    flat = Ground(road=Road(sidewalk_width=0.0), crossfall=0.0, kerb_height=0.0)
    solids = Solids.from_parts(np.array(parts), np.tile([0.0, distance, 0.0, yaw], (len(parts), 1)),
                               np.zeros(len(parts)))
    origin = np.array([0.0, 0.0, 1.73])
    hits = cast(origin, np.eye(3), lidar.directions, lidar.elevations, lidar.model.columns, flat, solids, 80.0)
    on = hits.surface >= 0
    world = hits.distance[on, None] * lidar.directions[on] + origin - [0.0, distance, 0.0]
    c, s = math.cos(-yaw), math.sin(-yaw)
    local = np.stack((c * world[:, 0] - s * world[:, 1], s * world[:, 0] + c * world[:, 1], world[:, 2]), axis=1)
    return local, solids.reflectance[hits.surface[on]]


@pytest.mark.parametrize("body", actors.BODIES)
def test_a_cars_front_and_back_differ_to_a_lidar(body):
    """Seen from the side, the back of every body stands higher than its bonnet (boot lid, tailgate, bed walls),
    and only the back carries retro-reflectors (tail lamps, plate)."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        dims, parts = actors.car(rng, body=body)
        length = dims[0]
        points, reflectance = _side_view(parts, length)
        front, back = points[points[:, 0] > length / 4], points[points[:, 0] < -length / 4]
        assert len(front) > 20 and len(back) > 20
        assert back[:, 2].max() > front[:, 2].max() + 0.05
        retro_seen = 0
        for yaw in (0.0, math.pi / 2, -math.pi / 2, math.pi):  # side-on, back to the sensor, facing it, side-on
            seen, shine = _side_view(parts, length, yaw=yaw)
            retro = seen[shine >= 0.9]
            assert np.all(retro[:, 0] < 0)  # every retro-reflective return comes from the back half
            retro_seen += len(retro)
        assert retro_seen > 0


def test_a_pedestrians_feet_point_forward_and_a_backpack_sits_behind():
    rng = np.random.default_rng(2)
    low_x, pack_x = [], []
    for _ in range(8):
        dims, parts = actors.pedestrian(rng, bag="backpack")
        points, _ = _side_view(parts, dims[0], distance=5.0)
        low_x.append(points[points[:, 2] < 0.09, 0].mean())
        chest = points[(points[:, 2] > 0.55 * dims[2]) & (points[:, 2] < 0.8 * dims[2])]
        pack_x.append(chest[:, 0].min())
    assert np.mean(low_x) > 0.02  # toes ahead of the ankles
    child = actors.child_size(rng)
    assert child[2] < 1.5 and child[0] >= 0.35
    torso_depth = 0.12
    assert np.mean(pack_x) < -torso_depth  # something sticks out behind the back


def _car_returns(colour: float, distance: float, seed: int = 0) -> int:
    """Returns a default-model LiDAR gets from a sedan of paint ``colour`` seen side-on ``distance`` m ahead."""
    lidar = Lidar(LidarModel(body=()))
    flat = Ground(road=Road(sidewalk_width=0.0), crossfall=0.0, kerb_height=0.0)
    _, parts = actors.car(np.random.default_rng(1), body="sedan", colour=colour)
    solids = Solids.from_parts(np.array(parts), np.tile([distance, 0.0, 0.0, math.pi / 2], (len(parts), 1)),
                               np.zeros(len(parts), dtype=np.int64))
    scan = lidar.scan(np.array([0.0, 0.0, 1.73]), np.eye(3), flat, solids, 1, np.random.default_rng(seed))
    return int((scan.owner == 0).sum())


def test_dark_cars_fade_with_range_as_on_kittis_lidar():
    """KITTI's HDL-64E loses the weak echoes of dark paint at range: a black car is as dense as a white one nearby,
    and much sparser at 45 m (the weak-return threshold the real sample's far-car point counts were matched with)."""
    dark, bright = 0.06, 0.55
    near_dark, near_bright = _car_returns(dark, 10.0), _car_returns(bright, 10.0)
    far_dark, far_bright = _car_returns(dark, 45.0), _car_returns(bright, 45.0)
    assert near_bright > 300 and far_bright > 20
    assert near_dark >= 0.8 * near_bright
    assert far_dark <= 0.4 * far_bright
