"""Cases of the ejabberd end-to-end test; run by scripts/e2e_ejabberd.sh, not by hand.

ejabberd is already running with the configuration the shell script wrote:
  - host ``localhost``: external auth, extauth_pool_size 4, auth_use_cache false (every login
    reaches the program);
  - host ``cached.localhost``: external auth, extauth_pool_size 1, ejabberd's default auth cache
    (auth_use_cache true, auth_cache_missed true).
  - host ``pool.localhost``: its own program (the same binary under another name) with
    ``--stale-ttl 1h --cache-file``, extauth_pool_size 4, auth_use_cache false.
This process serves the test API the program talks to (api.py), drives ejabberd with
``ejabberdctl`` and real c2s logins (client.py), and checks both sides: ejabberd's answer and what
the API received. It prints one ``PASS name`` / ``FAIL name: why`` line per case. Passwords are
never printed (requests are shown with a short hash of the password instead).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import pwd
import re
import signal
import subprocess
import sys
import time
import traceback
from typing import Callable

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from api import TestApi  # noqa: E402
from client import Client, login  # noqa: E402

MAIN = "localhost"
CACHED = "cached.localhost"
FAILED_RE = re.compile(
    r"External authentication program failed when calling '(\w+)' for (\S+?): (\S+)"
)


# --- small helpers ---------------------------------------------------------------------------
def pw_tag(password: object) -> str:
    if not isinstance(password, str):
        return repr(password)
    return "pw#" + hashlib.sha256(password.encode()).hexdigest()[:6]


def show(path: str, body: object) -> str:
    if not isinstance(body, dict):
        return f"{path} {body!r}"
    shown = {k: (pw_tag(v) if k == "password" else v) for k, v in body.items()}
    return f"{path} {shown}"


def body(user: str, server: str, password: str | None = None) -> dict:
    b = {"username": f"{user}@{server}", "user": user, "server": server}
    if password is not None:
        b["password"] = password
    return b


class Case:
    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[str] = []
        self.notes: list[str] = []

    def expect(self, cond: bool, problem: str) -> bool:
        if not cond:
            self.problems.append(problem)
        return cond

    def note(self, text: str) -> None:
        self.notes.append(text)


class Env:
    def __init__(self, args: argparse.Namespace) -> None:
        self.api = TestApi(args.api_port)
        self.base_path = args.api_base_path.rstrip("/")
        self.binary = args.binary
        self.log_path = args.ejabberd_log
        self.log_offset = args.log_offset
        self.extauth_log = args.extauth_log
        self.work_dir = args.work_dir
        self.fallback_log = args.fallback_log
        self.c2s_port = args.c2s_port
        self.passed = 0
        self.failed = 0
        self.passwords: set[str] = set()
        # users whose calls are expected to fail in ejabberd's log (down, 503, slow cases)
        self.expected_failures: set[str] = set()
        self.started = time.monotonic()
        self.budget = args.budget
        self.skip_reason = ""
        self.args = args

    # ejabberd ----------------------------------------------------------------------------------
    def ctl(self, *args: str, timeout: float = 45) -> tuple[int, str, float]:
        t0 = time.monotonic()
        # own process group: on timeout the whole ejabberdctl tree (erl) is killed, else
        # communicate() would wait for the grandchild that holds the pipes
        p = subprocess.Popen(
            ["ejabberdctl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            took = time.monotonic() - t0
            return -1, f"ejabberdctl {args[0]} timed out after {timeout:.0f}s", took
        return p.returncode, out.strip(), time.monotonic() - t0

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, offset: int, needle: str, seconds: float = 5.0) -> bool:
        end = time.monotonic() + seconds
        while True:
            if needle in self.log_since(offset):
                return True
            if time.monotonic() > end:
                return False
            time.sleep(0.1)

    def extauth_pids(self) -> set[int]:
        """Live pids of the program ejabberd started: the copied binary is argv[0] (or argv[1]
        when an interpreter runs a script stand-in)."""
        pids = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if self.binary.encode() in argv[:2] and not argv[0].endswith(b"sh"):
                pids.add(int(entry))
        return pids

    # API ---------------------------------------------------------------------------------------
    def path(self, endpoint: str) -> str:
        return f"{self.base_path}/{endpoint}"

    def requests_for(self, mark: int, jid: str) -> list[dict]:
        return [
            r
            for r in self.api.since(mark)
            if isinstance(r["body"], dict) and r["body"].get("username") == jid
        ]

    def expect_requests(
        self, case: Case, mark: int, jid: str, expected: list[tuple[str, dict]]
    ) -> list[dict]:
        """The API received exactly these (endpoint, body) requests for jid since mark."""
        got = self.requests_for(mark, jid)
        got_pairs = [(r["path"], r["body"]) for r in got]
        want_pairs = [(self.path(e), b) for e, b in expected]
        case.expect(
            got_pairs == want_pairs,
            "API received [" + ", ".join(show(p, b) for p, b in got_pairs) + "], expected ["
            + ", ".join(show(p, b) for p, b in want_pairs) + "]",
        )
        for r in got:
            ct = (r.get("content_type") or "").split(";")[0].strip().lower()
            case.expect(ct == "application/json", f"{r['path']} Content-Type was {ct!r}")
        return got

    def add_user(self, user: str, server: str, password: str) -> None:
        self.api.users[f"{user}@{server}"] = password
        self.passwords.add(password)

    # running cases -----------------------------------------------------------------------------
    def run(self, name: str, fn: Callable[[Case], object]) -> None:
        case = Case(name)
        t0 = time.monotonic()
        if self.skip_reason:
            self.failed += 1
            print(f"FAIL {name}: skipped, {self.skip_reason}", flush=True)
            return
        if t0 - self.started > self.budget:
            self.failed += 1
            why = f"the driver's {self.budget:.0f}s budget is used up"
            print(f"FAIL {name}: skipped, {why}", flush=True)
            return
        try:
            result = fn(case)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except Exception as e:  # noqa: BLE001
            case.problems.append(f"exception {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
        took = time.monotonic() - t0
        extra = f" [{'; '.join(case.notes)}]" if case.notes else ""
        if case.problems:
            self.failed += 1
            print(f"FAIL {name} ({took:.1f}s): " + " | ".join(case.problems) + extra, flush=True)
        else:
            self.passed += 1
            print(f"PASS {name} ({took:.1f}s){extra}", flush=True)


# --- cases -----------------------------------------------------------------------------------
def case_startup(env: Env, c: Case) -> None:
    end = time.monotonic() + 10
    pids = env.extauth_pids()
    while len(pids) < 5 and time.monotonic() < end:
        time.sleep(0.2)
        pids = env.extauth_pids()
    c.expect(len(pids) == 5, f"expected 5 extauth processes (4 + 1), found {len(pids)}")
    text = env.log_since(env.log_offset)
    c.expect(
        "Failed to start external authentication program" not in text,
        "ejabberd logged 'Failed to start external authentication program'",
    )
    rc, out, _ = env.ctl("status")
    c.expect(rc == 0, f"ejabberdctl status rc={rc}: {out}")
    c.note(f"pids {sorted(pids)}")


async def _c2s(env: Env, c: Case, user: str, password: str, want: str) -> None:
    mark = env.api.mark()
    got = await login(f"{user}@{MAIN}", password, port=env.c2s_port)
    c.expect(got == want, f"c2s login gave {got!r}, expected {want!r}")
    env.expect_requests(c, mark, f"{user}@{MAIN}", [("login", body(user, MAIN, password))])


def case_c2s_right(env: Env, c: Case) -> object:
    return _c2s(env, c, "alice", "correct horse battery", "ok")


def case_c2s_wrong(env: Env, c: Case) -> object:
    env.passwords.add("incorrect horse")
    return _c2s(env, c, "alice", "incorrect horse", "refused")


def case_c2s_colon(env: Env, c: Case) -> object:
    return _c2s(env, c, "colin", "pa:ss:wo:rd:", "ok")


def case_c2s_unicode(env: Env, c: Case) -> object:
    return _c2s(env, c, "umberto", "Grüße-Ζεύς-пароль-密码", "ok")


def case_ctl_check_password(env: Env, c: Case) -> None:
    env.passwords.add("not-bobs-password")
    for pw, want in (("bob-secret-1", 0), ("not-bobs-password", 1)):
        mark = env.api.mark()
        rc, out, _ = env.ctl("check_password", "bob", MAIN, pw)
        c.expect(rc == want, f"check_password ({'right' if want == 0 else 'wrong'}) rc={rc}: {out}")
        env.expect_requests(c, mark, f"bob@{MAIN}", [("login", body("bob", MAIN, pw))])


def case_ctl_check_account(env: Env, c: Case) -> None:
    for user, want in (("bob", 0), ("nosuchuser", 1)):
        mark = env.api.mark()
        rc, out, _ = env.ctl("check_account", user, MAIN)
        c.expect(rc == want, f"check_account {user} rc={rc}, expected {want}: {out}")
        env.expect_requests(c, mark, f"{user}@{MAIN}", [("exists", body(user, MAIN))])


def case_ctl_change_password(env: Env, c: Case) -> None:
    new = "bob-secret-2:new"
    env.passwords.add(new)
    mark = env.api.mark()
    rc, out, _ = env.ctl("change_password", "bob", MAIN, new)
    c.expect(rc == 0, f"change_password rc={rc}: {out}")
    env.expect_requests(
        c, mark, f"bob@{MAIN}", [("exists", body("bob", MAIN)), ("setpass", body("bob", MAIN, new))]
    )
    c.expect(env.api.users.get(f"bob@{MAIN}") == new, "the API's password for bob did not change")
    mark = env.api.mark()
    rc, out, _ = env.ctl("check_password", "bob", MAIN, new)
    c.expect(rc == 0, f"check_password with the new password rc={rc}: {out}")
    env.expect_requests(c, mark, f"bob@{MAIN}", [("login", body("bob", MAIN, new))])


def case_ctl_register(env: Env, c: Case) -> None:
    pw = "dave-initial"
    env.passwords.add(pw)
    mark = env.api.mark()
    rc, out, _ = env.ctl("register", "dave", MAIN, pw)
    c.expect(rc == 0, f"register rc={rc}: {out}")
    env.expect_requests(
        c,
        mark,
        f"dave@{MAIN}",
        [("exists", body("dave", MAIN)), ("tryregister", body("dave", MAIN, pw))],
    )
    c.expect(env.api.users.get(f"dave@{MAIN}") == pw, "the API did not store dave")
    # a second registration: ejabberd asks isuser, gets yes, refuses without tryregister
    mark = env.api.mark()
    rc, out, _ = env.ctl("register", "dave", MAIN, pw)
    c.expect(rc != 0 and "conflict" in out, f"second register rc={rc}: {out}")
    env.expect_requests(c, mark, f"dave@{MAIN}", [("exists", body("dave", MAIN))])


def case_ctl_unregister(env: Env, c: Case) -> None:
    mark = env.api.mark()
    rc, out, _ = env.ctl("unregister", "dave", MAIN)
    c.expect(rc == 0, f"unregister rc={rc}: {out}")
    env.expect_requests(c, mark, f"dave@{MAIN}", [("removeuser", body("dave", MAIN))])
    c.expect(f"dave@{MAIN}" not in env.api.users, "the API still has dave")
    mark = env.api.mark()
    rc, out, _ = env.ctl("check_account", "dave", MAIN)
    c.expect(rc == 1, f"check_account after unregister rc={rc}: {out}")
    env.expect_requests(c, mark, f"dave@{MAIN}", [("exists", body("dave", MAIN))])


def case_cache_control(env: Env, c: Case) -> None:
    """Control for the down case: on cached.localhost a real 'no' from isuser IS cached."""
    jid = f"ghost@{CACHED}"
    mark = env.api.mark()
    rc, out, _ = env.ctl("check_account", "ghost", CACHED)
    c.expect(rc == 1, f"check_account ghost rc={rc}: {out}")
    env.add_user("ghost", CACHED, "ghost-pw")
    rc, out, _ = env.ctl("check_account", "ghost", CACHED)
    c.expect(rc == 1, f"second check_account ghost rc={rc} (ejabberd did not cache the 'no')")
    env.expect_requests(c, mark, jid, [("exists", body("ghost", CACHED))])


def case_api_down(env: Env, c: Case) -> None:
    """API refuses connections: ejabberd logs a failure (not a 'no'), and does not cache it."""
    user, jid = "dora", f"dora@{CACHED}"
    env.expected_failures.add(jid)
    env.add_user(user, CACHED, "dora-pw")
    env.api.stop()
    try:
        mark, off = env.api.mark(), env.log_size()
        rc, out, took = env.ctl("check_account", user, CACHED)
        c.expect(rc == 1, f"check_account while the API is down rc={rc}: {out}")
        needle = f"External authentication program failed when calling 'user_exists' for {jid}"
        c.expect(env.wait_log(off, needle), f"ejabberd.log has no line '{needle}'")
        m = [x for x in FAILED_RE.findall(env.log_since(off)) if x[1] == jid]
        if m:
            c.note(f"ejabberd: {m[0][0]} failed: {m[0][2]}, after {took:.1f}s")
            c.expect(m[0][2] != "timeout", "the failure was ejabberd's 30 s timeout")
        c.expect(not env.api.since(mark), "the API received requests while down")
    finally:
        env.api.start()
    mark = env.api.mark()
    rc, out, _ = env.ctl("check_account", user, CACHED)
    c.expect(rc == 0, f"check_account right after the API is back rc={rc} (error cached?): {out}")
    env.expect_requests(c, mark, jid, [("exists", body(user, CACHED))])


def case_long_outage(env: Env, c: Case) -> None:
    """A longer outage (more failures in a row than --breaker-failures): every answer is still a
    logged failure, never a 'no' that ejabberd would cache, and the user is found again once the
    program's circuit breaker lets a request through (cooldown 3s)."""
    user, jid = "olga", f"olga@{CACHED}"
    env.expected_failures.add(jid)
    env.add_user(user, CACHED, "olga-pw")
    pids_before = env.extauth_pids()
    needle = f"External authentication program failed when calling 'user_exists' for {jid}"
    env.api.stop()
    try:
        off = env.log_size()
        for i in range(5):
            rc, out, _ = env.ctl("check_account", user, CACHED)
            c.expect(rc == 1, f"check_account #{i + 1} while down rc={rc}: {out}")
        end = time.monotonic() + 5
        while (n := env.log_since(off).count(needle)) < 5 and time.monotonic() < end:
            time.sleep(0.1)
        c.expect(n == 5, f"{n} of 5 answers while down were logged as failures (others: 'no')")
    finally:
        env.api.start()
    back = time.monotonic()
    mark = env.api.mark()
    found_after = None
    tries = 0
    while time.monotonic() - back < 12:
        tries += 1
        off = env.log_size()
        rc, out, _ = env.ctl("check_account", user, CACHED)
        if rc == 0:
            found_after = time.monotonic() - back
            break
        c.expect(
            env.wait_log(off, needle, 3),
            f"check_account after the API is back said 'no' without a logged failure: {out}",
        )
        if c.problems:
            break
        time.sleep(0.5)
    c.expect(found_after is not None, "the user was not found within 12s after the API came back")
    reqs = env.requests_for(mark, jid)
    c.expect(
        len(reqs) >= 1
        and reqs[-1]["path"] == env.path("exists")
        and reqs[-1]["body"] == body(user, CACHED),
        "requests after the API came back: " + ", ".join(show(r["path"], r["body"]) for r in reqs),
    )
    c.expect(env.extauth_pids() == pids_before, "extauth pids changed")
    if found_after is not None:
        c.note(f"found {found_after:.1f}s after the API came back ({tries} check(s), "
               f"{len(reqs)} request(s) reached the API)")


