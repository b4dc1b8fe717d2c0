"""Real XMPP client logins for the ejabberd end-to-end test (slixmpp, SASL PLAIN over STARTTLS).

``await Client(jid, password).login()`` connects to ejabberd's c2s port, negotiates STARTTLS
(certificate check off: Debian's ejabberd ships a self-signed certificate), authenticates with
SASL PLAIN, binds a resource and closes the stream. It returns "ok" (session started),
"refused" (SASL failure) or "error: ..." (connection failure, stream error, timeout).
A Client can log in again and again (a new TCP connection, TLS handshake and SASL exchange
each time); reusing it saves building a new slixmpp object per login.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl

import slixmpp

# slixmpp logs SASL failures and disconnects at warning/error level; the test reports them itself.
logging.getLogger("slixmpp").setLevel(logging.CRITICAL)

# slixmpp 1.9 changed connect(): connect(address, force_starttls=...) became connect(host, port)
# with the enable_starttls / enable_direct_tls / enable_plaintext attributes.
_OLD_CONNECT = "force_starttls" in inspect.signature(slixmpp.ClientXMPP.connect).parameters

# Clients stay referenced until the process ends: a collected client with a pending slixmpp task
# makes asyncio print "Task was destroyed but it is pending!".
_ALL: list[Client] = []


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, host: str = "127.0.0.1", port: int = 5222) -> None:
        super().__init__(jid, password, sasl_mech="PLAIN")
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self._target = (host, port)
        self.outcome: asyncio.Future[str] | None = None
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_all_auth", lambda _e: self._settle("refused"))
        self.add_event_handler("connection_failed", lambda e: self._settle(f"error: connect: {e}"))
        self.add_event_handler("stream_error", lambda e: self._settle(f"error: stream: {e}"))
        self.add_event_handler("disconnected", lambda _e: self._settle("error: disconnected"))
        _ALL.append(self)

    def _settle(self, value: str) -> None:
        if self.outcome is not None and not self.outcome.done():
            self.outcome.set_result(value)

    async def _on_session_start(self, _event: object) -> None:
        self._settle("ok")

    async def login(self, timeout: float = 40.0) -> str:
        """Log in once; see the module docstring for the result."""
        self.outcome = asyncio.get_running_loop().create_future()
        if _OLD_CONNECT:  # slixmpp < 1.9 (Debian 12's 1.8.3)
            self.connect(self._target, force_starttls=True)
        else:  # slixmpp 1.9+ (Debian 13's 1.10): STARTTLS only, no direct TLS, no plain text
            self.enable_direct_tls = False
            self.enable_starttls = True
            self.enable_plaintext = False
            self.connect(*self._target)
        try:
            return await asyncio.wait_for(asyncio.shield(self.outcome), timeout)
        except asyncio.TimeoutError:
            return "error: timeout"
        finally:
            self.cancel_connection_attempt()  # no reconnection attempts after a failure
            try:
                await asyncio.wait_for(self.disconnect(wait=2.0), 5)
            except Exception:  # noqa: BLE001
                self.abort()
            self.outcome = None


async def login(jid: str, password: str, host: str = "127.0.0.1", port: int = 5222) -> str:
    """Log in once with a fresh client."""
    return await Client(jid, password, host, port).login()
