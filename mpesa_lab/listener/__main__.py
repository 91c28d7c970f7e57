"""``python -m mpesa_lab.listener``: run the callback listener in the foreground.

python -m mpesa_lab.listener --port 8000 --db lab.sqlite [--token TOKEN] [--expose]
"""

from __future__ import annotations

import argparse
import sys

from mpesa_lab.background import DEFAULT_REQUEST_TIMEOUT
from mpesa_lab.constants import LISTENER_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES


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
    from mpesa_lab.listener.server import SAFARICOM_IPS, run_listener
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