def case_api_503(env: Env, c: Case) -> object:
    """API answers 503: a c2s login fails with a logged failure; once back, it succeeds."""

    async def run() -> None:
        user, jid, pw = "erin", f"erin@{MAIN}", "erin-pw-503"
        env.expected_failures.add(jid)
        env.add_user(user, MAIN, pw)
        env.api.mode = "503"
        try:
            mark, off = env.api.mark(), env.log_size()
            got = await login(jid, pw, port=env.c2s_port)
            c.expect(got == "refused", f"c2s login while the API answers 503 gave {got!r}")
            needle = (
                f"External authentication program failed when calling 'check_password' for {jid}"
            )
            c.expect(env.wait_log(off, needle), f"ejabberd.log has no line '{needle}'")
            reqs = env.requests_for(mark, jid)
            c.expect(len(reqs) >= 1, "the API received no request")
            c.expect(
                all(
                    r["path"] == env.path("login") and r["body"] == body(user, MAIN, pw)
                    for r in reqs
                ),
                "unexpected requests: " + ", ".join(show(r["path"], r["body"]) for r in reqs),
            )
            c.note(f"{len(reqs)} request(s) while 503 (retries included)")
        finally:
            env.api.mode = "up"
        mark = env.api.mark()
        got = await login(jid, pw, port=env.c2s_port)
        c.expect(got == "ok", f"c2s login after the API is back gave {got!r}")
        env.expect_requests(c, mark, jid, [("login", body(user, MAIN, pw))])

    return run()


