"""The reference endpoint in Flask (lesson 10's solution, the same handler)."""

from __future__ import annotations

from typing import Any

from mpesa_lab.course.endpoints.orders import OrderBook, StorageError, settle


def flask_app(book: OrderBook) -> Any:
    """POST /mpesa/callback (the CallBackURL), plus the read-back protocol on /orders."""
    from flask import Flask, jsonify, request

    app = Flask("mpesa_lab_endpoint")

    @app.post("/mpesa/callback")  # Flask has no CSRF check of its own (Flask-WTF's CSRFProtect would need an exemption)
    def callback() -> Any:
        try:
            return jsonify(settle(book, request.get_data()))
        except StorageError:
            return jsonify({"ResultCode": 1, "ResultDesc": "Not stored"}), 500

    @app.post("/orders")
    def add_order() -> Any:
        book.add_order(request.get_json(force=True))
        return jsonify({"ok": True})

    @app.get("/orders/<checkout_request_id>")
    def read_order(checkout_request_id: str) -> Any:
        record = book.order(checkout_request_id)
        return (jsonify({"error": "no such order"}), 404) if record is None else jsonify(record)

    return app
