"""Blocks: the unit a drive, an LDEV and a journal record hold, and the map from the model's small values.

The model writes small ints; the impl stores 512-byte blocks. The map between them is deterministic and
invertible on its image, so an abstraction function can read any impl state as a model state:

- ``block_of_value(0)`` is 512 zero bytes: a fresh drive reads as value 0 everywhere.
- ``block_of_value(v)`` for ``0 < v < 2**32`` is a 16-byte unit repeated 32 times: ``b"PMV:"``, ``v`` as a
  4-byte big-endian int, then ``(v * 0x9E3779B97F4A7C15) mod 2**64`` as 8 bytes (so blocks of nearby values
  differ in every unit, the way real data does).
- ``value_of_block(block)`` inverts it and raises ``ValueError`` for any other block (host text, say).

``text_block("...")`` makes a recognisable block from text for demos and scripts; ``describe_block`` names a
block in a log line either way.
"""

from __future__ import annotations

import os
import struct


def _block_size_from_env() -> int:
    """512 unless the process was started with ``PITMIRROR_BLOCK_SIZE`` (a served array, impl/device/,
    runs real 4 KiB blocks). Read once at import: every module binds ``BLOCK_SIZE`` by name."""
    raw = os.environ.get("PITMIRROR_BLOCK_SIZE", "512")
    size = int(raw) if raw.isdigit() else 0
    if size < 512 or size % 16 or size & (size - 1):
        raise ValueError(f"PITMIRROR_BLOCK_SIZE must be a power of two >= 512, got {raw!r}")
    return size


BLOCK_SIZE = _block_size_from_env()
ZERO_BLOCK = bytes(BLOCK_SIZE)
MAX_VALUE = 2**32 - 1

_UNIT = struct.Struct(">4sIQ")
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = 2**64 - 1


def block_of_value(value: int) -> bytes:
    """The block that stands for the model's ``value`` (0 -> zeros)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE:
        raise ValueError(f"a block value must be an int in 0..{MAX_VALUE}, got {value!r}")
    if value == 0:
        return ZERO_BLOCK
    unit = _UNIT.pack(b"PMV:", value, (value * _GOLDEN) & _MASK64)
    return unit * (BLOCK_SIZE // _UNIT.size)


#: Blocks already read as values (``value_of_block``): the same few blocks are read again at nearly every step
#: (a message's payload each time the path is sorted or listed, every block of every volume), and a bytes
#: object keeps its hash, so a look-up is far cheaper than building ``block_of_value(v)`` to compare with.
#: Only blocks that are a value's image are kept (anything else raises, every time); bounded.
_VALUES: dict[bytes, int] = {ZERO_BLOCK: 0}
_VALUES_KEPT = 4096


def value_of_block(block: bytes) -> int:
    """The model value a block stands for; ``ValueError`` when it is not ``block_of_value(v)`` for any v."""
    if type(block) is bytes:  # bytearray and memoryview do not hash
        known = _VALUES.get(block)
        if known is not None:
            return known
    if len(block) != BLOCK_SIZE:
        raise ValueError(f"a block is {BLOCK_SIZE} bytes, got {len(block)}")
    if block == ZERO_BLOCK:
        return 0
    magic, value, _ = _UNIT.unpack_from(block)
    if magic == b"PMV:" and value > 0 and block == block_of_value(value):
        if type(block) is bytes:
            if len(_VALUES) >= _VALUES_KEPT:
                _VALUES.clear()
                _VALUES[ZERO_BLOCK] = 0
            _VALUES[block] = int(value)
        return int(value)
    raise ValueError(f"block is not the image of a model value (starts {bytes(block[:16])!r})")


def is_value_block(block: bytes) -> bool:
    """True when ``value_of_block`` can read ``block``."""
    try:
        value_of_block(block)
    except ValueError:
        return False
    return True


def covered(lba: int, data: bytes) -> range:
    """The LBAs a write of ``data`` from ``lba`` covers (none for a marker, whose lba is -1)."""
    return range(0) if lba < 0 else range(lba, lba + max(1, len(data) // BLOCK_SIZE))


def split_blocks(data: bytes) -> list[bytes]:
    """A write's data as its blocks, in LBA order (a multi-block write is ``len(data) // BLOCK_SIZE`` blocks)."""
    return [data[i:i + BLOCK_SIZE] for i in range(0, len(data), BLOCK_SIZE)]


def value_of_write(data: bytes) -> int | None:
    """The model value of a write's data when every block of it is ``block_of_value(v)`` for one v (the
    model writes one value to every block of a multi-block write), else None (host text)."""
    first = data[:BLOCK_SIZE]
    if not is_value_block(first) or data != first * (len(data) // BLOCK_SIZE):
        return None
    return value_of_block(first)


def text_block(text: str) -> bytes:
    """A block holding ``text`` (UTF-8) padded with zero bytes; ``ValueError`` if it does not fit."""
    raw = text.encode()
    if len(raw) > BLOCK_SIZE:
        raise ValueError(f"text of {len(raw)} bytes does not fit a {BLOCK_SIZE}-byte block")
    return raw.ljust(BLOCK_SIZE, b"\0")


def describe_block(block: bytes) -> str:
    """A short human name for a block: ``value 3``, ``zeros`` or the text it starts with."""
    if block == ZERO_BLOCK:
        return "zeros"
    if is_value_block(block):
        return f"value {value_of_block(block)}"
    text = block.rstrip(b"\0")[:40].decode(errors="replace")
    return repr(text)


def as_block(data: bytes | int) -> bytes:
    """Accept a model value or a full block; ``ValueError`` for a wrong size."""
    if isinstance(data, int) and not isinstance(data, bool):
        return block_of_value(data)
    if not isinstance(data, bytes | bytearray):
        raise ValueError(f"a block is {BLOCK_SIZE} bytes or a model value (int), got {type(data).__name__}")
    if len(data) != BLOCK_SIZE:
        raise ValueError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}")
    return bytes(data)