def case_slow(env: Env, c: Case) -> None:
    """API slower than --timeout: the program answers (error) long before ejabberd's 30 s,
    and the same process answers the next request."""
    user, jid = "sam", f"sam@{CACHED}"
    env.expected_failures.add(jid)
    env.add_user(user, CACHED, "sam-pw")
    pids_before = env.extauth_pids()
    env.api.track_pids = True
    env.api.mode = "slow"
    try:
        mark, off = env.api.mark(), env.log_size()
        rc, out, took = env.ctl("check_account", user, CACHED)
        slow_reqs = env.requests_for(mark, jid)
    finally:
        env.api.mode = "up"
    c.note(f"answered after {took:.1f}s, {len(slow_reqs)} slow request(s)")
    c.expect(rc == 1, f"check_account while slow rc={rc}: {out}")
    c.expect(took < 25, f"the answer took {took:.1f}s (ejabberd gives up at 30s)")
    c.expect(len(slow_reqs) >= 1, "the API received no request while slow")
    text = env.log_since(off)
    needle = f"External authentication program failed when calling 'user_exists' for {jid}"
    c.expect(env.wait_log(off, needle), f"ejabberd.log has no line '{needle}'")
    m = [x for x in FAILED_RE.findall(env.log_since(off)) if x[1] == jid]
    c.expect(all(x[2] != "timeout" for x in m), "ejabberd hit its 30 s timeout")
    c.expect("terminated unexpectedly" not in text, "ejabberd logged a terminated extauth program")
    slow_pids = {r["pid"] for r in slow_reqs}
    mark = env.api.mark()
    rc, out, _ = env.ctl("check_account", user, CACHED)
    env.api.track_pids = False
    c.expect(rc == 0, f"check_account after the API is fast again rc={rc}: {out}")
    reqs = env.expect_requests(c, mark, jid, [("exists", body(user, CACHED))])
    next_pids = {r["pid"] for r in reqs}
    c.expect(
        len(slow_pids) == 1 and None not in slow_pids and next_pids == slow_pids,
        f"pids: slow request(s) from {sorted(map(str, slow_pids))}, "
        f"next from {sorted(map(str, next_pids))}",
    )
    pids_after = env.extauth_pids()
    c.expect(
        pids_after == pids_before,
        f"extauth pids changed: {sorted(pids_before)} -> {sorted(pids_after)}",
    )
    if slow_pids:
        c.note(f"same pid {sorted(map(str, slow_pids))[0]} answered both")


