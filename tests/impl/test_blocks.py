"""The value <-> block mapping (the abstraction's base) and the text helpers."""

from __future__ import annotations

import pytest

from pitmirror.impl.blocks import (
    BLOCK_SIZE,
    ZERO_BLOCK,
    as_block,
    block_of_value,
    describe_block,
    is_value_block,
    text_block,
    value_of_block,
)


@pytest.mark.parametrize("v", [0, 1, 2, 3, 255, 2**16 + 7, 2**32 - 1])
def test_round_trip(v: int) -> None:
    block = block_of_value(v)
    assert len(block) == BLOCK_SIZE
    assert value_of_block(block) == v


def test_zero_is_a_fresh_block_and_values_differ() -> None:
    assert block_of_value(0) == ZERO_BLOCK
    blocks = {block_of_value(v) for v in range(50)}
    assert len(blocks) == 50


def test_pattern_is_documented_unit_repeated() -> None:
    b = block_of_value(3)
    assert b[:8] == b"PMV:\x00\x00\x00\x03"
    assert b == b[:16] * 32


@pytest.mark.parametrize("bad", [-1, 2**32, True, 1.5, "1"])
def test_bad_values_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        block_of_value(bad)  # type: ignore[arg-type]


def test_foreign_blocks_have_no_value() -> None:
    text = text_block("hello")
    assert not is_value_block(text)
    with pytest.raises(ValueError, match="not the image"):
        value_of_block(text)
    tampered = bytearray(block_of_value(5))
    tampered[100] ^= 1
    with pytest.raises(ValueError):
        value_of_block(bytes(tampered))
    with pytest.raises(ValueError, match="512"):
        value_of_block(b"short")


def test_text_and_describe() -> None:
    assert text_block("abc")[:3] == b"abc" and len(text_block("abc")) == BLOCK_SIZE
    with pytest.raises(ValueError, match="does not fit"):
        text_block("x" * 513)
    assert describe_block(ZERO_BLOCK) == "zeros"
    assert describe_block(block_of_value(7)) == "value 7"
    assert describe_block(text_block("invoice")) == "'invoice'"
    assert as_block(4) == block_of_value(4)
    assert as_block(text_block("a")) == text_block("a")
    with pytest.raises(ValueError):
        as_block(b"x")
