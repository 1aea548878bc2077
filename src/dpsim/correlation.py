"""Agreement of metric distances with mean opinion scores (MOS): SROCC, KROCC, PLCC and RMSE.

Image-quality studies score a metric by correlating its predictions with human quality scores.
Here the metric gives a *distance* ``d`` between a reference and its distorted version (higher =
less similar), while a MOS is higher for better quality (or, for DMOS-style sets, higher for worse
quality; ``higher_is_better=False``).

**Sign convention.** A good metric's distances fall as MOS rises, so its raw rank correlation with
MOS is negative. :func:`mos_correlations` multiplies the rank and raw Pearson coefficients by
``sign = -1`` for MOS (``+1`` for DMOS), so that every reported coefficient is *higher = better
agreement*, +1 at best. The PLCC is taken after a logistic map from distance to predicted MOS
(fitted to the data, as is standard in IQA); the fit absorbs the direction, so the PLCC is >= 0
whatever the direction and only SROCC/KROCC/``plcc_raw`` show whether the metric points the
right way. The functions :func:`spearman`, :func:`kendall` and :func:`pearson` return the plain,
unsigned coefficients.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import optimize, stats
from scipy.special import expit

log = logging.getLogger(__name__)

#: Fewest points for the five-parameter logistic; below it :func:`logistic_fit` fits a line.
MIN_LOGISTIC_POINTS = 6
#: Most function evaluations of one logistic start.
MAX_EVALUATIONS = 400
SIGN_NOTE = (
    "srocc, krocc and plcc_raw are multiplied by `sign` (-1 when higher MOS = better quality, "
    "since distances are dissimilarities; +1 for DMOS), so higher = better agreement; plcc is "
    "taken after the logistic fit, which absorbs the direction, and is >= 0"
)

ArrayLike = Sequence[float] | np.ndarray


# ---------------------------------------------------------------- plain coefficients


def _check_pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Two finite, non-constant 1-D float arrays of the same length >= 3, or a ValueError."""
    arrays = []
    for label, values in (("x", x), ("y", y)):
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1:
            raise ValueError(f"{label} must be one-dimensional, got shape {array.shape}")
        arrays.append(array)
    a, b = arrays
    if len(a) != len(b):
        raise ValueError(f"x and y must have the same length, got {len(a)} and {len(b)}")
    if len(a) < 3:
        raise ValueError(f"a correlation needs at least 3 pairs, got {len(a)}")
    for label, array in (("x", a), ("y", b)):
        bad = np.flatnonzero(~np.isfinite(array))
        if len(bad):
            raise ValueError(
                f"{label} has {len(bad)} NaN or infinite value(s), first at index {bad[0]} "
                f"({array[bad[0]]}); expected finite numbers"
            )
        if np.all(array == array[0]):
            raise ValueError(
                f"{label} is constant (all {len(array)} values are {array[0]}); "
                "a correlation is undefined"
            )
    return a, b


