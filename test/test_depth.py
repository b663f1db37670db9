"""3-D centroids from depth + intrinsics: exact back-projection, medians, invalid depth, scaling."""
from __future__ import annotations

import numpy as np
import pytest

from vos_ros.core.depth import Intrinsics, centroid_3d

K = [500.0, 0.0, 80.0, 0.0, 400.0, 60.0, 0.0, 0.0, 1.0]


def test_plane_at_known_depth_back_projects_exactly() -> None:
    intr = Intrinsics.from_k(K, 160, 120)
    depth = np.full((120, 160), 2.0, np.float32)
    mask = np.zeros((120, 160), bool)
    mask[50:71, 100:121] = True  # centre pixel (110, 60)
    x, y, z = centroid_3d(mask, depth, intr)
    assert z == pytest.approx(2.0)
    assert x == pytest.approx((110 - 80) * 2.0 / 500.0)
    assert y == pytest.approx((60 - 60) * 2.0 / 400.0)


def test_median_ignores_invalid_and_outlier_depth() -> None:
    intr = Intrinsics.from_k(K, 160, 120)
    depth = np.full((120, 160), 1.5, np.float32)
    depth[50:60, 100:121] = 0.0           # holes
    depth[60:62, 100:121] = np.nan        # more holes
    depth[62:64, 100:121] = 9.0           # background bleeding in at the border
    mask = np.zeros((120, 160), bool)
    mask[50:80, 100:121] = True
    assert centroid_3d(mask, depth, intr)[2] == pytest.approx(1.5)


def test_too_few_valid_pixels_gives_none() -> None:
    intr = Intrinsics.from_k(K, 160, 120)
    mask = np.zeros((120, 160), bool)
    mask[10:20, 10:20] = True
    assert centroid_3d(mask, np.zeros((120, 160), np.float32), intr) is None
    assert centroid_3d(np.zeros((120, 160), bool), np.ones((120, 160), np.float32), intr) is None


def test_depth_and_intrinsics_at_other_resolutions_are_rescaled() -> None:
    # camera calibrated at 320x240, depth published at 80x60, mask at 160x120: same 3-D answer
    intr_full = Intrinsics.from_k([1000.0, 0, 159.5, 0, 800.0, 119.5, 0, 0, 1], 320, 240)
    mask = np.zeros((120, 160), bool)
    mask[40:60, 120:140] = True
    depth_small = np.full((60, 80), 3.0, np.float32)
    x, y, z = centroid_3d(mask, depth_small, intr_full)
    k = intr_full.scaled_to(160, 120)
    assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx((500.0, 400.0, 79.5, 59.5))
    assert z == pytest.approx(3.0)
    assert x == pytest.approx((129.5 - 79.5) * 3.0 / 500.0)
    assert y == pytest.approx((49.5 - 59.5) * 3.0 / 400.0)


def test_bad_camera_matrix_is_rejected() -> None:
    with pytest.raises(ValueError, match="9 values"):
        Intrinsics.from_k([1.0, 2.0], 10, 10)
    with pytest.raises(ValueError, match="non-positive focal"):
        Intrinsics.from_k([0.0] * 9, 10, 10)
