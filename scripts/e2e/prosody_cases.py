"""Cases of the real-Prosody end-to-end test; run by scripts/e2e_prosody.sh, not by hand.

The shell script has written a Prosody configuration (host ``localhost``, ``authentication =
"external_insecure"``, the vendored mod_auth_external_insecure, ``external_auth_command`` = a
wrapper running the compiled binary with ``--protocol prosody``) and built lpty for Prosody's Lua.
This process serves the test API (api.py), starts and stops Prosody itself (the start-up race
needs fresh starts), logs in with a real client (client.py, slixmpp: STARTTLS, SASL PLAIN) and
checks both sides: Prosody's answer and what the API received. It prints one ``PASS name`` /
``FAIL name: why`` line per case. Passwords are never printed (a short hash stands for each).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from api import TestApi  # noqa: E402
from client import Client  # noqa: E402

HOST = "localhost"
# Users in the test API. A password with colons (the module joins fields with ':' and does not
# escape) and one with non-ASCII letters, CJK and an emoji (4 UTF-8 bytes) cross the terminal.
ALICE = ("alice", "Right-1")
BOB = ("bob", "a:b::c:")
JUERGEN = ("jürgen", "pässwörd 密码 🔑")
CAROL = ("carol", "old-pass-1")
CAROL_NEW = "new:pass-2 ü"
REFUSED = "refused-by-site"  # the API answers {"success": false} to setpass with this one


def pw_tag(password: object) -> str:
    if not isinstance(password, str):
        return repr(password)
    return "pw#" + hashlib.sha256(password.encode()).hexdigest()[:6]


def body(user: str, password: str | None = None) -> dict:
    b = {"username": f"{user}@{HOST}", "user": user, "server": HOST}
    if password is not None:
        b["password"] = password
    return b


def show(requests: list[dict]) -> str:
    out = []
    for r in requests:
        b = r["body"]
        if isinstance(b, dict):
            b = {k: (pw_tag(v) if k == "password" else v) for k, v in b.items()}
        out.append(f"{r['path']} {b}")
    return "; ".join(out) or "none"


class Prosody:
    """The Prosody process under test: started by this driver, one at a time."""

    def __init__(self, cmd: list[str], port: int, log: str, binary: str) -> None:
        self.cmd = cmd
        self.port = port
        self.log = log
        self.binary = binary
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> float:
        """Start Prosody and wait until its c2s port accepts connections; returns seconds."""
        self.stop()  # one Prosody at a time, even after a case that failed half-way
        t0 = time.monotonic()
        out = open(self.log + ".out", "ab")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        out.close()
        self.starts += 1
        deadline = t0 + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited with status {self.proc.returncode} at start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.monotonic() - t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("prosody did not listen within 30 s")

    def stop(self) -> int | None:
        """SIGTERM, then wait for the exit; returns the exit status (None if it was not up)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def extauth_pids(self) -> list[int]:
        """Running processes of the compiled binary (as lpty started them: the wrapper execs it)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if argv0 == self.binary and state != "Z":
                found.append(int(entry))
        return found

    def log_text(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Runner:
    def __init__(self, api: TestApi, prosody: Prosody, port: int, budget: float) -> None:
        self.api = api
        self.prosody = prosody
        self.port = port
        self.passed = 0
        self.failed = 0
        self.deadline = time.monotonic() + budget
        self.clients: dict[tuple[str, str], Client] = {}

    def report(self, name: str, problems: list[str], notes: list[str] | None = None) -> None:
        extra = f" ({'; '.join(notes)})" if notes else ""
        if problems:
            self.failed += 1
            print(f"FAIL {name}: {'; '.join(problems)}{extra}", flush=True)
        else:
            self.passed += 1
            print(f"PASS {name}{extra}", flush=True)

    async def login(self, user: str, password: str) -> str:
        key = (user, password)
        if key not in self.clients:
            self.clients[key] = Client(f"{user}@{HOST}", password, port=self.port)
        return await self.clients[key].login(timeout=20)

    async def case(self, name: str, fn) -> None:  # noqa: ANN001
        if time.monotonic() > self.deadline:
            self.report(name, ["not run: the time budget is spent"])
            return
        problems: list[str] = []
        notes: list[str] = []
        try:
            await fn(problems, notes)
        except Exception as e:  # noqa: BLE001
            problems.append(f"exception {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
        self.report(name, problems, notes)

    # --- helpers -----------------------------------------------------------------------------
    async def expect_login(self, problems: list[str], user: str, password: str, want: str,
                           what: str) -> list[dict]:
        """Log in once; expect `want` ("ok" or "refused") and exactly one API login request with
        exactly this user and password. Returns the API requests the login caused."""
        mark = self.api.mark()
        got = await self.login(user, password)
        reqs = self.api.since(mark)
        if got != want:
            problems.append(f"{what}: {got}, expected {want} (API saw: {show(reqs)})")
        wanted = [("/api/login", body(user, password))]
        seen = [(r["path"], r["body"]) for r in reqs]
        if seen != wanted:
            problems.append(f"{what}: the API saw {show(reqs)}, expected one login for "
                            f"{user}@{HOST} {pw_tag(password)}")
        return reqs


class SessionClient(Client):
    """A client that, once its session has started, runs `action(self)` and keeps its result."""

    def __init__(self, jid: str, password: str, port: int, action) -> None:  # noqa: ANN001
        super().__init__(jid, password, port=port)
        self.register_plugin("xep_0077")
        self.action = action
        self.action_result: object = None

    async def _on_session_start(self, _event: object) -> None:
        try:
            self.action_result = await self.action(self)
        except Exception as e:  # noqa: BLE001
            self.action_result = f"exception {type(e).__name__}: {e}"
        self._settle("ok")


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """Wait until none of `pids` runs (lpty's endproc sends SIGTERM and does not wait, so the
    program ends just after Prosody); returns those still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if running(pid)]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.05)


