"""Daraja's error envelope: ``{requestId, errorCode, errorMessage}`` with the doc's HTTP status.

Codes, messages and statuses come from the catalogue (``mpesa_lab.codes``), looked up by name, so
the emulator and the merchant side can never disagree about what an error says.
"""

from __future__ import annotations

from typing import Any

from mpesa_lab import codes


class DarajaError(Exception):
    """An error the emulator answers with Daraja's envelope (raised inside request handling)."""

    def __init__(self, code: str, message: str, status: int = 500, *, empty_body: bool = False,
                 request_id: str | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status
        # Live OAuth sometimes answers wrong credentials with a bare 400 and no body at all.
        self.empty_body = empty_body
        # The envelope's requestId when it is not a fresh one (the pending query: the CheckoutRequestID).
        self.request_id = request_id

    @classmethod
    def named(cls, name: str, message: str | None = None, **kwargs: Any) -> "DarajaError":
        """The catalogue entry called ``name`` (e.g. ``"wrong_credentials"``) as an error."""
        entry = codes.by_name(name)
        return cls(entry.code, message or entry.message, entry.http_status or 500, **kwargs)

    def envelope(self, request_id: str) -> dict[str, str]:
        return {"requestId": request_id, "errorCode": self.code, "errorMessage": self.message}


def bad_request(field: str) -> DarajaError:
    """``400.002.02 Bad Request - Invalid <field>``, worded as the live API words it."""
    entry = codes.by_name("bad_request")
    return DarajaError(entry.code, entry.message.replace("XXXX", field), entry.http_status or 400)


def method_not_allowed(method: str) -> DarajaError:
    """``405.001``: the doc's example reads "GET Method Not Allowed"."""
    entry = codes.by_name("method_not_allowed")
    return DarajaError(entry.code, f"{method.upper()} {entry.message}", entry.http_status or 405)


def from_code(code: str, message: str | None = None, status: int | None = None) -> DarajaError:
    """An error by its code (and message, for codes Daraja reuses); unknown codes are allowed."""
    entry = codes.error_entry(code, message)
    text = message or (entry.message if entry.known else "Unknown error")
    return DarajaError(str(code), text, status or entry.http_status or 500)


def is_envelope(body: Any) -> bool:
    """True when ``body`` has exactly Daraja's three envelope keys, all strings."""
    return (
        isinstance(body, dict)
        and set(body) == {"requestId", "errorCode", "errorMessage"}
        and all(isinstance(v, str) for v in body.values())
    )