def case_parallel(env: Env, c: Case) -> object:
    """200 c2s logins from 20 concurrent clients (10 each) on the pool of 4."""
    clients, rounds = 20, 10
    users = [(f"par{i:02d}", f"par-pw-{i:02d}:x") for i in range(clients)]
    for u, p in users:
        env.add_user(u, MAIN, p)

    async def run() -> None:
        pids_before = env.extauth_pids()
        env.api.track_pids = True
        mark, off = env.api.mark(), env.log_size()

        async def worker(u: str, p: str) -> list[str]:
            client = Client(f"{u}@{MAIN}", p, port=env.c2s_port)
            return [await client.login() for _ in range(rounds)]

        t0 = time.monotonic()
        results = await asyncio.gather(*(worker(u, p) for u, p in users))
        took = time.monotonic() - t0
        env.api.track_pids = False
        flat = [r for rs in results for r in rs]
        ok = flat.count("ok")
        c.expect(ok == clients * rounds, f"{ok}/{clients * rounds} logins succeeded; others: "
                 + ", ".join(sorted({r for r in flat if r != "ok"})))
        want = {f"{u}@{MAIN}": body(u, MAIN, p) for u, p in users}
        reqs = [r for r in env.api.since(mark) if isinstance(r["body"], dict)
                and r["body"].get("username") in want]
        c.expect(len(reqs) == clients * rounds, f"the API received {len(reqs)} login requests")
        bad = [
            r
            for r in reqs
            if r["path"] != env.path("login") or r["body"] != want[r["body"]["username"]]
        ]
        c.expect(not bad, f"{len(bad)} requests with a wrong path or body")
        served = {r["pid"] for r in reqs}
        c.expect(
            served <= pids_before,
            f"requests from unknown pids {sorted(map(str, served - pids_before))}",
        )
        c.expect(env.extauth_pids() == pids_before, "extauth pids changed during the run")
        c.expect("External authentication program failed" not in env.log_since(off),
                 "ejabberd logged extauth failures")
        c.note(f"{ok} logins in {took:.1f}s, {len(served)} extauth processes served them")

    return run()


