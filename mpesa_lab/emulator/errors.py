"""The emulator's errors: Daraja's error envelope, and the control calls' own errors.

``EnvelopeError`` is what the Safaricom side answers with: ``{requestId, errorCode, errorMessage}``
and the doc's HTTP status. Codes, messages and statuses come from the catalogue
(``mpesa_lab.codes``), looked up by name, so the emulator and the merchant side can never disagree
about what an error says. (The merchant side's ``mpesa_lab.daraja.errors.DarajaError`` is what a
client raises on *reading* such an envelope; this one is the emulator *answering* with it.)

``EmulatorError`` and ``UnknownTransaction`` are the Python control calls' mistakes; the /_lab/
HTTP API turns them into 400.002.02 and 404.001.01 envelopes.
"""

from __future__ import annotations

from typing import Any

from mpesa_lab import codes


class EnvelopeError(Exception):
    """An error the emulator answers with Daraja's envelope (raised inside request handling)."""

    def __init__(
        self, code: str, message: str, status: int = 500, *, empty_body: bool = False, request_id: str | None = None
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status
        # Live OAuth sometimes answers wrong credentials with a bare 400 and no body at all.
        self.empty_body = empty_body
        # The envelope's requestId when it is not a fresh one (the pending query: the CheckoutRequestID).
        self.request_id = request_id

    @classmethod
    def named(cls, name: str, message: str | None = None, **kwargs: Any) -> EnvelopeError:
        """The catalogue entry called ``name`` (e.g. ``"wrong_credentials"``) as an error."""
        entry = codes.by_name(name)
        return cls(entry.code, message or entry.message, entry.http_status or 500, **kwargs)

    def envelope(self, request_id: str) -> dict[str, str]:
        return {"requestId": request_id, "errorCode": self.code, "errorMessage": self.message}


def bad_request(field: str) -> EnvelopeError:
    """``400.002.02 Bad Request - Invalid <field>``, worded as the live API words it."""
    entry = codes.by_name("bad_request")
    return EnvelopeError(entry.code, entry.message.replace("XXXX", field), entry.http_status or 400)


# An app without the M-Pesa Express product, as integrators have captured it (HTTP 401; the
# errorCode and message are not in Daraja's doc; its FAQ names the message). See docs/emulator.md.
NO_PRODUCT_CODE = "401.003.01"
NO_PRODUCT_MESSAGE = "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"


def no_product_error() -> EnvelopeError:
    """What a push or query answers when the app lacks the M-Pesa Express product."""
    return EnvelopeError(NO_PRODUCT_CODE, NO_PRODUCT_MESSAGE, 401)


def method_not_allowed(method: str) -> EnvelopeError:
    """``405.001``: the doc's example reads "GET Method Not Allowed"."""
    entry = codes.by_name("method_not_allowed")
    return EnvelopeError(entry.code, f"{method.upper()} {entry.message}", entry.http_status or 405)


def from_code(code: str, message: str | None = None, status: int | None = None) -> EnvelopeError:
    """An error by its code (and message, for codes Daraja reuses); unknown codes are allowed."""
    entry = codes.error_entry(code, message)
    text = message or (entry.message if entry.known else "Unknown error")
    return EnvelopeError(str(code), text, status or entry.http_status or 500)


def is_envelope(body: Any) -> bool:
    """True when ``body`` has exactly Daraja's three envelope keys, all strings."""
    return (
        isinstance(body, dict)
        and set(body) == {"requestId", "errorCode", "errorMessage"}
        and all(isinstance(v, str) for v in body.values())
    )


class EmulatorError(ValueError):
    """A control call that cannot be done; the message says why and what to do instead."""


class UnknownTransaction(EmulatorError, KeyError):
    """No transaction has this CheckoutRequestID."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown transaction"
