"""mpesa-lab: learn, demo and analyse Safaricom's M-Pesa Express (STK push) API."""

__version__ = "0.1.0"

from mpesa_lab._lazy import defer_httpx_cli as _defer_httpx_cli  # noqa: E402

# Before anything imports httpx: its command-line client is not needed to make requests.
_defer_httpx_cli()
