"""Instance splitting: hand-computed cases and the fast path against the per-mask oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.reference import split_instances_reference

CAR, PERSON = 13, 11


def _as_list(found: inst.Instances) -> list[tuple[list, int, int]]:
    return [(m.tolist(), int(c), int(a)) for m, c, a in zip(found.masks(), found.classes, found.areas)]


def _oracle_list(found: list) -> list[tuple[list, int, int]]:
    return [(m.tolist(), c, a) for m, c, a in found]


def test_depth_step_splits_two_touching_cars() -> None:
    semantic = np.zeros((8, 12), np.uint8)
    semantic[2:6, 1:11] = CAR
    depth = np.zeros((8, 12))
    depth[:, 6:] = 1.0  # a car behind the other: depth jumps between columns 5 and 6
    gradient = inst.depth_gradient(depth)
    found = inst.split_instances(semantic, gradient, tau=0.2, min_area=4, dilation_iters=0)
    assert found.classes.tolist() == [CAR, CAR]
    masks = found.masks()
    # the edge band around the jump belongs to no instance without dilation
    assert all(m[:, 5:7].sum() == 0 for m in masks)
    assert sorted(int(m.sum()) for m in masks) == sorted(found.areas.tolist())
    # with dilation the band is reclaimed by the first (larger or, on ties, left) car
    grown = inst.split_instances(semantic, gradient, tau=0.2, min_area=4, dilation_iters=3)
    assert grown.areas.sum() == 40 and np.array_equal(grown.mask(0) | grown.mask(1), semantic == CAR)


def test_no_edges_gives_one_instance_per_component() -> None:
    semantic = np.zeros((6, 10), np.uint8)
    semantic[1:3, 1:4] = PERSON  # 6 px
    semantic[4:6, 6:10] = PERSON  # 8 px
    semantic[0, 9] = CAR  # 1 px: below min_area
    found = inst.cc_instances(semantic, min_area=2)
    assert found.classes.tolist() == [PERSON, PERSON] and found.areas.tolist() == [8, 6]
    assert (found.second_map() == -1).all()


def test_small_class_has_no_instances() -> None:
    semantic = np.full((4, 4), 0, np.uint8)
    semantic[0, :3] = CAR
    found = inst.split_instances(semantic, np.zeros((4, 4)), tau=0.5, min_area=4)
    assert len(found) == 0 and (found.first_map() == -1).all()


def test_dilation_reclaims_pixels_of_a_later_component_so_instances_overlap() -> None:
    # A depth step between columns 7 and 8 (no blur) makes columns 7-8 edges: components are
    # columns 0-6 (21 px) and 9-13 (15 px). The big one's 3-step dilation reaches column 9.
    semantic = np.full((3, 14), CAR, np.uint8)
    depth = np.zeros((3, 14))
    depth[:, 8:] = 1.0
    found = inst.split_instances(semantic, inst.depth_gradient(depth, sigma=0), tau=0.5, min_area=3)
    big, small = found.mask(0), found.mask(1)
    assert big[:, :10].all() and not big[:, 10:].any()  # reclaimed the edges and column 9
    assert small[:, 9:].all() and not small[:, :9].any()  # keeps its own column 9
    assert found.areas.tolist() == [30, 15]
    second = found.second_map()
    assert (second[:, 9] == 1).all() and (second[:, :9] == -1).all()
    oracle = split_instances_reference(semantic, depth, 0.5, 3, sigma=0)
    assert _as_list(found) == _oracle_list(oracle)


def _random_scene(seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    coarse = rng.choice([0, 2, CAR, PERSON, 18], size=(height // 4 + 1, width // 4 + 1), p=[0.3, 0.1, 0.3, 0.2, 0.1])
    semantic = np.kron(coarse, np.ones((4, 4), np.uint8))[:height, :width].astype(np.uint8)
    flips = rng.random((height, width)) < 0.05
    semantic[flips] = CAR
    depth = np.kron(rng.random((height // 6 + 1, width // 6 + 1)), np.ones((6, 6)))[:height, :width]
    depth += 0.02 * rng.random((height, width))
    return semantic, depth


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(8, 40), width=st.integers(8, 40),
       tau=st.sampled_from([0.05, 0.2, 0.5, 1.5]), min_area=st.sampled_from([1, 3, 10, 30]),
       dilation=st.integers(0, 3), sigma=st.sampled_from([0.0, 1.0]))
def test_fast_split_equals_oracle(seed: int, height: int, width: int, tau: float, min_area: int,
                                  dilation: int, sigma: float) -> None:
    semantic, depth = _random_scene(seed, height, width)
    fast = inst.split_instances(semantic, inst.depth_gradient(depth, sigma), tau, min_area, dilation)
    oracle = split_instances_reference(semantic, depth, tau, min_area, dilation, sigma)
    assert _as_list(fast) == _oracle_list(oracle)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(4, 40), width=st.integers(4, 40),
       min_area=st.sampled_from([1, 10, 25]))
def test_fast_cc_equals_oracle(seed: int, height: int, width: int, min_area: int) -> None:
    semantic, _ = _random_scene(seed, height, width)
    assert _as_list(inst.cc_instances(semantic, min_area)) == _oracle_list(
        split_instances_reference(semantic, None, None, min_area))


def test_components_reused_across_min_areas_match_direct_calls() -> None:
    semantic, depth = _random_scene(5, 64, 96)
    gradient = inst.depth_gradient(depth)
    things = inst.thing_pixels(semantic)
    components = inst.components_for_classes(things, inst.depth_edges(gradient, 0.2), 3)
    for min_area in (1, 5, 20, 100):
        shared = inst.instances_from_components(components, min_area, things)
        direct = inst.split_instances(semantic, gradient, 0.2, min_area)
        assert _as_list(shared) == _as_list(direct)


def test_gradient_is_strict_threshold() -> None:
    gradient = np.array([[0.2, 0.2000001, 0.1]])
    assert inst.depth_edges(gradient, 0.2).tolist() == [[False, True, False]]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(1, 30), width=st.integers(1, 30), radius=st.integers(0, 4))
def test_diamond_minimum_equals_scipy_minimum_filter(seed: int, height: int, width: int, radius: int) -> None:
    from scipy import ndimage

    values = np.random.default_rng(seed).integers(0, 9, (height, width)).astype(np.int32)
    values[values > 6] = 1000
    footprint = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), radius) if radius else np.ones((1, 1))
    expected = ndimage.minimum_filter(values, footprint=footprint, mode="constant", cval=1000)
    assert np.array_equal(inst.diamond_minimum(values, radius, fill=1000), expected)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(1, 40), width=st.integers(1, 40),
       sigma=st.sampled_from([0.0, 0.5, 1.0, 2.0]), box=st.tuples(*[st.floats(0, 1)] * 4))
def test_gradient_in_a_region_is_bitwise_the_full_gradient(seed: int, height: int, width: int, sigma: float,
                                                            box: tuple[float, ...]) -> None:
    depth = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    r0, r1 = sorted(int(v * height) for v in box[:2])
    c0, c1 = sorted(int(v * width) for v in box[2:])
    region = (slice(r0, r1), slice(c0, c1))
    full = inst.depth_gradient(depth, sigma)
    part = inst.depth_gradient(depth, sigma, region)
    assert np.array_equal(part[region], full[region])
    outside = np.ones(depth.shape, bool)
    outside[region] = False
    assert (part[outside] == 0).all()


def _overlapping_instances() -> inst.Instances:
    for seed in range(50):
        semantic, depth = _random_scene(seed, 40, 40)
        found = inst.split_instances(semantic, inst.depth_gradient(depth), 0.2, 3, 3)
        if (found.second >= 0).any():
            return found
    raise AssertionError("no random scene with overlapping instances")


def test_subset_keeps_order_and_hands_shared_pixels_on() -> None:
    found = _overlapping_instances()
    keep = np.arange(len(found)) % 2 == 1
    part = found.subset(keep)
    assert part.classes.tolist() == found.classes[keep].tolist()
    for new, old in enumerate(np.flatnonzero(keep)):
        assert np.array_equal(part.mask(new), found.mask(old))
    assert (part.first >= 0).sum() == np.logical_or.reduce([found.mask(i) for i in np.flatnonzero(keep)]).sum()


def test_flat_masks_equal_the_masks_overlaps_included() -> None:
    """The streamed masks (one buffer, O(pixels)) against the per-instance reference."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        semantic = rng.choice(np.array([0, 11, 13], np.uint8), size=(24, 40), p=[0.3, 0.3, 0.4])
        gradient = rng.random((24, 40)) * 0.4
        found = inst.split_instances(semantic, gradient, tau=0.2, min_area=3)
        streamed = [row.reshape(found.shape).copy() for row in found.flat_masks()]
        assert len(streamed) == len(found)
        assert all(np.array_equal(a, b) for a, b in zip(streamed, found.masks()))