def case_log_audit(env: Env, c: Case) -> None:
    """Whole-run checks of ejabberd's log and the program's log."""
    time.sleep(1.0)  # let ejabberd's logger flush
    text = env.log_since(env.log_offset)
    for bad in (
        "terminated unexpectedly",
        "Failed to start external authentication program",
        "Unexpected info",
    ):
        c.expect(bad not in text, f"ejabberd.log contains '{bad}'")
    failures = FAILED_RE.findall(text)
    unexpected = sorted({f"{op} for {jid}: {why}" for op, jid, why in failures
                         if jid not in env.expected_failures})
    c.expect(not unexpected, "unexpected extauth failures: " + "; ".join(unexpected))
    c.expect(all(why != "timeout" for _, _, why in failures), "ejabberd hit its 30 s timeout")
    c.note(f"{len(failures)} expected failure line(s)")
    if env.extauth_log:
        try:
            with open(env.extauth_log, "rb") as f:
                log = f.read().decode("utf-8", "replace")
        except OSError as e:
            c.expect(False, f"cannot read the program's log: {e}")
            return
        leaked = [p for p in env.passwords if p in log]
        c.expect(not leaked, f"{len(leaked)} test password(s) appear in the program's log file")
        c.note(f"program log {len(log.splitlines())} lines, no passwords")


# --- logs an admin can find (issue 9, item 4) ------------------------------------------------
NOLOG = "nolog.localhost"
TYPO = "typo.localhost"


