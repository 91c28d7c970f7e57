"""The reference endpoint in Django (lesson 10's solution, the same handler): a one-file project
(settings configured in code, the URLs below), served as a WSGI app.

The one Django-specific line that matters: ``csrf_exempt``. Django's CSRF middleware refuses any
POST without a CSRF token (403), and Daraja sends none.
"""

from __future__ import annotations

import json
from typing import Any

from mpesa_lab.course.endpoints.orders import OrderBook, StorageError, settle

_book = OrderBook()  # Django's URLconf is a module: the book its views use (django_app sets it)


def _views() -> list[Any]:
    from django.http import HttpRequest, HttpResponse, JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_GET, require_POST

    @csrf_exempt  # Daraja sends no CSRF token: without this every callback is a 403
    @require_POST
    def callback(request: HttpRequest) -> HttpResponse:
        try:
            return JsonResponse(settle(_book, request.body))
        except StorageError:
            return JsonResponse({"ResultCode": 1, "ResultDesc": "Not stored"}, status=500)

    @csrf_exempt
    @require_POST
    def add_order(request: HttpRequest) -> HttpResponse:
        _book.add_order(json.loads(request.body))
        return JsonResponse({"ok": True})

    @require_GET
    def read_order(request: HttpRequest, checkout_request_id: str) -> HttpResponse:
        record = _book.order(checkout_request_id)
        return JsonResponse({"error": "no such order"}, status=404) if record is None else JsonResponse(record)

    return [
        path("mpesa/callback", callback),
        path("orders", add_order),
        path("orders/<str:checkout_request_id>", read_order),
    ]


urlpatterns: list[Any] = []


def django_app(book: OrderBook) -> Any:
    """A WSGI app for this module's URLs over ``book`` (Django's settings are configured once per
    process; a second call keeps them and swaps the book)."""
    global _book
    _book = book
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="lesson-10-not-a-secret",  # noqa: S105 - a throwaway key for a local lesson app
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["*"],
            MIDDLEWARE=["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
            APPEND_SLASH=False,
            INSTALLED_APPS=[],
        )
        django.setup()
    if not urlpatterns:
        urlpatterns.extend(_views())
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()