async def change_password(client: SessionClient, new: str) -> str:
    from slixmpp.exceptions import IqError, IqTimeout

    try:
        await client["xep_0077"].change_password(new, jid=HOST, timeout=15)
        return "changed"
    except IqError as e:
        return f"error {e.iq['error']['condition']}"
    except IqTimeout:
        return "timeout"


async def message_to(client: SessionClient, to: str) -> str:
    """Send a chat message to a bare JID; returns the error condition of the bounce, if any,
    within 10 s, else "no bounce"."""
    fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_error(msg) -> None:  # noqa: ANN001
        if str(msg["from"].bare) == to and not fut.done():
            fut.set_result(f"error {msg['error']['condition']}")

    client.add_event_handler("message_error", on_error)
    client.send_message(mto=to, mbody="hello", mtype="chat")
    try:
        return await asyncio.wait_for(fut, 10)
    except asyncio.TimeoutError:
        return "no bounce"


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--c2s-port", type=int, required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--prosody-cmd", required=True, help="JSON list: how to start Prosody")
    ap.add_argument("--prosody-log", required=True)
    ap.add_argument("--restarts", type=int, default=6)
    ap.add_argument("--budget", type=float, default=240)
    args = ap.parse_args()

    api = TestApi(args.api_port)
    for user, password in (ALICE, BOB, JUERGEN, CAROL):
        api.users[f"{user}@{HOST}"] = password
    api.refused_passwords.add(REFUSED)
    api.start()
    prosody = Prosody(json.loads(args.prosody_cmd), args.c2s_port, args.prosody_log, args.binary)
    r = Runner(api, prosody, args.c2s_port, args.budget)
    try:
        await run_cases(r, args)
    finally:
        prosody.stop()
        api.stop()
    print(f"# driver: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 else 1


async def run_cases(r: Runner, args: argparse.Namespace) -> None:
    p = r.prosody
    user, right = ALICE

    # --- the start-up race: fresh starts, the first query of each races lpty's echo-off --------
    # Odd starts log in first with a wrong password (it must never be let in), even starts with
    # the right one (it may fail once: the program discards a query queued before it started).
    # After that first login, answers must stay in step: wrong, right, wrong, right.
    for i in range(1, args.restarts + 1):
        async def race(problems: list[str], notes: list[str], i: int = i) -> None:
            secs = p.start()
            log_before = p.log_text().count("Unable to interpret data from auth process")
            mark = r.api.mark()
            first_pw = right if i % 2 == 0 else "Wrong-" + str(i)
            first = await r.login(user, first_pw)
            if first_pw != right and first != "refused":
                problems.append(f"first login after the start, wrong password: {first}")
            if first_pw == right and first not in ("ok", "refused"):
                problems.append(f"first login after the start, right password: {first}")
            notes.append(f"start {secs:.1f}s, first login ({'right' if first_pw == right else 'wrong'}"
                         f" password): {first}")
            for n, (pw, want) in enumerate(
                    [("Wrong-x" + str(i), "refused"), (right, "ok"), ("Wrong-y", "refused"),
                     (right, "ok")], 1):
                await r.expect_login(problems, user, pw, want, f"login {n + 1} after the start")
            echoed = p.log_text().count("Unable to interpret data from auth process") - log_before
            if echoed:
                notes.append(f"Prosody logged {echoed} unreadable reply (the echoed first query)")
            first_reqs = r.api.since(mark)[: len(r.api.since(mark)) - 4]
            if len(first_reqs) > 1:
                problems.append(f"the first login made {len(first_reqs)} API calls: "
                                f"{show(first_reqs)}")
            elif not first_reqs:
                notes.append("its query was discarded unanswered")
            pids = p.extauth_pids()
            status = p.stop()
            if status not in (0, None):
                problems.append(f"prosody exited with status {status}")
            left = await wait_gone(pids)
            if not pids:
                problems.append("no xmpp-extauth process was running")
            elif left:
                problems.append(f"xmpp-extauth still running after Prosody stopped: {left}")

        await r.case(f"start-up race, start {i}/{args.restarts}: a wrong password is never let "
                     f"in, answers stay in step", race)

    # --- one more start for the other cases; its first query may be discarded (see above) -----
    async def warm_up(problems: list[str], notes: list[str]) -> None:
        p.start()
        got = await r.login("warm-up", "x")
        if got != "refused":
            problems.append(f"login of an unknown user: {got}")

    await r.case("Prosody started again; a first login (unknown user) is refused", warm_up)

    async def right_wrong(problems: list[str], notes: list[str]) -> None:
        await r.expect_login(problems, user, right, "ok", "right password")
        await r.expect_login(problems, user, "right-1", "refused", "wrong password (case)")
        await r.expect_login(problems, user, right + " ", "refused", "wrong password (space)")
        await r.expect_login(problems, "nobody", right, "refused", "unknown user")

    await r.case("right password logs in, wrong ones and an unknown user are refused",
                 right_wrong)

    async def colons(problems: list[str], notes: list[str]) -> None:
        u, pw = BOB
        await r.expect_login(problems, u, pw, "ok", "password with colons")
        await r.expect_login(problems, u, "a:b", "refused", "its prefix")
        await r.expect_login(problems, u, pw + ":", "refused", "one colon more")

    await r.case("a password with colons reaches the API whole", colons)

    async def non_ascii(problems: list[str], notes: list[str]) -> None:
        u, pw = JUERGEN
        await r.expect_login(problems, u, pw, "ok", "non-ASCII user and password")
        await r.expect_login(problems, u, pw.replace("ö", "o"), "refused", "one letter changed")

    await r.case("a non-ASCII user and password cross the terminal unchanged", non_ascii)

    async def isuser(problems: list[str], notes: list[str]) -> None:
        mark = r.api.mark()
        c = SessionClient(f"{user}@{HOST}", right, r.port,
                          lambda c: message_to(c, f"dave@{HOST}"))
        got = await c.login(timeout=30)
        reqs = r.api.since(mark)
        if got != "ok":
            problems.append(f"login: {got}")
        if c.action_result != "error service-unavailable":
            problems.append(f"message to an unknown user: {c.action_result}")
        if not any(q["path"] == "/api/exists" and q["body"] == body("dave") for q in reqs):
            problems.append(f"no isuser call for dave reached the API: {show(reqs)}")

    await r.case("a message to an unknown user asks isuser and bounces", isuser)

    async def setpass(problems: list[str], notes: list[str]) -> None:
        u, old = CAROL
        await r.expect_login(problems, u, old, "ok", "old password before the change")
        mark = r.api.mark()
        c = SessionClient(f"{u}@{HOST}", old, r.port, lambda c: change_password(c, CAROL_NEW))
        got = await c.login(timeout=30)
        reqs = r.api.since(mark)
        if got != "ok" or c.action_result != "changed":
            problems.append(f"in-band password change: login {got}, change {c.action_result}")
        want = [("/api/login", body(u, old)), ("/api/setpass", body(u, CAROL_NEW))]
        if [(q["path"], q["body"]) for q in reqs] != want:
            problems.append(f"the API saw {show(reqs)}, expected a login then a setpass with "
                            f"{pw_tag(CAROL_NEW)}")
        await r.expect_login(problems, u, CAROL_NEW, "ok", "new password")
        await r.expect_login(problems, u, old, "refused", "old password after the change")

    await r.case("in-band password change (XEP-0077) sends setpass, the new password works",
                 setpass)

    async def refused(problems: list[str], notes: list[str]) -> None:
        u = CAROL[0]
        mark = r.api.mark()
        c = SessionClient(f"{u}@{HOST}", CAROL_NEW, r.port, lambda c: change_password(c, REFUSED))
        got = await c.login(timeout=30)
        reqs = r.api.since(mark)
        if got != "ok" or not str(c.action_result).startswith("error "):
            problems.append(f"refused change: login {got}, change {c.action_result}")
        else:
            notes.append(f"Prosody answered {c.action_result}")
        if ("/api/setpass", body(u, REFUSED)) not in [(q["path"], q["body"]) for q in reqs]:
            problems.append(f"no setpass reached the API: {show(reqs)}")
        await r.expect_login(problems, u, CAROL_NEW, "ok", "the password still in force")
        await r.expect_login(problems, u, REFUSED, "refused", "the refused password")

    await r.case("a password change the site refuses fails and changes nothing", refused)

    async def stop(problems: list[str], notes: list[str]) -> None:
        pids = p.extauth_pids()
        status = p.stop()
        if status != 0:
            problems.append(f"prosody exited with status {status}")
        left = await wait_gone(pids)
        if not pids:
            problems.append("no xmpp-extauth process was running")
        elif left:
            problems.append(f"xmpp-extauth still running after Prosody stopped: {left}")
        else:
            notes.append(f"pids {pids}")

    await r.case("Prosody stops and the program exits with it", stop)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
