"""mpesa-lab: learn, demo and analyse Safaricom's M-Pesa Express (STK push) API."""

__version__ = "0.1.0"
