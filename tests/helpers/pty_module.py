"""Drives a command the way Prosody's mod_auth_external_insecure does with lpty, and makes
lpty's start-up race happen on purpose, so that tests are deterministic.

What lpty and the module do (lpty.c, mod_auth_external_insecure.lua):
- lpty.new opens the pty master and slave; the parent keeps both open for the pty's life,
  so a child's late output stays readable and the terminal settings persist across restarts.
- startproc forks; the CHILD turns ECHO off on the slave, dup2s it to 0/1/2, setsid, execve.
  The PARENT returns at once and the module writes the query right away: if that write is
  processed before the child turned ECHO off, the terminal echoes the query back.
- send writes up to the first NUL; read(timeout) is one select() then ONE read() of up to
  4096 bytes: whatever is there, or nil after the timeout.
- A query gets a process started only if none runs; a process that exited with anything but
  status 0 is never started again ("Auth process exited unexpectedly ...", nil).
- The reply, with one trailing \\r?\\n removed, must be exactly "1" or "0"; anything else is
  logged ("Unable to interpret data from auth process, ...", the reply itself when it starts
  with "error:") and is an internal error.

usage: python3 pty_module.py SCRIPT_JSON
SCRIPT_JSON: {"command": [...], "env": {...}, "timeout": seconds,
  "steps": [{"query": "auth:u:h:p",        # "\\n" is added (generic protocol)
             "start": "echo" | "quiet",    # when this query starts the process: force the
                                           #   echo (write before ECHO off), or write after
                                           #   ECHO off but before exec
             "waitFor": {"path": P, "text": T},  # before writing: wait until file P holds T
             "writeFile": {"path": P, "text": T},  # before the step: (re)write a file
             "waitExit": true}]}  # before the step: wait until the process has ended
Prints JSON: {"results": [{"started": bool, "response": str|null, "outcome": "true" |
  "not-authorized" | "internal-server-error" | "error", "log": str|null}],
  "leftover": str, "exits": [[kind, code], ...]}
"""
import fcntl, json, os, select, shutil, signal, sys, termios, time

script = json.loads(sys.argv[1])
timeout = script.get("timeout", 5)
env = script.get("env")
command = script["command"]
if "/" not in command[0]:
    command[0] = shutil.which(command[0]) or command[0]  # lpty: no PATH lookup

master, slave = os.openpty()
attrs = termios.tcgetattr(slave)
attrs[3] |= termios.ECHO  # a fresh pty echoes, as lpty's does
termios.tcsetattr(slave, termios.TCSANOW, attrs)

child = None
exit_status = None  # (kind, code) of the last child, once it has ended
exits = []


def reap(block=False):
    global child, exit_status
    if child is None:
        return
    pid, status = os.waitpid(child, 0 if block else os.WNOHANG)
    if pid == 0:
        return
    exit_status = ("exit", os.WEXITSTATUS(status)) if os.WIFEXITED(status) else (
        "sig", os.WTERMSIG(status))
    exits.append(list(exit_status))
    child = None


def queued_input():
    return int.from_bytes(fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0"), "little")


def start(mode, query):
    """lpty's startproc, then the module's send, in the order `mode` forces."""
    global child
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(to_parent_r)
        os.close(to_child_w)
        if mode == "echo":
            os.read(to_child_r, 1)  # the parent has written the query and seen its echo
        a = termios.tcgetattr(slave)
        a[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, a)
        if mode == "quiet":
            os.write(to_parent_w, b"x")  # echo is off
            os.read(to_child_r, 1)  # the query is queued
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.setsid()
        try:
            if env is None:
                os.execv(command[0], command)
            os.execve(command[0], command, env)
        except OSError as error:
            os.write(2, ("error: lpty failed to start child process: %s" % error).encode())
        os._exit(1)
    child = pid
    os.close(to_parent_w)
    os.close(to_child_r)
    if mode == "quiet":
        os.read(to_parent_r, 1)
    os.write(master, query)
    if mode == "echo":
        select.select([master], [], [], 10)  # the echo is there (not read: the module reads it)
    elif mode == "quiet":
        while queued_input() == 0:
            time.sleep(0.005)
    os.write(to_child_w, b"x")
    os.close(to_parent_r)
    os.close(to_child_w)


def read_reply():
    ready, _, _ = select.select([master], [], [], timeout)
    if not ready:
        return None
    try:
        return os.read(master, 4096)
    except OSError:
        return None


def wait_for(spec):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with open(spec["path"], encoding="utf-8", errors="replace") as f:
                if spec["text"] in f.read():
                    return
        except FileNotFoundError:
            pass
        reap()
        if child is None:
            return
        time.sleep(0.01)
    raise SystemExit("waitFor: %r never appeared in %s" % (spec["text"], spec["path"]))


results = []
for step in script["steps"]:
    if "writeFile" in step:
        with open(step["writeFile"]["path"], "w") as f:
            f.write(step["writeFile"]["text"])
    query = (step["query"] + "\n").encode()
    query = query.split(b"\0")[0]  # lpty writes strlen() bytes
    reap(block=step.get("waitExit", False))
    started = False
    if child is None:
        if exit_status is not None and exit_status != ("exit", 0):
            results.append({"started": False, "response": None, "outcome": "error",
                            "log": "Auth process exited unexpectedly with %s %d, restarting"
                                   % exit_status})
            continue
        start(step.get("start", "quiet"), query)
        started = True
    else:
        if "waitFor" in step:
            wait_for(step["waitFor"])
        os.write(master, query)
    raw = read_reply()
    response = None if raw is None else raw.decode("utf-8", "replace")
    stripped = None if raw is None else raw.decode("latin-1")
    if stripped is not None and stripped.endswith("\n"):
        stripped = stripped[:-2] if stripped.endswith("\r\n") else stripped[:-1]
    log = None
    if raw is None:
        outcome = "error"
        log = "Error while waiting for result from auth process: unknown error"
    elif stripped == "0":
        outcome = "not-authorized"
    elif stripped == "1":
        outcome = "true"
    else:
        outcome = "internal-server-error"
        log = "Unable to interpret data from auth process, %s" % (
            response if response.startswith("error:") else "[%d bytes]" % len(raw))
    results.append({"started": started, "response": response, "outcome": outcome, "log": log})

# Whatever else the program wrote (a late reply, a stray log line) would be read next time.
leftover = b""
deadline = time.time() + 0.3
while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 0.05)
    if ready:
        leftover += os.read(master, 4096)
reap()
if child is not None:
    os.kill(child, signal.SIGTERM)  # module.unload: endproc
    reap(block=True)
print(json.dumps({"results": results, "leftover": leftover.decode("utf-8", "replace"),
                  "exits": exits}))