def spearman(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Spearman's rank correlation (ties get mid-ranks) and its two-sided p-value."""
    a, b = _check_pair(x, y)
    result = stats.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def kendall(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Kendall's tau-b (corrected for ties in either variable) and its two-sided p-value."""
    a, b = _check_pair(x, y)
    result = stats.kendalltau(a, b, variant="b")
    return float(result.statistic), float(result.pvalue)


def pearson(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Pearson's linear correlation and its two-sided p-value."""
    a, b = _check_pair(x, y)
    result = stats.pearsonr(a, b)
    return float(result.statistic), float(result.pvalue)


# ---------------------------------------------------------------- logistic fit


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """``b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5`` (computed without overflow)."""
    x = np.asarray(x, dtype=np.float64)
    return b1 * (expit(b2 * (x - b3)) - 0.5) + b4 * x + b5


@dataclass(frozen=True)
class LogisticFit:
    """A fitted map from distance to predicted MOS; call it on distances.

    ``kind`` is ``"logistic5"`` (``params`` = b1..b5 of :func:`logistic5`, with ``b2 > 0``) or
    ``"linear"`` (``params`` = slope, intercept), the fallback; ``fit_ok`` is false when the
    fallback was used and ``message`` says why.
    """

    params: tuple[float, ...]
    kind: str
    fit_ok: bool
    message: str = ""

    def __call__(self, distances: ArrayLike) -> np.ndarray:
        x = np.asarray(distances, dtype=np.float64)
        if self.kind == "logistic5":
            return logistic5(x, *self.params)
        slope, intercept = self.params
        return slope * x + intercept


def logistic_fit(distances: ArrayLike, mos: ArrayLike) -> LogisticFit:
    """Fit the five-parameter logistic of Sheikh, Sabir & Bovik (2006) from distances to MOS.

    ``Q(d) = b1 * (0.5 - 1 / (1 + exp(b2 * (d - b3)))) + b4 * d + b5``. The five-parameter form
    (rather than VQEG's four-parameter one) is the one used to report PLCC on LIVE, TID2013 and
    KADID-10k, so numbers stay comparable with the literature; its linear term follows distances
    that keep growing after the sigmoid saturates. It is not guaranteed monotone, which is why
    rank correlations are reported beside the PLCC.

    The fit runs on standardised distances and scores (then maps the parameters back) with
    ``scipy.optimize.curve_fit`` (trust-region reflective), bounds ``b2 > 0`` (which makes the
    parameters unique: ``(b1, b2)`` and ``(-b1, -b2)`` give the same curve) and nine starts: the
    amplitude is the score range signed by the rank correlation, the midpoint at the 25th, 50th
    and 75th percentile of the distances, the slope 0.5, 2 or 8 per standard deviation, no linear
    term and the mean score as offset. ``b1`` and ``b4`` are bounded to the sign of the rank
    correlation, so the map is monotone, as VQEG requires of it. The start with the least squared
    error wins; the search stops early once two starts reach the same error. Good data converge
    in a few dozen evaluations per start (about 0.3 s for 10,000 points); data with no relation
    may exhaust :data:`MAX_EVALUATIONS` and end in the fallback.

    Fallback: with fewer than :data:`MIN_LOGISTIC_POINTS` points, when every start fails, or when
    the best logistic fits worse than a straight line, the least-squares line
    ``slope * d + intercept`` is returned with ``fit_ok=False`` and the reason in ``message``.
    """
    x, y = _check_pair(distances, mos)
    slope, intercept = np.polyfit(x, y, 1)
    line = LogisticFit((float(slope), float(intercept)), "linear", False)
    line_sse = float(np.sum((line(x) - y) ** 2))
    if len(x) < MIN_LOGISTIC_POINTS:
        return _fallback(line, f"{len(x)} points < {MIN_LOGISTIC_POINTS} for five parameters")
    mx, sx, my, sy = x.mean(), x.std(), y.mean(), y.std()
    u, v = (x - mx) / sx, (y - my) / sy
    best, best_sse, errors = None, np.inf, []
    for c, sse, error in _fits(u, v):
        if error:
            errors.append(error)
            continue
        if np.isclose(sse, best_sse, rtol=1e-6, atol=1e-12):
            break  # two starts reached the same minimum: take it
        if sse < best_sse:
            best, best_sse = c, sse
    if best is None:
        return _fallback(line, f"every logistic start failed: {errors[0]}")
    if best_sse * sy**2 > line_sse * (1.0 + 1e-9) + 1e-12 * len(x) * sy**2:
        return _fallback(line, "the best logistic fits worse than a straight line")
    c1, c2, c3, c4, c5 = best
    params = (sy * c1, c2 / sx, mx + sx * c3, sy * c4 / sx, my + sy * (c5 - c4 * mx / sx))
    return LogisticFit(tuple(float(p) for p in params), "logistic5", True)


def _jacobian(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """Partial derivatives of :func:`logistic5` with respect to b1..b5, shape ``(n, 5)``."""
    s = expit(b2 * (x - b3))
    slope = b1 * s * (1.0 - s)
    return np.stack([s - 0.5, slope * (x - b3), -slope * b2, x, np.ones_like(x)], axis=1)


def _fits(u: np.ndarray, v: np.ndarray) -> Iterator[tuple[np.ndarray | None, float, str]]:
    """``(params, sse, error)`` of every start, on standardised data (see :func:`logistic_fit`)."""
    direction = np.sign(stats.spearmanr(u, v).statistic) or 1.0
    span = v.max() - v.min()
    # b1 and b4 share the direction of the data, so the map is monotone (VQEG's requirement).
    amplitude = sorted((0.0, direction * 10.0 * span))
    linear = sorted((0.0, direction * 10.0))
    lower = [amplitude[0], 1e-3, u.min() - 1.0, linear[0], v.min() - 10.0 * span]
    upper = [amplitude[1], 1e3, u.max() + 1.0, linear[1], v.max() + 10.0 * span]
    starts = product((2.0, 0.5, 8.0), np.percentile(u, (50, 25, 75)))
    for slope, midpoint in starts:
        start = np.clip([direction * span, slope, midpoint, 0.0, v.mean()], lower, upper)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optimize.OptimizeWarning)
                c, _ = optimize.curve_fit(
                    logistic5,
                    u,
                    v,
                    p0=start,
                    bounds=(lower, upper),
                    jac=_jacobian,
                    max_nfev=MAX_EVALUATIONS,
                )
        except (RuntimeError, ValueError) as error:
            yield None, np.inf, str(error)
            continue
        sse = float(np.sum((logistic5(u, *c) - v) ** 2))
        yield (c, sse, "") if np.isfinite(sse) else (None, np.inf, "non-finite residuals")


def _fallback(line: LogisticFit, reason: str) -> LogisticFit:
    log.warning("logistic fit replaced by a linear map: %s", reason)
    return LogisticFit(line.params, "linear", False, reason)


# ---------------------------------------------------------------- all together


def mos_correlations(
    distances: ArrayLike, mos: ArrayLike, higher_is_better: bool = True
) -> dict[str, float | int | bool | str]:
    """SROCC, KROCC, PLCC and RMSE of metric distances against MOS (sign convention above).

    Returns a dict with:

    - ``srocc``, ``krocc``: Spearman / Kendall tau-b between distances and MOS, times ``sign``;
      ``srocc_p``, ``krocc_p`` their two-sided p-values.
    - ``plcc``: Pearson between the logistic predictions (:func:`logistic_fit`) and MOS, >= 0.
    - ``plcc_raw``: Pearson between raw distances and MOS, times ``sign``; ``plcc_raw_p``.
    - ``rmse``: root-mean-square error of the fitted predictions, in MOS units.
    - ``n``; ``fit`` (``"logistic5"`` or ``"linear"``), ``fit_ok``, ``fit_note`` (why not ok);
      ``sign`` (-1 for ``higher_is_better``, +1 otherwise), ``higher_is_better``, ``sign_note``.
    """
    x, y = _check_pair(distances, mos)
    sign = -1 if higher_is_better else 1
    srocc, srocc_p = spearman(x, y)
    krocc, krocc_p = kendall(x, y)
    raw, raw_p = pearson(x, y)
    fit = logistic_fit(x, y)
    predicted = fit(x)
    plcc = pearson(predicted, y)[0] if np.ptp(predicted) > 0 else 0.0
    return {
        "n": len(x),
        "srocc": sign * srocc,
        "srocc_p": srocc_p,
        "krocc": sign * krocc,
        "krocc_p": krocc_p,
        "plcc": plcc,
        "plcc_raw": sign * raw,
        "plcc_raw_p": raw_p,
        "rmse": float(np.sqrt(np.mean((predicted - y) ** 2))),
        "fit": fit.kind,
        "fit_ok": fit.fit_ok,
        "fit_note": fit.message,
        "sign": sign,
        "higher_is_better": bool(higher_is_better),
        "sign_note": SIGN_NOTE,
    }
