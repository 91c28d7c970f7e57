"""Lesson 10's reference callback endpoint, in FastAPI, Flask and Django.

The logic is written once (orders.py: the shop's order book and ``settle``, what a careful handler
does with a callback); each framework module is the thin route around it, as a learner writes it in
their own app. check-callback passes on all three. The framework packages come with the ``course``
extra (``pip install "mpesa-lab[course]"``); each is imported only by its own module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpesa_lab._exports import lazy_exports

if TYPE_CHECKING:
    from mpesa_lab.course.endpoints.django_app import django_app
    from mpesa_lab.course.endpoints.fastapi_app import fastapi_app
    from mpesa_lab.course.endpoints.flask_app import flask_app
    from mpesa_lab.course.endpoints.orders import ACK, OrderBook, StorageError, read_callback, settle, settle_order
    from mpesa_lab.course.endpoints.serve import ServedEndpoint, serve_asgi, serve_wsgi

__getattr__, __dir__, __all__ = lazy_exports(__name__)
