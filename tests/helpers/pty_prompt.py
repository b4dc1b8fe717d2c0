"""Runs a command under a pseudo-terminal like an admin at a shell, waits for PROMPT,
types ANSWER and Enter, and prints {"exit": N, "screen": "..."} as JSON: what the
terminal showed (which must not include ANSWER if it was read without echo).

usage: python3 pty_prompt.py PROMPT ANSWER CMD [ARGS...]
"""
import json, os, pty, select, sys, time

prompt, answer = sys.argv[1].encode(), sys.argv[2].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
screen = b""


def read_for(seconds, until=None):
    global screen
    deadline = time.time() + seconds
    while time.time() < deadline and not (until and until in screen):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            screen += data


read_for(20, prompt)
os.write(fd, answer + b"\r")
read_for(20)
_, status = os.waitpid(pid, 0)
print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "screen": screen.decode("utf-8", "replace")}))
