"""The report's mixed-model section: effects in a table, the fits' warnings folded beneath it.

``results/stats/mixed_models.parquet`` repeats each fit's warnings (statsmodels' messages, first
line each) on every term row of that fit. Shown as a table column they filled screens inside the
cells; here the table keeps ``converged`` and one short note per table says how many fits warned,
with each fit's messages in full behind a ``<details>``. A random-effect variance "on the
boundary", the usual warning with a few contexts, is explained once in plain words.
"""

from __future__ import annotations

import re

import pandas as pd

from dpsim.report import html

__all__ = ["BOUNDARY_WORDS", "fit_warnings", "models_section"]

#: One fit of the table: a dataset (context scores or a BAPPS subset).
FIT_KEYS = ["dataset", "kind", "subset"]

#: The table's columns; the fits' messages go below it.
SHOWN = ["dataset", "kind", "subset", "term", "effect", "ci_low", "ci_high", "p"]
SHOWN += ["n_obs", "n_groups", "group_variance", "converged"]

#: statsmodels' words for a variance estimated at zero, where the fit is degenerate.
_BOUNDARY = re.compile(r"boundary|singular", re.IGNORECASE)

#: What a random-effect variance on the boundary means, for a reader who is not a statistician.
BOUNDARY_WORDS = (
    "What 'on the boundary' means: besides the effects in the table, each model estimates how "
    "much the contexts differ from one another (group_variance, the spread of the "
    "(1 | context) term). A variance cannot be negative. When the contexts' scores differ no "
    "more than the noise within a context explains, which is common with few contexts (too few "
    "to tell how much contexts differ), the best estimate is zero: the edge, or boundary, of "
    "the values a variance can take. statsmodels then warns, and any messages about dividing "
    "by zero follow from that zero. Such a fit is an ordinary regression without a context "
    "term: its effects are still estimates, but their intervals ignore how contexts differ, so "
    "read them with care. The per-context McNemar tests and the per-subset BAPPS tests do not "
    "rest on this model."
)


def fit_warnings(models: pd.DataFrame) -> pd.DataFrame:
    """One row per fit with messages: its keys, ``n_groups``, ``fitted`` (False: the model could
    not be fitted, the message says why), ``boundary`` (a variance estimated at zero) and
    ``note`` (every message, as the statistics recorded it)."""
    columns = [*FIT_KEYS, "n_groups", "fitted", "boundary", "note"]
    if models.empty:
        return pd.DataFrame(columns=columns)
    noted = models[models["note"].fillna("").astype(str) != ""]
    noted = noted.assign(fitted=noted["term"] != "(model)")  # "(model)": the fit's only row
    fits = noted.groupby(FIT_KEYS, sort=False).agg(
        n_groups=("n_groups", "first"), fitted=("fitted", "all"), note=("note", "first")
    )
    fits["boundary"] = fits["fitted"] & fits["note"].str.contains(_BOUNDARY)
    return fits.reset_index()[columns]


def _short_note(fits: int, notes: pd.DataFrame) -> str:
    warned = notes[notes["fitted"]]
    failed = len(notes) - len(warned)
    text = f"{len(warned)} of {fits} fits warned"
    boundary = int(notes["boundary"].sum())
    if boundary:
        text += f" ({boundary} with the between-context variance on the boundary, see below)"
    if failed:
        text += f"; {failed} could not be fitted (no numbers in their rows)"
    return text + "; the messages are folded under the table."


def _messages(notes: pd.DataFrame) -> str:
    items = [
        f"{row.dataset} {row.kind} {row.subset} ({int(row.n_groups)} contexts"
        f"{'' if row.fitted else ', not fitted'}): {row.note}"
        for row in notes.itertuples()
    ]
    fits = f"{len(notes)} fit" + ("s" if len(notes) > 1 else "")
    return html.collapsible(f"Messages of {fits}", html.bullet_list(items))


def models_section(models: pd.DataFrame) -> html.Section:
    """The "Mixed models" section: the effects (folded when long), one note on the fits'
    warnings with their full text folded, and :data:`BOUNDARY_WORDS` once when a fit needs it."""
    if models.empty:
        return html.Section("models", "Mixed models", html.paragraph("No model in this run."))
    fits = len(models.drop_duplicates(FIT_KEYS))
    parts = [html.folded_table(f"Effects of the {fits} fits", models[SHOWN])]
    notes = fit_warnings(models)
    if notes.empty:
        parts.append(html.paragraph(f"None of the {fits} fits warned."))
    else:
        parts += [html.paragraph(_short_note(fits, notes)), _messages(notes)]
    if notes["boundary"].any():
        parts.append(html.paragraph(BOUNDARY_WORDS))
    return html.Section("models", "Mixed models", "".join(parts))
