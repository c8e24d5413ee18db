"""Jerk at transitions (hmu_demo.eval.smoothness) on motions whose derivatives are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from hmu_demo.eval.smoothness import jerk_magnitude, segment_boundaries, transition_jerk


def _clip(positions: np.ndarray, joints: int = 22) -> np.ndarray:
    """(T,) x-positions -> (T, joints, 3), every joint moving alike."""
    out = np.zeros((positions.shape[0], joints, 3))
    out[..., 0] = positions[:, None]
    return out


def test_jerk_of_known_curves() -> None:
    t = np.arange(60) / 20.0
    assert np.allclose(jerk_magnitude(_clip(3.0 + 0.7 * t)), 0.0, atol=1e-9)        # constant velocity
    assert np.allclose(jerk_magnitude(_clip(0.5 * t ** 2)), 0.0, atol=1e-9)          # constant acceleration
    assert np.allclose(jerk_magnitude(_clip(t ** 3)), 6.0, atol=1e-6)                # d3/dt3 t^3 = 6 m/s^3
    assert jerk_magnitude(_clip(t ** 3)).shape == (57, 22)


def test_abrupt_transition_stands_out() -> None:
    t = np.arange(100) / 20.0
    smooth = np.sin(2 * np.pi * 0.5 * t)
    abrupt = smooth.copy()
    abrupt[50:] += 1.5 * (t[50:] - t[50])         # velocity jumps by 1.5 m/s at frame 50
    calm = transition_jerk(_clip(smooth), [50])
    rough = transition_jerk(_clip(abrupt), [50])
    assert calm.transition_ratio == pytest.approx(calm.transition_jerk / calm.mean_jerk)
    assert 0.5 < calm.transition_ratio < 2.0
    assert rough.transition_ratio > 3.0
    assert rough.boundaries == (50,)


def test_boundaries_too_close_to_the_ends_are_skipped() -> None:
    clip = _clip(np.sin(np.arange(30) / 3.0))
    report = transition_jerk(clip, [2, 28], window=5)
    assert report.transition_jerk is None and report.transition_ratio is None and report.boundaries == ()
    assert report.mean_jerk > 0


def test_segment_boundaries_ignore_flicker_and_repeats() -> None:
    segments = [{"action": "walk", "start": 0, "end": 40}, {"action": "punch", "start": 40, "end": 42},
                {"action": "walk", "start": 42, "end": 60}, {"action": "kick", "start": 60, "end": 90},
                {"action": "kick", "start": 90, "end": 100}]
    assert segment_boundaries(segments) == [40, 42, 60]
    assert segment_boundaries(segments, min_frames=5) == [60]


@pytest.mark.parametrize("bad", [np.zeros((3, 22, 3)), np.zeros((10, 22)), np.zeros((10, 22, 2))])
def test_bad_input_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        jerk_magnitude(bad)
    with pytest.raises(ValueError, match="window"):
        transition_jerk(np.zeros((20, 22, 3)), [10], window=0)
