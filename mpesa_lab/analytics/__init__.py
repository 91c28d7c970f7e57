"""Merchant side, after the fact: outcomes from any source, in one schema, with answers.

>>> from mpesa_lab import analytics
>>> out = analytics.load("data/week")           # a Lab, a store, JSON lines, CSV, Parquet...
>>> out.transactions                             # status, result_code, result_desc, phone, ...
>>> analytics.summary(out.transactions)          # counts, shares and mitigation by result code
>>> analytics.by_hour(out.transactions)          # paid / cancel / no-answer rates by hour of day
>>> analytics.report("data/week", "report/")     # index.html + PNGs

Nothing heavy is imported until used: importing this package does not import pandas,
matplotlib or DuckDB. It never imports the emulator. ``load`` and ``report`` are functions: no
module of this package is named like a function it exports (importing a submodule makes it the
package's attribute of that name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mpesa_lab._exports import lazy_exports

if TYPE_CHECKING:
    from mpesa_lab.analytics.analyses import (
        duplicates,
        funnel,
        latency,
        latency_distribution,
        missing_callbacks,
        refusals,
        success_rate,
        summary,
        unknown_callbacks,
        unknown_codes,
    )
    from mpesa_lab.analytics.html_report import report
    from mpesa_lab.analytics.limits import LoadError
    from mpesa_lab.analytics.outcomes import Outcomes, Problem
    from mpesa_lab.analytics.questions import (
        amount_mismatches,
        by_hour,
        by_shortcode,
        callback_funnel,
        hour_heatmap,
        latency_by_code,
        outcome,
        reconciliation,
        retry_chains,
        retry_conversion,
    )
    from mpesa_lab.analytics.sources import export, load, scan

__getattr__, __dir__, __all__ = lazy_exports(__name__)


def transactions(source: Any) -> Any:
    """The transactions frame of any source (see ``load``)."""
    from mpesa_lab.analytics.sources import load

    return load(source).transactions
