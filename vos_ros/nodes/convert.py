"""sensor_msgs Image / CompressedImage <-> numpy, without cv_bridge (broken on PyPI, see ros2_pypi.md).

Supported raw encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16, 16UC1, 32FC1. ``step`` (row
stride in bytes, may include padding) and ``is_bigendian`` are honoured; anything else raises
ValueError naming what was wrong, so the node can log it and keep running.
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
_HOST_BIGENDIAN = sys.byteorder == "big"


def _layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ValueError(
            f"unsupported image encoding '{encoding}' (supported: {', '.join(ENCODINGS)})"
        ) from None


def image_to_array(msg: Image) -> np.ndarray:
    """H x W (one channel) or H x W x C array in the message's encoding and channel order (a copy)."""
    dtype, channels = _layout(msg.encoding)
    h, w = int(msg.height), int(msg.width)
    if h == 0 or w == 0:
        raise ValueError(f"empty image ({w}x{h}, encoding {msg.encoding})")
    row_bytes = w * channels * dtype.itemsize
    if msg.step < row_bytes:
        raise ValueError(
            f"image step {msg.step} is smaller than width*channels*bytes = {w}*{channels}*{dtype.itemsize}"
            f" = {row_bytes} for encoding {msg.encoding}"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < msg.step * h:
        raise ValueError(
            f"image data has {data.size} bytes, expected step*height = {msg.step}*{h} = {msg.step * h}"
        )
    rows = data[: msg.step * h].reshape(h, msg.step)[:, :row_bytes]
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<") if dtype.itemsize > 1 else dtype
    arr = np.ascontiguousarray(rows).view(wire).reshape((h, w) if channels == 1 else (h, w, channels))
    return arr.astype(dtype, copy=True)


def image_to_rgb(msg: Image) -> np.ndarray:
    """H x W x 3 uint8 RGB from any colour or mono encoding (mono16 keeps its high byte)."""
    if msg.encoding not in COLOUR_ENCODINGS:
        _layout(msg.encoding)  # unknown encodings get the generic message
        raise ValueError(
            f"encoding '{msg.encoding}' is not a colour image (use one of {', '.join(COLOUR_ENCODINGS)})"
        )
    return to_rgb(image_to_array(msg), msg.encoding)


def to_rgb(arr: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an array in ``encoding`` (as from :func:`image_to_array`) to H x W x 3 uint8 RGB."""
    if encoding == "rgb8":
        return arr
    if encoding == "rgba8":
        return np.ascontiguousarray(arr[..., :3])
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(arr[..., 2::-1])
    if encoding == "mono8":
        return np.repeat(arr[..., None], 3, axis=2)
    if encoding == "mono16":
        return np.repeat((arr >> 8).astype(np.uint8)[..., None], 3, axis=2)
    raise ValueError(f"encoding '{encoding}' is not a colour image")


def depth_to_metres(msg: Image) -> np.ndarray:
    """H x W float32 depth in metres from 16UC1/mono16 (millimetres) or 32FC1 (metres); 0 or NaN = invalid."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth image encoding '{msg.encoding}' unsupported (use 16UC1 in mm or 32FC1 in m)")
    arr = image_to_array(msg)
    return arr.astype(np.float32) / 1000.0 if arr.dtype == np.uint16 else arr


def array_to_image(arr: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """Image message holding ``arr`` (H x W or H x W x C, dtype matching ``encoding``), little-endian."""
    dtype, channels = _layout(encoding)
    shape_channels = 1 if arr.ndim == 2 else arr.shape[2]
    if arr.ndim not in (2, 3) or shape_channels != channels:
        raise ValueError(f"array of shape {arr.shape} does not fit encoding {encoding} ({channels} channels)")
    if arr.dtype != dtype:
        raise ValueError(f"array dtype {arr.dtype} does not fit encoding {encoding} ({dtype})")
    if arr.size == 0:
        raise ValueError(f"empty array of shape {arr.shape}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = _HOST_BIGENDIAN and dtype.itemsize > 1
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(arr).tobytes()
    return msg


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """H x W x 3 uint8 RGB from a jpeg/png CompressedImage."""
    if "compressedDepth" in msg.format:
        raise ValueError(f"compressed depth ('{msg.format}') is not a colour image")
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size == 0:
        raise ValueError("empty CompressedImage data")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"could not decode CompressedImage (format '{msg.format}', {buf.size} bytes)")
    return np.ascontiguousarray(bgr[..., ::-1])


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "jpeg", header: Header | None = None) -> CompressedImage:
    """CompressedImage (jpeg or png) of an H x W x 3 uint8 RGB array."""
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"compression format '{fmt}' unsupported (jpeg or png)")
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} array as {fmt}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = fmt
    msg.data = buf.tobytes()
    return msg


def mask_from_image(msg: Image, shape: tuple[int, int]) -> np.ndarray:
    """H x W bool mask from a mono8 prompt mask (nonzero = object) that must match ``shape``."""
    if msg.encoding != "mono8":
        raise ValueError(f"prompt masks must be mono8, got '{msg.encoding}'")
    mask = image_to_array(msg) != 0
    if mask.shape != tuple(shape):
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]}, the frame is {shape[1]}x{shape[0]}")
    return mask
