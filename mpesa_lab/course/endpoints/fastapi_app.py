"""The reference endpoint in FastAPI (lesson 10's solution).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations (``Request``)
at definition time, and a string annotation naming a local import would turn into a query field.
"""

from typing import Any

from mpesa_lab.course.endpoints.orders import OrderBook, StorageError, settle


def fastapi_app(book: OrderBook) -> Any:
    """POST /mpesa/callback (the CallBackURL), plus the read-back protocol on /orders."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/mpesa/callback")
    async def callback(request: Request) -> Any:
        raw = await request.body()
        try:
            return settle(book, raw)  # stored before the answer; fast: no network calls in here
        except StorageError:
            return JSONResponse({"ResultCode": 1, "ResultDesc": "Not stored"}, status_code=500)

    @app.post("/orders")
    async def add_order(request: Request) -> Any:
        book.add_order(await request.json())
        return {"ok": True}

    @app.get("/orders/{checkout_request_id}")
    async def read_order(checkout_request_id: str) -> Any:
        record = book.order(checkout_request_id)
        return JSONResponse({"error": "no such order"}, status_code=404) if record is None else record

    return app
