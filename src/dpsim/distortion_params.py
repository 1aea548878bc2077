"""How each built-in distortion draws its parameters, and which ranges a config may give it.

Importable without torch: the config is checked at every workflow start. A distortion consumes a
fixed number of uniforms per image (:attr:`Spec.uniforms`), turned into as many stored parameters
by :func:`draw`; ranges come from the config's ``distortions.params.<name>`` (defaults: the
study's ranges for the six, PROTOCOL §2, and common choices for the degradations).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dpsim.names import BUILTIN_DISTORTIONS

Ranges = Mapping[str, Any]
#: The uniforms every image gets whatever its distortion (the study's draw: two per image).
BASE_UNIFORMS = 2


@dataclass(frozen=True)
class Option:
    """One configurable parameter range of a distortion.

    ``kind``: ``range`` (``[low, high]``), ``choices`` (a non-empty list) or ``value`` (a number);
    ``domain``: the closed interval every value must lie in; ``integer``/``odd``: value rules.
    """

    name: str
    kind: str
    default: Any
    domain: tuple[float, float]
    integer: bool = False
    odd: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Spec:
    """A built-in distortion: its uniforms per image, options, draw and label."""

    name: str
    uniforms: int
    options: tuple[Option, ...]
    draw: Callable[[np.ndarray, Ranges, int], np.ndarray]
    describe: Callable[[np.ndarray], str]
    stored: str


def _between(lo_hi: Any, u: np.ndarray) -> np.ndarray:
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u


def _pick(choices: Any, u: np.ndarray) -> np.ndarray:
    values = np.asarray(choices, dtype=np.float64)
    return values[np.minimum((u * len(values)).astype(int), len(values) - 1)]


def _whole(lo_hi: Any, u: np.ndarray) -> np.ndarray:
    """Uniform over the whole numbers ``lo..hi`` inclusive."""
    lo, hi = int(lo_hi[0]), int(lo_hi[1])
    return np.minimum(lo + np.floor(u * (hi - lo + 1)), hi)


def _first(function: Callable[[Ranges, np.ndarray], np.ndarray]):
    """A draw that fills parameter 0 from uniform 0 (the other parameters stay 0)."""

    def draw(u: np.ndarray, ranges: Ranges, image_size: int) -> np.ndarray:
        params = np.zeros_like(u)
        params[:, 0] = function(ranges, u[:, 0])
        return params

    return draw


def _translate(u: np.ndarray, ranges: Ranges, image_size: int) -> np.ndarray:
    max_shift = ranges["fraction"] * image_size
    return np.round(_between((-max_shift, max_shift), u))


def _blur(u: np.ndarray, ranges: Ranges, image_size: int) -> np.ndarray:
    return np.stack([_pick(ranges["kernel_sizes"], u[:, 0]), _between(ranges["sigma"], u[:, 1])], 1)


#: Noise seeds: a uniform's 53 random bits, read exactly as an integer (float64 holds it).
NOISE_SEED_BITS = 53


def _noise(u: np.ndarray, ranges: Ranges, image_size: int) -> np.ndarray:
    seeds = np.floor(u[:, 1] * 2.0**NOISE_SEED_BITS)
    return np.stack([_between(ranges["sigma"], u[:, 0]), seeds], 1)


def _occlusion(u: np.ndarray, ranges: Ranges, image_size: int) -> np.ndarray:
    side = np.clip(np.round(_between(ranges["side"], u[:, 0]) * image_size), 1, image_size)
    room = image_size - side + 1
    return np.stack([np.floor(u[:, 1] * room), np.floor(u[:, 2] * room), side], 1)


def _factor(key: str) -> Callable[[Ranges, np.ndarray], np.ndarray]:
    return lambda ranges, u: _between(ranges[key], u)


#: No upper bound (a factor, a sigma).
UNBOUNDED = 1e9


def _ranged(
    name: str, key: str, default: list[float], domain: tuple[float, float], doc: str, label: str
) -> Spec:
    """A distortion of one parameter drawn uniformly from the range ``key``; ``label``: how
    figures print it (a format of the value ``v``)."""
    return Spec(
        name,
        1,
        (Option(key, "range", default, domain, doc=doc),),
        _first(_factor(key)),
        lambda p: label.format(v=float(p[0])),
        doc,
    )


def _blur_spec() -> Spec:
    sizes = Option(
        "kernel_sizes",
        "choices",
        [11, 13, 15, 17, 19, 21],
        (3.0, 255.0),
        integer=True,
        odd=True,
        doc="odd kernel sizes",
    )
    sigma = Option("sigma", "range", [4.0, 10.0], (1e-6, UNBOUNDED), doc="standard deviation")
    return Spec(
        "blur", 2, (sizes, sigma), _blur, lambda p: f"k={int(p[0])}, s={p[1]:.1f}", "kernel, sigma"
    )


SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        _ranged(
            "rotate", "degrees", [30.0, 330.0], (-360.0, 360.0), "angle, degrees", "{v:.0f} deg"
        ),
        Spec(
            "translate",
            2,
            (Option("fraction", "value", 0.5, (0.0, 1.0), doc="largest shift / image side"),),
            _translate,
            lambda p: f"dx={p[0]:+.0f}, dy={p[1]:+.0f}",
            "tx, ty in whole pixels",
        ),
        _ranged("darken", "factor", [0.1, 0.5], (0.0, UNBOUNDED), "brightness factor", "x{v:.2f}"),
        _ranged("color", "hue", [-0.5, 0.5], (-0.5, 0.5), "hue shift, turns", "hue {v:+.2f}"),
        _blur_spec(),
        _ranged("zoom_in", "scale", [1.1, 2.0], (1e-6, UNBOUNDED), "scale factor", "x{v:.2f}"),
        Spec(
            "jpeg",
            1,
            (Option("quality", "range", [10, 40], (1.0, 100.0), integer=True, doc="JPEG quality"),),
            _first(lambda ranges, u: _whole(ranges["quality"], u)),
            lambda p: f"q={int(p[0])}",
            "quality",
        ),
        Spec(
            "noise",
            2,
            (
                Option(
                    "sigma", "range", [0.03, 0.15], (0.0, UNBOUNDED), doc="noise sd, [0, 1] units"
                ),
            ),
            _noise,
            lambda p: f"sd={p[0]:.3f}",
            "sigma, noise seed",
        ),
        _ranged("contrast", "factor", [0.2, 0.6], (0.0, UNBOUNDED), "contrast factor", "x{v:.2f}"),
        _ranged(
            "saturation", "factor", [0.0, 0.4], (0.0, UNBOUNDED), "saturation factor", "x{v:.2f}"
        ),
        Spec(
            "pixelate",
            1,
            (
                Option(
                    "factors",
                    "choices",
                    [2, 4, 8],
                    (2.0, 1e6),
                    integer=True,
                    doc="block sides in pixels",
                ),
            ),
            _first(lambda ranges, u: _pick(ranges["factors"], u)),
            lambda p: f"{int(p[0])} px",
            "block side in pixels",
        ),
        _ranged("sharpen", "factor", [4.0, 16.0], (0.0, UNBOUNDED), "sharpness factor", "x{v:.1f}"),
        Spec(
            "occlusion",
            3,
            (Option("side", "range", [0.2, 0.5], (1e-6, 1.0), doc="patch side / image side"),),
            _occlusion,
            lambda p: f"{int(p[2])} px at x={int(p[0])}, y={int(p[1])}",
            "left, top, side in pixels",
        ),
    )
}
assert tuple(SPECS) == BUILTIN_DISTORTIONS


def defaults(name: str) -> dict[str, Any]:
    """The default ranges of built-in distortion ``name``."""
    return {option.name: option.default for option in SPECS[name].options}


def resolved(name: str, given: Ranges | None) -> dict[str, Any]:
    """``given`` ranges over the defaults of ``name`` (the config may give some of them)."""
    return {**defaults(name), **(given or {})}


def problems(name: str, given: Ranges, where: str) -> list[str]:
    """What is wrong with ``given`` ranges of ``name`` (``where``: the config path), if anything."""
    found = []
    options = {option.name: option for option in SPECS[name].options}
    for key, value in given.items():
        option = options.get(key)
        if option is None:
            found.append(f"{where}.{key}: {name} has no option {key!r} ({', '.join(options)})")
            continue
        found += _option_problems(option, value, f"{where}.{key}")
    return found


def _option_problems(option: Option, value: Any, where: str) -> list[str]:
    values = [value] if option.kind == "value" else list(value)
    lo, hi = option.domain
    found = [f"{where}: {v} is outside [{lo:g}, {hi:g}]" for v in values if not lo <= v <= hi]
    if option.integer:
        found += [f"{where}: {v} is not a whole number" for v in values if v != int(v)]
    if option.odd:
        found += [f"{where}: {v} is not odd" for v in values if int(v) % 2 != 1]
    if option.kind == "range" and len(values) == 2 and values[0] > values[1]:
        found.append(f"{where}: the range [{values[0]}, {values[1]}] runs backwards (low > high)")
    if option.kind == "choices" and len(set(values)) != len(values):
        found.append(f"{where}: {values} lists a value twice")
    return found


def draw(name: str, u: np.ndarray, ranges: Ranges, image_size: int) -> np.ndarray:
    """Parameters of ``name`` for each row of uniforms ``u`` (``(N, uniforms)``)."""
    return SPECS[name].draw(u, resolved(name, ranges), image_size)


def describe(name: str, params: np.ndarray) -> str:
    """Human-readable parameters of one image, e.g. ``blur (k=11, s=4.2)``."""
    return f"{name} ({SPECS[name].describe(np.asarray(params, dtype=np.float64))})"
