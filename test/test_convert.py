"""Image <-> numpy conversion: every supported encoding, padded rows, byte order, rejections."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vos_ros.nodes import convert

RNG = np.random.default_rng(0)


def _array(encoding: str, h: int = 5, w: int = 7) -> np.ndarray:
    dtype, channels = convert.ENCODINGS[encoding]
    shape = (h, w) if channels == 1 else (h, w, channels)
    if dtype == np.float32:
        return RNG.uniform(0.1, 9.0, shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _raw(arr: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Build a message by hand (padding bytes at each row end, chosen byte order)."""
    wire = arr.astype(arr.dtype.newbyteorder(">" if bigendian else "<"))
    rows = wire.reshape(arr.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((arr.shape[0], pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=bigendian)
    msg.step = padded.shape[1]
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize("encoding", list(convert.ENCODINGS))
def test_round_trip_every_encoding(encoding: str) -> None:
    arr = _array(encoding)
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = convert.array_to_image(arr, encoding, header)
    assert (msg.encoding, msg.height, msg.width, msg.header.frame_id) == (encoding, 5, 7, "cam")
    assert msg.header.stamp.sec == 12 and msg.header.stamp.nanosec == 34
    back = convert.image_to_array(msg)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("encoding", list(convert.ENCODINGS))
@pytest.mark.parametrize("bigendian", [False, True])
def test_padded_step_and_byte_order(encoding: str, bigendian: bool) -> None:
    arr = _array(encoding)
    msg = _raw(arr, encoding, pad=6, bigendian=bigendian)
    np.testing.assert_array_equal(convert.image_to_array(msg), arr)


def test_bigendian_is_really_read_as_bigendian() -> None:
    msg = Image(height=1, width=2, encoding="16UC1", is_bigendian=True, step=4)
    msg.data = bytes([0x01, 0x02, 0x00, 0xFF])
    assert convert.image_to_array(msg).tolist() == [[0x0102, 0x00FF]]
    msg.is_bigendian = False
    assert convert.image_to_array(msg).tolist() == [[0x0201, 0xFF00]]


def test_colour_orders_to_rgb() -> None:
    rgb = _array("rgb8")
    bgr = rgb[..., ::-1].copy()
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 9, np.uint8)], axis=2)
    bgra = np.concatenate([bgr, np.full(rgb.shape[:2] + (1,), 9, np.uint8)], axis=2)
    for arr, enc in ((rgb, "rgb8"), (bgr, "bgr8"), (rgba, "rgba8"), (bgra, "bgra8")):
        np.testing.assert_array_equal(convert.image_to_rgb(_raw(arr, enc, pad=2)), rgb)
    mono = _array("mono8")
    out = convert.image_to_rgb(convert.array_to_image(mono, "mono8"))
    assert out.shape == mono.shape + (3,) and (out == mono[..., None]).all()
    mono16 = np.array([[0x1234, 0xFF00]], np.uint16)
    assert convert.image_to_rgb(convert.array_to_image(mono16, "mono16"))[0, :, 0].tolist() == [0x12, 0xFF]


def test_depth_units() -> None:
    mm = np.array([[1000, 0, 2500]], np.uint16)
    metres = convert.depth_to_metres(convert.array_to_image(mm, "16UC1"))
    np.testing.assert_allclose(metres, [[1.0, 0.0, 2.5]])
    m = np.array([[1.5, np.nan]], np.float32)
    out = convert.depth_to_metres(convert.array_to_image(m, "32FC1"))
    assert out[0, 0] == pytest.approx(1.5) and np.isnan(out[0, 1])
    with pytest.raises(ValueError, match="depth image encoding 'rgb8'"):
        convert.depth_to_metres(convert.array_to_image(_array("rgb8"), "rgb8"))


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        (Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8)), "unsupported image encoding"),
        (Image(height=0, width=0, encoding="rgb8"), "empty image"),
        (Image(height=2, width=4, encoding="rgb8", step=11, data=bytes(24)), "step 11 is smaller than"),
        (Image(height=2, width=4, encoding="rgb8", step=12, data=bytes(20)), "expected step\\*height"),
        (Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16)), "not a colour image"),
    ],
)
def test_bad_images_are_rejected_clearly(msg: Image, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        convert.image_to_rgb(msg)


def test_array_to_image_rejects_mismatches() -> None:
    with pytest.raises(ValueError, match="does not fit encoding mono8"):
        convert.array_to_image(_array("rgb8"), "mono8")
    with pytest.raises(ValueError, match="dtype float64"):
        convert.array_to_image(np.zeros((2, 2)), "mono16")
    with pytest.raises(ValueError, match="unsupported image encoding 'nv12'"):
        convert.array_to_image(_array("mono8"), "nv12")


def test_compressed_round_trip_and_errors() -> None:
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (200, 30, 10)
    png = convert.rgb_to_compressed(rgb, "png")
    np.testing.assert_array_equal(convert.compressed_to_rgb(png), rgb)
    jpeg = convert.compressed_to_rgb(convert.rgb_to_compressed(rgb, "jpeg"))
    assert np.abs(jpeg.astype(int) - rgb).mean() < 6
    with pytest.raises(ValueError, match="could not decode"):
        convert.compressed_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg"))
    with pytest.raises(ValueError, match="empty CompressedImage"):
        convert.compressed_to_rgb(CompressedImage(format="jpeg"))
    with pytest.raises(ValueError, match="compressed depth"):
        convert.compressed_to_rgb(CompressedImage(format="16UC1; compressedDepth png", data=b"x"))


def test_prompt_masks() -> None:
    m = np.zeros((4, 6), np.uint8)
    m[1:3, 2:5] = 7
    mask = convert.mask_from_image(convert.array_to_image(m, "mono8"), (4, 6))
    assert mask.dtype == bool and mask.sum() == 6
    with pytest.raises(ValueError, match="mask is 6x4, the frame is 8x4"):
        convert.mask_from_image(convert.array_to_image(m, "mono8"), (4, 8))
    with pytest.raises(ValueError, match="must be mono8"):
        convert.mask_from_image(convert.array_to_image(m.astype(np.uint16), "mono16"), (4, 6))