def pids_of(path: str) -> set[int]:
    """Live pids whose argv[0] is exactly path (the hosts' own names for the binary)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except (OSError, IndexError):
            continue
        if argv0 == path.encode():
            pids.add(int(entry))
    return pids


def read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_for(check: Callable[[], object], seconds: float) -> object:
    end = time.monotonic() + seconds
    while True:
        got = check()
        if got or time.monotonic() > end:
            return got
        time.sleep(0.1)


def case_stderr_nowhere(env: Env, c: Case) -> None:
    """nolog.localhost's program has no --log-file. ejabberd was started with 'ejabberdctl start',
    which gives its programs /dev/null as stderr: the program must log to the fallback file beside
    ejabberd's log, with the reason, its start line and a backend failure."""
    if not env.work_dir:
        c.expect(False, "the shell script gave no --work-dir")
        return
    binary = os.path.join(env.work_dir, "xmpp-extauth-nolog")
    pids = wait_for(lambda: pids_of(binary), 10)
    c.expect(len(pids) == 1, f"expected 1 process for {NOLOG}, found {len(pids)}")
    if not pids:
        return
    pid = min(pids)
    try:
        stderr = os.readlink(f"/proc/{pid}/fd/2")
    except OSError as e:
        stderr = f"unreadable ({e})"
    c.expect(stderr == "/dev/null", f"the program's stderr is {stderr}, not /dev/null")
    c.note(f"pid {pid} stderr {stderr}")
    tag = f"xmpp-extauth[{pid}] "
    log = read_text(env.fallback_log)
    c.expect(
        f"{tag}WARN  stderr goes nowhere (/dev/null or closed) and no --log-file was given: "
        f"logging to {env.fallback_log}; choose the file with --log-file" in log,
        f"{env.fallback_log} has no 'stderr goes nowhere' line from pid {pid}",
    )
    c.expect(f"{tag}INFO  xmpp-extauth " in log, f"{env.fallback_log} has no start line")
    user, jid = "nina", f"nina@{NOLOG}"
    env.expected_failures.add(jid)
    env.add_user(user, NOLOG, "nina-pw")
    env.api.mode = "503"
    try:
        rc, out, _ = env.ctl("check_account", user, NOLOG)
    finally:
        env.api.mode = "up"
    c.expect(rc == 1, f"check_account while the API answers 503 rc={rc}: {out}")
    needle = f"{tag}WARN  isuser {jid}: backend error after "
    c.expect(
        wait_for(lambda: needle in read_text(env.fallback_log), 5),
        f"{env.fallback_log} has no line '{needle}…'",
    )
    rc, out, _ = env.ctl("check_account", user, NOLOG)
    c.expect(rc == 0, f"check_account once the API is back rc={rc}: {out}")


def case_config_error_logged(env: Env, c: Case) -> None:
    """typo.localhost's wrapper starts the program once with '--tiemout 3s' after the flag is
    dropped. Killing one of its processes makes ejabberd start a new one: ejabberd logs 'Failed to
    start external authentication program', and the program's --log-file holds the reason."""
    if not env.work_dir:
        c.expect(False, "the shell script gave no --work-dir")
        return
    binary = os.path.join(env.work_dir, "xmpp-extauth-typo")
    flag = os.path.join(env.work_dir, "flags", "typo")
    typo_log = os.path.join(env.work_dir, "typo.log")
    before = wait_for(lambda: len(pids_of(binary)) == 3 and pids_of(binary), 10)
    c.expect(bool(before), f"expected 3 processes for {TYPO}, found {len(pids_of(binary))}")
    if not before:
        return
    with open(flag, "w"):
        pass
    off = env.log_size()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    needle = "Failed to start external authentication program"
    c.expect(env.wait_log(off, needle, 10), f"ejabberd.log has no '{needle}' after the typo")
    text = env.log_since(off)
    line = next((x for x in text.splitlines() if needle in x), "")
    if line:
        c.note("ejabberd: " + line[line.index(needle):][:160])
    want = "ERROR configuration error, exiting with status 2: Unknown option '--tiemout'"
    log = read_text(typo_log)
    c.expect(want in log, f"{typo_log} has no line '{want}'")
    c.expect(not os.path.exists(flag), "the wrapper did not take the flag (no typo start?)")
    # ejabberd starts the program again (without the typo) and the host answers.
    after = wait_for(lambda: len(pids_of(binary)) == 3 and pids_of(binary), 10)
    c.expect(bool(after) and victim not in after, f"{TYPO} has {len(pids_of(binary))} processes")
    user = "tess"
    env.add_user(user, TYPO, "tess-pw")
    rc, out, _ = env.ctl("check_account", user, TYPO)
    c.expect(rc == 0, f"check_account on {TYPO} after the restart rc={rc}: {out}")
# --- issue 9: the outage cache shared by the pool (host pool.localhost, --cache-file) ---------
POOL = "pool.localhost"


def _wait_pids(binary: str, n: int, seconds: float, other_than: set[int] = frozenset()) -> set[int]:
    end = time.monotonic() + seconds
    while True:
        pids = pids_of(binary) - other_than
        if len(pids) >= n or time.monotonic() > end:
            return pids
        time.sleep(0.2)


