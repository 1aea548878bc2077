"""Packs: the contexts one image-training job trains, one after another in one process.

Variants that train on the images (lora, bitfit, tune, scratch; lin with
``grid.batch_contexts: false``) train each context separately, and on a GPU such a training takes
seconds behind about ten seconds of process start and imports. ``grid.contexts_per_job`` packs
consecutive contexts into one job: the pool is read and put on the device once, then the contexts
are trained in turn, each exactly as its own job would (same seeds, same order of operations), so
a packed job's checkpoints equal the one-context jobs' bit for bit.

The workflow defines one rule per pack (``adapt_direct_<first>_<last>``: Snakemake needs a rule's
output list fixed when it parses the rule); :func:`direct_packs` lists them. Imports nothing
heavy: the workflow calls it while it builds the DAG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The prefix of every pack's rule name; its step is ``dpsim.steps.adapt.adapt_direct``.
RULE_PREFIX = "adapt_direct"


@dataclass(frozen=True)
class Pack:
    """Consecutive contexts trained by one job, for the variants listed."""

    contexts: tuple[str, ...]
    variants: tuple[str, ...]

    @property
    def label(self) -> str:
        """``c003`` for one context, ``c000_c009`` for a pack of several."""
        first, last = self.contexts[0], self.contexts[-1]
        return first if first == last else f"{first}_{last}"

    @property
    def rule(self) -> str:
        """The name of the pack's rule."""
        return f"{RULE_PREFIX}_{self.label}"


def chunks(names: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """``names`` in consecutive groups of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"contexts per job must be at least 1, not {size}")
    return [tuple(names[start : start + size]) for start in range(0, len(names), size)]


def direct_packs(trained_on: dict[str, Sequence[str]], per_job: int) -> list[Pack]:
    """The packs of the image-training jobs.

    ``trained_on`` maps each variant to the contexts it trains (tune and scratch may be limited to
    the first N contexts, lin is trained on all of them). Each variant's contexts are cut into
    consecutive packs of ``per_job``; a pack two variants share is one rule for both, so no two
    rules write the same file.
    """
    variants_of: dict[tuple[str, ...], list[str]] = {}
    for variant, names in trained_on.items():
        for pack in chunks(list(names), per_job):
            variants_of.setdefault(pack, []).append(variant)
    return [Pack(pack, tuple(variants)) for pack, variants in variants_of.items()]


def is_pack_rule(rule: str) -> bool:
    """Whether ``rule`` names a pack's rule (any pack, any packing)."""
    return rule.startswith(f"{RULE_PREFIX}_c")
