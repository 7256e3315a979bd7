"""Damaged copies of video files, for fuzzing the reader (`scripts/fuzz_reader.py`).

A mutant is named by a recipe, not kept as bytes: a base video (`BASES`, encoded here from a
synthetic scene), a mutation kind (`KINDS`) and a seed. `mutate` makes the same bytes from the same
recipe, so a damaged file that broke the reader can live on as three words in a regression test.

Generic mutations (bit flips, zeroed runs, truncation, inserted or deleted chunks) apply to any
file; the MP4 ones walk the box tree and damage one box: zero it, duplicate it, or patch one of
its counts or sizes (`FIELDS`), the numbers a demuxer trusts to size its tables.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass
from pathlib import Path

from vidmm.data import synthetic as syn

# -- base videos ----------------------------------------------------------------------------------

_SCENE = syn.MovingShape(kind="square", color=syn.RED, start=(0.15, 0.5), velocity=(0.15, 0.0), size=0.2)
# 6 s at 25 fps: uniform(8) then asks for frames 19 apart, which the reader sends to decord, so
# both backends see the damage. One encoder thread: thread counts change the encoded bytes.
_COMMON = dict(duration_s=6.0, size=(96, 64), gop=25)
BASES: dict[str, dict] = {
    "h264.mp4": dict(codec="libx264", options={"threads": "1", "bframes": "2"}),
    "h264_faststart.mp4": dict(codec="libx264", faststart=True, options={"threads": "1", "bframes": "2"}),
    "h264.mkv": dict(codec="libx264", options={"threads": "1", "bframes": "2"}),
    "vp9.webm": dict(codec="libvpx-vp9", options={"threads": "1"}),
    "mjpeg.avi": dict(codec="mjpeg", pix_fmt="yuvj420p"),
}


def write_base(folder: str | Path, name: str) -> Path:
    """Encode the base video `name` (a key of `BASES`) into `folder`; returns its path."""
    return syn.write_video(Path(folder) / name, _SCENE, **_COMMON, **BASES[name])


# -- the MP4 box tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """One MP4 box: `size` bytes from `offset`, the first `header` of them its size and type."""

    type: str
    offset: int
    size: int
    header: int
    parents: tuple[int, ...]  # offsets of the boxes it sits in, outermost first

    @property
    def payload(self) -> int:
        return self.offset + self.header


# Boxes holding boxes, and where their children start inside their payload (sample descriptions
# carry fixed fields first: 8 bytes for stsd, 78 for a visual sample entry such as avc1).
_CHILDREN_AT = {
    **dict.fromkeys(["moov", "trak", "mdia", "minf", "stbl", "edts", "dinf", "udta", "mvex", "moof", "traf"], 0),
    "stsd": 8,
    **dict.fromkeys(["avc1", "avc3", "hvc1", "hev1", "mp4v", "vp09", "av01"], 78),
}


def mp4_boxes(data: bytes) -> list[Box]:
    """Every box of an MP4/MOV file, parents before children.

    Stops quietly where sizes stop making sense: the input is often damaged on purpose.
    """
    boxes: list[Box] = []
    _walk(data, 0, len(data), (), boxes)
    return boxes


def _walk(data: bytes, start: int, end: int, parents: tuple[int, ...], boxes: list[Box]) -> None:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= end:  # a 64-bit size follows the type
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:  # runs to the end of its parent
            size = end - pos
        if size < header or pos + size > end:
            return
        box = Box(kind.decode("latin-1"), pos, size, header, parents)
        boxes.append(box)
        if box.type in _CHILDREN_AT:
            _walk(data, box.payload + _CHILDREN_AT[box.type], pos + size, (*parents, pos), boxes)
        pos += size


@dataclass(frozen=True)
class Field:
    """A number inside a box's payload: `width` bytes (4 or 8), big-endian, at `at` for version 0
    of the box and at `at_v1` for version 1 (full boxes with 64-bit times move their fields)."""

    at: int
    width: int = 4
    at_v1: int | None = None
    width_v1: int = 4


# The counts, sizes and times that size a demuxer's tables and clocks. Offsets count from the
# start of the payload, whose first 4 bytes are the full box's version and flags.
FIELDS: dict[str, dict[str, Field]] = {
    "stco": {"count": Field(4)},
    "co64": {"count": Field(4)},
    "stsz": {"sample_size": Field(4), "count": Field(8)},
    "stts": {"count": Field(4), "first_samples": Field(8), "first_delta": Field(12)},
    "ctts": {"count": Field(4), "first_samples": Field(8), "first_offset": Field(12)},
    "stsc": {"count": Field(4), "first_chunk": Field(8), "samples_per_chunk": Field(12), "description": Field(16)},
    "stss": {"count": Field(4), "first_sync": Field(8)},
    "elst": {"count": Field(4)},
    "mvhd": {"timescale": Field(12, at_v1=20), "duration": Field(16, at_v1=24, width_v1=8)},
    "mdhd": {"timescale": Field(12, at_v1=20), "duration": Field(16, at_v1=24, width_v1=8)},
    "tkhd": {
        "duration": Field(20, at_v1=28, width_v1=8),
        "width": Field(76, at_v1=88),
        "height": Field(80, at_v1=92),
    },
}


def _locate(data: bytes, box: Box, field: Field) -> tuple[int, int] | None:
    """(absolute offset, width) of `field` in `box`, or None where the box is too short for it."""
    version = data[box.payload] if box.size > box.header else 0
    at, width = (field.at_v1, field.width_v1) if version == 1 and field.at_v1 is not None else (field.at, field.width)
    offset = box.payload + at
    return (offset, width) if offset + width <= box.offset + box.size else None


def set_field(data: bytes, box_type: str, field: str, value: int) -> bytes:
    """`data` with `field` of the first `box_type` box set to `value` (e.g. stco's count)."""
    box = next(b for b in mp4_boxes(data) if b.type == box_type)
    offset, width = _locate(data, box, FIELDS[box_type][field])
    out = bytearray(data)
    out[offset : offset + width] = value.to_bytes(width, "big")
    return bytes(out)


# -- mutations ------------------------------------------------------------------------------------


def _bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    n = rng.randint(1, 64)
    for _ in range(n):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out), f"{n} bits flipped"


