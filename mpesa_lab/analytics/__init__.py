"""Merchant side, after the fact: outcomes from any source, in one schema, with answers.

>>> from mpesa_lab import analytics
>>> out = analytics.load("data/week")           # a Lab, a store, JSON lines, CSV, Parquet...
>>> out.transactions                             # status, result_code, result_desc, phone, ...
>>> analytics.summary(out.transactions)          # counts, shares and mitigation by result code
>>> analytics.report("data/week", "report/")     # index.html + PNGs

Nothing heavy is imported until used: importing this package does not import pandas,
matplotlib or DuckDB. It never imports the emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpesa_lab.analytics.analyses import (duplicates, funnel, latency, latency_distribution,
                                              missing_callbacks, refusals, success_rate, summary,
                                              unknown_callbacks, unknown_codes)
    from mpesa_lab.analytics.load import LoadError, Outcomes, Problem, export, load, scan
    from mpesa_lab.analytics.report import report

_WHERE = {
    **{name: "analyses" for name in ("duplicates", "funnel", "latency", "latency_distribution",
                                     "missing_callbacks", "refusals", "success_rate", "summary",
                                     "unknown_callbacks", "unknown_codes")},
    **{name: "load" for name in ("LoadError", "Outcomes", "Problem", "export", "load", "scan")},
    "report": "report",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if name in ("load", "report"):  # callable modules: load(source), report(source, out_dir)
        import importlib

        return importlib.import_module(f"mpesa_lab.analytics.{name}")
    if module is None:
        raise AttributeError(f"module 'mpesa_lab.analytics' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"mpesa_lab.analytics.{module}"), name)


def transactions(source: Any) -> Any:
    """The transactions frame of any source (see ``load``)."""
    from mpesa_lab.analytics.load import load

    return load(source).transactions
