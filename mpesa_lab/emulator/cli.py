"""Serving the emulator: in-process in a background thread, or in the foreground for the CLI."""

from __future__ import annotations

import gc
import sys
from typing import TextIO

from mpesa_lab.background import (
    DEFAULT_REQUEST_TIMEOUT,
    ConnectionGuard,
    GuardedListenSocket,
    RepeatLimiter,
    bind_socket,
)
from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.emulator.contract import CONTRACT_YAML_PATH
from mpesa_lab.emulator.control import control_token_for, require_token
from mpesa_lab.emulator.emulator import Emulator
from mpesa_lab.emulator.scenarios import ERROR_PHONES, TRIGGERS


def start_emulator(host: str = "127.0.0.1", port: int = 0, config: EmulatorConfig | None = None) -> Emulator:
    """A new emulator serving in a background thread (replacing one started earlier)."""
    return Emulator(config).start(host, port)


def banner(url: str, seed: int | None = None, control_token: str | None = None) -> str:
    """What the sandbox prints at start: where it listens, the lab credentials, the triggers
    (and the mix's seed, so a run drawn with a random one can be replayed), and the control
    token when it listens beyond loopback."""
    lines = [
        f"mpesa-lab Daraja emulator listening on {url}",
        "",
        f"  OAuth     GET  {url}{OAUTH_PATH}?grant_type=client_credentials",
        f"  STK push  POST {url}{STK_PUSH_PATH}",
        f"  STK query POST {url}{STK_QUERY_PATH}",
        f"  Control        {url}/_lab/  (transactions, answer prompts, scenarios, faults)",
        f"  Contract       {url}{CONTRACT_YAML_PATH}  (OpenAPI 3.1; docs/contract.md)",
        *(
            [
                f"  Control token  {control_token}  (listening beyond loopback: send it as the "
                "X-Lab-Token header to /_lab/)"
            ]
            if control_token
            else []
        ),
        "",
        "Lab credentials (public, valid only here):",
        f"  consumer key     {defaults.LAB_CONSUMER_KEY}",
        f"  consumer secret  {defaults.LAB_CONSUMER_SECRET}",
        f"  paybill          BusinessShortCode {defaults.PAYBILL_SHORTCODE}, PartyB {defaults.PAYBILL_SHORTCODE}, "
        "CustomerPayBillOnline",
        f"  passkey          {defaults.PAYBILL_PASSKEY}",
        f"  till             BusinessShortCode {defaults.TILL_SHORTCODE}, PartyB {defaults.TILL_NUMBER}, "
        "CustomerBuyGoodsOnline",
        f"  till passkey     {defaults.TILL_PASSKEY}",
        f"  test phone       {defaults.TEST_MSISDN} (PIN {defaults.TEST_PIN}; pays by default)",
        "",
        "Result-code triggers (PhoneNumber -> ResultCode in the callback):",
    ]
    for trigger in TRIGGERS:
        lines.append(f"  {trigger.phone}  {trigger.code}")
    lines.append("Error triggers (PhoneNumber -> error answer to the push):")
    for phone, name in ERROR_PHONES.items():
        lines.append(f"  {phone}  {name}")
    mix = "a seeded realistic mix" if seed is None else f"a realistic mix, seed {seed} (--seed {seed} replays it)"
    lines.append(f"Any other number: {mix}. Docs: docs/emulator.md. Ctrl-C stops.")
    return "\n".join(lines)


def _pace(config: EmulatorConfig) -> str:
    """One line saying how fast the emulator's world runs (its timing model and time scale)."""
    from mpesa_lab.emulator.config import effective_time_scale

    scale = effective_time_scale(config)
    if scale is None:
        return "Timing: quick (callbacks ~0.2 s after the push; --time-scale 1 runs in real time)."
    return f"Timing: real-world delays x {scale:g} (a payment ~12 s, an unanswered prompt ~30 s, times {scale:g})."


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8000,
    config: EmulatorConfig | None = None,
    *,
    out: TextIO | None = None,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve the emulator in the foreground until Ctrl-C (``mpesa-lab sandbox``).

    uvicorn's access log (one line per request) is off unless asked for: under load it costs
    about 15 % of the emulator's throughput, and the control API shows every transaction anyway.
    """
    import uvicorn

    stream = out or sys.stdout
    emulator = Emulator(config, name="sandbox")
    token = control_token_for(host)
    require_token(emulator.state, token.reveal() if token else None)
    sock = GuardedListenSocket.adopt(bind_socket(host, port), RepeatLimiter())  # clear error if taken
    try:
        bound = sock.getsockname()[1]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        print(
            banner(
                f"http://{shown}:{bound}", seed=emulator.config.seed, control_token=token.reveal() if token else None
            ),
            file=stream,
            flush=True,
        )
        print(_pace(emulator.config), file=stream, flush=True)
        # The foreground CLI owns its process's logging (uvicorn's access log when asked for);
        # the connection guard bounds slow and stalled clients as in the background servers.
        guard = ConnectionGuard(DEFAULT_REQUEST_TIMEOUT, None, RepeatLimiter())
        # This process is the emulator's own: what was imported so far lives as long as it does,
        # so the cyclic garbage collector need not walk it again on every full collection (a
        # long-running sandbox under load spends its p99 in those); and young collections run
        # less often.
        gc.freeze()
        gc.set_threshold(max(gc.get_threshold()[0], 50_000), *gc.get_threshold()[1:])
        server = uvicorn.Server(
            uvicorn.Config(
                emulator.app, log_level=log_level, lifespan="off", access_log=access_log, http=guard.protocol_class()
            )
        )
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            # uvicorn shuts down gracefully, then re-raises the Ctrl-C it captured: that is our
            # normal way out, not an error.
            pass
    finally:
        emulator.engine.stop()
        sock.close()
        print("emulator stopped", file=stream, flush=True)