def _run_length(rng: random.Random, limit: int) -> int:
    """1 to `limit` bytes, log-uniform: a few damaged bytes reach deeper into a decoder than a wiped
    kilobyte, which mostly just ends it."""
    return min(limit, int(2 ** rng.uniform(0, math.log2(limit + 1))))


def _zero_run(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    start, length = rng.randrange(len(data)), _run_length(rng, 8192)
    out = bytearray(data)
    out[start : start + length] = bytes(len(out[start : start + length]))
    return bytes(out), f"{length} bytes zeroed at {start}"


def _truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    keep = rng.randrange(1, len(data))
    return data[:keep], f"cut to {keep} of {len(data)} bytes"


def _insert_chunk(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at, length = rng.randrange(len(data) + 1), _run_length(rng, 4096)
    return data[:at] + rng.randbytes(length) + data[at:], f"{length} random bytes inserted at {at}"


def _delete_chunk(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at, length = rng.randrange(len(data)), _run_length(rng, 4096)
    return data[:at] + data[at + length :], f"{length} bytes deleted at {at}"


def _zero_box(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    box = rng.choice(mp4_boxes(data))
    out = bytearray(data)
    out[box.payload : box.offset + box.size] = bytes(box.size - box.header)
    return bytes(out), f"{box.type} at {box.offset} zeroed ({box.size - box.header} bytes)"


def _duplicate_box(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """The box twice in a row, its parents grown to hold the copy (so the damage is inside the
    tree, not in the parents' sizes)."""
    box = rng.choice(mp4_boxes(data))
    end = box.offset + box.size
    out = bytearray(data[:end] + data[box.offset : end] + data[end:])
    for parent in box.parents:
        size = struct.unpack_from(">I", out, parent)[0]
        if size == 1:
            offset, width, size = parent + 8, 8, struct.unpack_from(">Q", out, parent + 8)[0]
        else:
            offset, width = parent, 4
        if size:  # 0: runs to the end, which grew with it
            out[offset : offset + width] = (size + box.size).to_bytes(width, "big")
    return bytes(out), f"{box.type} at {box.offset} duplicated ({box.size} bytes)"


_EDGE_VALUES = (0, 1, 2, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _patch_field(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    spots = [
        (box, name, spot)
        for box in mp4_boxes(data)
        for name, field in FIELDS.get(box.type, {}).items()
        if (spot := _locate(data, box, field)) is not None
    ]
    box, name, (offset, width) = rng.choice(spots)
    old = int.from_bytes(data[offset : offset + width], "big")
    limit = (1 << (8 * width)) - 1
    new = rng.choice([*_EDGE_VALUES, old + 1, old - 1, old * 2, old // 2, rng.getrandbits(8 * width)]) & limit
    out = bytearray(data)
    out[offset : offset + width] = new.to_bytes(width, "big")
    return bytes(out), f"{box.type}.{name} at {offset}: {old} -> {new}"


_ANY_FILE = {
    "bit_flips": _bit_flips,
    "zero_run": _zero_run,
    "truncate": _truncate,
    "insert_chunk": _insert_chunk,
    "delete_chunk": _delete_chunk,
}
_MP4_ONLY = {"zero_box": _zero_box, "duplicate_box": _duplicate_box, "patch_field": _patch_field}
KINDS = (*_ANY_FILE, *_MP4_ONLY)


def kinds_for(data: bytes) -> tuple[str, ...]:
    """The mutation kinds that apply to `data`: the MP4 ones need a box tree with a `moov`."""
    is_mp4 = any(box.type == "moov" for box in mp4_boxes(data))
    return KINDS if is_mp4 else tuple(_ANY_FILE)


def mutate(data: bytes, kind: str, seed: int) -> tuple[bytes, str]:
    """A damaged copy of `data` and what was done to it; the same (data, kind, seed), the same bytes."""
    mutation = _ANY_FILE.get(kind) or _MP4_ONLY[kind]
    return mutation(data, random.Random(seed))
