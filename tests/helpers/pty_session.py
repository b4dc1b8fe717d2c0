"""Runs a command under a pseudo-terminal the way Prosody's mod_auth_external_insecure
does (lpty: echo off; the terminal turns \\r into \\n on input and \\n into \\r\\n on
output), writes each query line, waits for one reply line each, and prints the raw
bytes read from the terminal as hex on stdout.

usage: python3 pty_session.py QUERIES_HEX CMD [ARGS...]
QUERIES_HEX: the queries, hex-encoded, comma-separated, each written as it is.
"""
import os, pty, select, sys, termios, time

queries = [bytes.fromhex(q) for q in sys.argv[1].split(",") if q]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
attrs = termios.tcgetattr(fd)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(fd, termios.TCSANOW, attrs)
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
