"""Packs of contexts per image-training job (dpsim.packs)."""

from __future__ import annotations

import pytest

from dpsim.packs import Pack, chunks, direct_packs, is_pack_rule


def test_chunks_are_consecutive_and_the_last_may_be_short():
    assert chunks(["a", "b", "c", "d", "e"], 2) == [("a", "b"), ("c", "d"), ("e",)]
    assert chunks(["a"], 10) == [("a",)]
    with pytest.raises(ValueError, match="at least 1, not 0"):
        chunks(["a"], 0)


def test_variants_sharing_a_pack_share_its_rule_and_no_file_has_two_rules():
    names = [f"c{i:03d}" for i in range(5)]
    packs = direct_packs({"tune": names[:3], "scratch": names[:3], "lin": names}, 2)
    assert packs == [
        Pack(("c000", "c001"), ("tune", "scratch", "lin")),
        Pack(("c002",), ("tune", "scratch")),
        Pack(("c002", "c003"), ("lin",)),
        Pack(("c004",), ("lin",)),
    ]
    assert [p.rule for p in packs] == [
        "adapt_direct_c000_c001",
        "adapt_direct_c002",
        "adapt_direct_c002_c003",
        "adapt_direct_c004",
    ]
    written = [(v, c) for p in packs for v in p.variants for c in p.contexts]
    assert len(written) == len(set(written)) == 2 * 3 + 5  # tune, scratch on 3; lin on 5
    assert all(is_pack_rule(p.rule) for p in packs) and not is_pack_rule("adapt_direct")
