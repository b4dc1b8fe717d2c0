"""Runs a command under a pseudo-terminal the way Prosody's mod_auth_external_insecure
does (lpty: echo off; the terminal turns \\r into \\n on input and \\n into \\r\\n on
output), writes each query line, waits for one reply line each, and prints the raw
bytes read from the terminal as hex on stdout.

usage: python3 pty_session.py LOG_FILE READY_TEXT QUERIES_HEX CMD [ARGS...]
QUERIES_HEX: the queries, hex-encoded, comma-separated, each written as it is, once LOG_FILE
holds READY_TEXT: in Prosody mode the program discards what was queued before it was ready
(see pty_module.py for the race that makes this necessary).
"""
import os, pty, select, sys, termios, time

log_file, ready_text = sys.argv[1], sys.argv[2]
queries = [bytes.fromhex(q) for q in sys.argv[3].split(",") if q]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[4], sys.argv[4:])
attrs = termios.tcgetattr(fd)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(fd, termios.TCSANOW, attrs)
deadline = time.time() + 30
while time.time() < deadline:
    try:
        with open(log_file, encoding="utf-8", errors="replace") as f:
            if ready_text in f.read():
                break
    except FileNotFoundError:
        pass
    time.sleep(0.01)
out = b""
for query in queries:
    os.write(fd, query)
    want = out.count(b"\n") + 1
    deadline = time.time() + 15
    while out.count(b"\n") < want and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
# Anything written after the last reply (late log lines) would show up here too.
deadline = time.time() + 0.3
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
os.kill(pid, 15)
os.waitpid(pid, 0)
sys.stdout.write(out.hex())