def _restart_ejabberd() -> str:
    """Stops ejabberd (waiting for the VM to exit) and starts it again; '' or what failed."""

    def ctl(*args: str, timeout: float) -> int:
        try:
            # ejabberdctl start leaves a daemon behind: no pipes for it to hold open
            return subprocess.run(["ejabberdctl", *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=timeout,
                                  start_new_session=True).returncode
        except subprocess.TimeoutExpired:
            return -1

    ctl("stop", timeout=60)
    ctl("stopped", timeout=90)
    end = time.monotonic() + 20
    while subprocess.run(["pgrep", "-u", "ejabberd", "-f", "beam.smp.*-sname ejabberd"],
                         stdout=subprocess.DEVNULL).returncode == 0:
        if time.monotonic() > end:
            return "the ejabberd VM did not exit"
        time.sleep(0.1)
    if ctl("start", timeout=60) != 0:
        return "ejabberdctl start failed"
    if ctl("started", timeout=90) != 0:
        return "ejabberd did not come up (ejabberdctl started)"
    return ""


def case_pool_cache(env: Env, c: Case) -> None:
    """pool.localhost: extauth_pool_size 4, auth_use_cache false, --stale-ttl 1h --cache-file.
    One login while the API is up; with the API down every one of 8 logins (round-robin over the
    4 processes) is served from the shared file, a wrong password never; ejabberd restarted with
    the API still down: new processes, and the login still succeeds."""
    args = env.args
    if not (args.pool_binary and args.cache_file):
        c.expect(False, "the driver was not given --pool-binary and --cache-file")
        return
    user, pw, wrong = "paula", "paula-pool-pw-3317", "not-paulas-password"
    jid = f"{user}@{POOL}"
    env.add_user(user, POOL, pw)
    env.passwords.add(wrong)
    env.expected_failures.add(jid)
    pids = _wait_pids(args.pool_binary, 4, 10)
    c.expect(len(pids) == 4, f"expected 4 pool.localhost processes, found {len(pids)}")

    async def logins(n: int, password: str) -> list[str]:
        client = Client(jid, password, port=env.c2s_port)
        return [await client.login() for _ in range(n)]

    mark = env.api.mark()
    got = asyncio.run(logins(1, pw))
    c.expect(got == ["ok"], f"login with the API up gave {got}")
    env.expect_requests(c, mark, jid, [("login", body(user, POOL, pw))])
    log_off = os.path.getsize(args.pool_log) if args.pool_log else 0
    env.api.stop()
    restarted = ""
    try:
        down = env.api.mark()
        got = asyncio.run(logins(8, pw))
        c.expect(got.count("ok") == 8, f"{got.count('ok')} of 8 logins succeeded while the API "
                 f"was down: {got}")
        got = asyncio.run(logins(1, wrong))
        c.expect(got != ["ok"], "a wrong password logged in while the API was down")
        t0 = time.monotonic()
        restarted = _restart_ejabberd()
        c.expect(not restarted, restarted)
        took = time.monotonic() - t0
        if not restarted:
            new = _wait_pids(args.pool_binary, 4, 10, other_than=pids)
            c.expect(len(new) == 4, f"after the restart {len(new)} new pool processes, expected 4")
            got = asyncio.run(logins(1, pw))
            c.expect(got == ["ok"], f"login after the restart, API still down, gave {got}")
            c.note(f"ejabberd restarted in {took:.1f}s")
        c.expect(not env.api.since(down), "the API received requests while down")
    finally:
        env.api.start()
    # who answered: the pool log names each process; round-robin spreads the 8 logins
    if args.pool_log:
        with open(args.pool_log, "rb") as f:
            f.seek(log_off)
            log = f.read().decode("utf-8", "replace")
        served = {int(p) for p in re.findall(
            r"xmpp-extauth\[(\d+)\] WARN  auth " + re.escape(jid) +
            r": backend error .*; serving the success remembered", log)}
        asked = {int(p) for p in re.findall(
            r"xmpp-extauth\[(\d+)\] DEBUG auth " + re.escape(jid) + r" → true \(HTTP 200", log)}
        others = (served & pids) - asked
        c.expect(len(others) >= 1, "no process but the one that asked the API served the login "
                 f"(served by {sorted(served & pids)}, asked by {sorted(asked)})")
        c.note(f"before the restart, {len(served & pids)} of 4 processes served the login, "
               f"{len(others)} of them never saw it")
        c.expect("cannot use --cache-file" not in log, "the program could not use --cache-file")
        with open(args.pool_log, "rb") as f:
            whole = f.read().decode("utf-8", "replace")
        c.expect(not [p for p in env.passwords if p in whole], "a password is in the pool log")
    # the file: 0600, owned by ejabberd, no user name and no password in it (nor in its WAL)
    st = os.stat(args.cache_file)
    c.expect(st.st_mode & 0o777 == 0o600, f"cache file mode {st.st_mode & 0o777:o}, expected 600")
    c.expect(st.st_uid == pwd.getpwnam("ejabberd").pw_uid, "the cache file is not ejabberd's")
    stored = b""
    for suffix in ("", "-wal"):
        try:
            with open(args.cache_file + suffix, "rb") as f:
                stored += f.read()
        except OSError:
            pass
    c.expect(len(stored) > 0, "the cache file is empty")
    for needle in (user, pw, POOL):
        c.expect(needle.encode() not in stored, f"the cache file holds {needle!r} in clear")
def case_setpass_refused(env: Env, c: Case) -> None:
    """The API refuses a password change ({"success": false}). ejabberd takes any true/false
    reply to setpass for success and caches the new password (auth_use_cache, here on
    cached.localhost): the program must reply error, so that the change fails and the old
    password stays the only one that logs in."""
    user, jid = "rita", f"rita@{CACHED}"
    old, refused = "rita-old-pw", "rita-refused-pw"
    env.add_user(user, CACHED, old)
    env.passwords.add(refused)
    env.api.refused_passwords.add(refused)
    env.expected_failures.add(jid)  # ejabberd logs the failed set_password
    rc, out, _ = env.ctl("check_password", user, CACHED, old)
    c.expect(rc == 0, f"check_password with the old password before the change rc={rc}: {out}")
    mark, off = env.api.mark(), env.log_size()
    rc, out, _ = env.ctl("change_password", user, CACHED, refused)
    c.expect(rc != 0, f"change_password to a refused password succeeded (rc={rc}): {out}")
    # ejabberd asks exists first unless the check_password above left rita in its cache
    got = [(r["path"], r["body"]) for r in env.requests_for(mark, jid)]
    c.expect(
        got[-1:] == [(env.path("setpass"), body(user, CACHED, refused))]
        and all(p == env.path("exists") for p, _ in got[:-1]),
        "API received [" + ", ".join(show(p, b) for p, b in got) + "], expected [exists?, setpass]",
    )
    c.expect(env.api.users.get(jid) == old, "the API's password for rita changed")
    rc, out, _ = env.ctl("check_password", user, CACHED, old)
    c.expect(rc == 0, f"check_password with the old password after the refusal rc={rc}: {out}")
    rc, out, _ = env.ctl("check_password", user, CACHED, refused)
    c.expect(rc == 1, f"the refused password logs in (rc={rc}): {out}")
    m = [x for x in FAILED_RE.findall(env.log_since(off)) if x[1] == jid]
    if m:
        c.note(f"ejabberd: {m[0][0]} failed: {m[0][2]}")
    if env.extauth_log:
        with open(env.extauth_log, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        needle = f"setpass {jid}: the API refused the password change"
        c.expect(needle in log, f"the program's log has no line '{needle}'")
        c.expect(old not in log and refused not in log, "a password is in the program's log")


CASES: list[tuple[str, Callable[[Env, Case], object]]] = [
    ("startup: 5 extauth processes (pool 4 + 1), no start failure", case_startup),
    ("c2s SASL PLAIN login, right password", case_c2s_right),
    ("c2s SASL PLAIN login, wrong password refused", case_c2s_wrong),
    ("c2s login, password with ':'", case_c2s_colon),
    ("c2s login, non-ASCII password", case_c2s_unicode),
    ("ejabberdctl check_password -> login", case_ctl_check_password),
    ("ejabberdctl check_account -> exists", case_ctl_check_account),
    ("ejabberdctl change_password -> exists, setpass", case_ctl_change_password),
    ("ejabberdctl register -> exists, tryregister", case_ctl_register),
    ("ejabberdctl unregister -> removeuser", case_ctl_unregister),
    ("control: ejabberd caches a real 'no' (cached.localhost)", case_cache_control),
    ("API down: failure logged, not cached, found once back", case_api_down),
    ("long outage (breaker opens): only failures, never a cached 'no'; found after cooldown",
     case_long_outage),
    ("API answers 503: c2s login fails with a logged failure, then works", case_api_503),
    ("API slower than --timeout: answer before 30s, same process survives", case_slow),
    ("200 logins from 20 parallel clients, pool of 4", case_parallel),
    ("log audit: only expected failures, no crash, no password in program log", case_log_audit),
    ("ejabberdctl start: stderr is /dev/null; without --log-file the program logs beside "
     "ejabberd's log", case_stderr_nowhere),
    ("a typo in the program's options: ejabberd says 'Failed to start', --log-file says why",
     case_config_error_logged),
    ("--cache-file: pool of 4 answers 8 of 8 logins from one during an outage, and after an "
     "ejabberd restart", case_pool_cache),
    ("API refuses setpass: change_password fails, old password kept, refused one refused",
     case_setpass_refused),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--api-base-path", default="/api")
    ap.add_argument("--binary", required=True)
    ap.add_argument("--c2s-port", type=int, default=5222)
    ap.add_argument("--ejabberd-log", default="/var/log/ejabberd/ejabberd.log")
    ap.add_argument("--log-offset", type=int, default=0)
    ap.add_argument("--extauth-log", default="")
    ap.add_argument("--budget", type=float, default=180, help="seconds; later cases are skipped")
    ap.add_argument("--work-dir", default="", help="the shell script's temp folder")
    ap.add_argument("--fallback-log", default="/var/log/ejabberd/xmpp-extauth.log")
    ap.add_argument("--pool-binary", default="", help="the program of host pool.localhost")
    ap.add_argument("--pool-log", default="", help="its log file")
    ap.add_argument("--cache-file", default="", help="its --cache-file")
    args = ap.parse_args()
    env = Env(args)
    env.add_user("alice", MAIN, "correct horse battery")
    env.add_user("colin", MAIN, "pa:ss:wo:rd:")
    env.add_user("umberto", MAIN, "Grüße-Ζεύς-пароль-密码")
    env.add_user("bob", MAIN, "bob-secret-1")
    env.api.start()
    try:
        for name, case in CASES:
            env.run(name, lambda c, case=case: case(env, c))
            if case is case_startup and env.failed:
                env.skip_reason = "the program did not start"
    finally:
        env.api.stop()
    return 1 if env.failed else 0


if __name__ == "__main__":
    sys.exit(main())
