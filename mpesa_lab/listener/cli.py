"""The ``mpesa-lab listen`` command's work (also ``python -m mpesa_lab.listener``): the callback
listener in the foreground, printing each delivery as it is stored.

python -m mpesa_lab.listener --port 8000 --db lab.sqlite [--token TOKEN] [--expose]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mpesa_lab.background import DEFAULT_REQUEST_TIMEOUT
from mpesa_lab.constants import LISTENER_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES

if TYPE_CHECKING:  # the parser (mpesa-lab --help) must not load the server and the store
    from mpesa_lab.listener.server import Listener
    from mpesa_lab.store.records import StoredDelivery


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mpesa_lab.listener",
        description="Receive M-Pesa Express callbacks, store each one durably, print them.",
    )
    add_arguments(parser)
    return parser


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535, else a one-line usage error."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number: give 0 to 65535 (0 picks a free one)"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: give 0 to 65535 (0 picks a free one)")
    return port


def positive_number(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number above zero")
    return value


def positive_integer(text: str) -> int:
    """An argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be above zero")
    return value


def ip_or_network(text: str) -> str:
    """An argparse type: an IP address or CIDR network, checked here so the error names the option."""
    import ipaddress

    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IP address or network (e.g. 196.201.214.200 or 196.201.212.0/24)"
        ) from None
    return text.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The listener's options; shared with ``mpesa-lab listen``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8000, help="port (default 8000; 0 = any free)")
    parser.add_argument(
        "--db", default=None, help="SQLite store (default: a new file under $MPESA_LAB_HOME or ~/.mpesa-lab)"
    )
    parser.add_argument("--token", default=None, help="secret path segment of the callback URL (default: random)")
    parser.add_argument(
        "--allow-ip",
        action="append",
        default=None,
        metavar="IP_OR_CIDR",
        type=ip_or_network,
        help="accept callbacks only from this address (repeatable)",
    )
    parser.add_argument(
        "--safaricom-only", action="store_true", help="accept callbacks only from Safaricom's published addresses"
    )
    parser.add_argument(
        "--trust-proxy",
        action="append",
        default=None,
        metavar="IP_OR_CIDR",
        type=ip_or_network,
        help="believe X-Forwarded-For only from this proxy (repeatable); --expose trusts its own tunnel agent",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_number,
        default=DEFAULT_REQUEST_TIMEOUT,
        help="seconds a client gets to send a whole request before it is "
        f"disconnected (default {DEFAULT_REQUEST_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-body",
        type=positive_integer,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest body accepted, in bytes (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--expose", action="store_true", help="open an ngrok tunnel (needs NGROK_AUTHTOKEN) and print its https URL"
    )
    parser.add_argument("--ngrok-path", default=None, help="the ngrok agent binary")
    parser.add_argument("--quiet", action="store_true", help="do not print each callback")


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """Run the listener from parsed options; 2 with a one-line error on bad input."""
    # Imported here: building the parser (`mpesa-lab --help`) must not load the server and tunnel.
    from mpesa_lab.background import ServerStartError
    from mpesa_lab.listener.server import SAFARICOM_IPS
    from mpesa_lab.listener.tunnel import TunnelError
    from mpesa_lab.store.errors import StoreError

    allowed = list(args.allow_ip or [])
    if args.safaricom_only:
        allowed.extend(SAFARICOM_IPS)
    try:
        return run_listener(
            args.host,
            args.port,
            args.db,
            path_token=args.token,
            allowed_ips=allowed or None,
            expose=args.expose,
            ngrok_path=args.ngrok_path,
            max_body_bytes=args.max_body,
            quiet=args.quiet,
            trusted_proxies=args.trust_proxy,
            request_timeout=args.request_timeout,
        )
    except (ServerStartError, StoreError, TunnelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


def format_delivery(stored: StoredDelivery) -> str:
    """One line per delivery: time, CheckoutRequestID, ResultCode, ResultDesc, amount, flags."""
    when = stored.received_at.strftime("%H:%M:%S")
    cb = stored.callback
    if cb is None:
        return f"{when}  {stored.outcome.upper():<12} {stored.http_status}  {stored.reason or ''}"
    amount = f"KES {cb.amount}" if cb.amount is not None else "-"
    flags = " ".join(f"[{name}]" for name, on in (("duplicate", stored.duplicate), ("unknown", stored.unknown)) if on)
    return (
        f"{when}  {cb.checkout_request_id}  {cb.result_code:>5}  {cb.result_desc or ''}  {amount}  {flags}"
    ).rstrip()


def run_listener(
    host: str = "127.0.0.1",
    port: int = 8000,
    db_path: str | Path | None = None,
    path_token: str | None = None,
    allowed_ips: Iterable[str] | None = None,
    expose: bool = False,
    *,
    authtoken: str | None = None,
    ngrok_path: str | Path | None = None,
    tunnel_timeout: float = 15.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    trusted_proxies: Iterable[str] | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    quiet: bool = False,
    out: IO[str] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run the listener in the foreground until Ctrl-C or SIGTERM; returns an exit status.

    Prints the callback URL and the store's path, then one line per delivery as it arrives
    (unless ``quiet``). Every delivery it answered 200 to is already committed when it stops.
    """
    stream = out or sys.stdout
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(line, file=stream, flush=True)

    def on_delivery(stored: StoredDelivery) -> None:
        if not quiet:
            say(format_delivery(stored))

    stop = stop_event or threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        # Only flag it: printing here could deadlock on ``lock`` held by the interrupted code.
        received.append(signal.Signals(signum).name)
        stop.set()

    # Handlers go in before anything slow, so Ctrl-C at any moment is a clean stop, never a
    # KeyboardInterrupt traceback; the previous handlers come back afterwards.
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    from mpesa_lab.listener.server import Listener

    listener: Listener | None = None
    try:
        listener = Listener(
            db_path,
            path_token=path_token,
            allowed_ips=allowed_ips,
            max_body_bytes=max_body_bytes,
            on_delivery=on_delivery,
            trusted_proxies=trusted_proxies,
            request_timeout=request_timeout,
        )
        listener.start(host, port)
        if expose and not stop.is_set():
            listener.expose(authtoken, ngrok_path=ngrok_path, timeout=tunnel_timeout)
        say(f"Callback URL: {listener.callback_url}")
        if listener.tunnel is not None:
            say(f"Local URL:    {listener.local_callback_url}")
        say(f"Store:        {listener.store.path}")
        say("Waiting for callbacks (Ctrl-C to stop)...")
        while not stop.wait(0.5):
            if not listener.running:
                say("The server stopped unexpectedly.")
                return 1
        if received:
            say(f"Stopping ({received[0]}): finishing the callbacks in flight...")
        return 0
    finally:
        if listener is not None:
            listener.stop()  # also ends the store's writer: every acknowledged row is committed
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if listener is not None:
            try:
                say(f"Stopped. {listener.store.count_deliveries()} deliveries in {listener.store.path}")
            except Exception:  # the store may be what failed
                pass
