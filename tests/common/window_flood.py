"""A hostile SSH client for tests/hostile.rs: logs in with a real key, opens session
channels running COMMAND, then sends on every channel as if the server's channel window
did not exist (paramiko with its send-window wait replaced; each message still within the
channel's maximum packet size). Prints what it saw, one line each:

    opened N channels
    sent BYTES bytes
    disconnected: code CODE: REASON      (the server's SSH_MSG_DISCONNECT)
    connection closed without a disconnect
    still connected after sending BYTES bytes

and exits 0 only when the server disconnected it.

usage: window_flood.py PORT USER KEY KNOWN_HOSTS CHANNELS BYTES_PER_CHANNEL COMMAND
"""

import sys
import threading
import time

import paramiko

port, user, key, known_hosts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
channels, per_channel, command = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
DEADLINE = 60.0

seen = {}


def parse_disconnect(transport, m):
    seen["code"] = m.get_int()
    seen["reason"] = m.get_text()


def ignore_window(channel, size):
    # Upstream waits here until the window has room and takes what it sends out of it.
    if channel.closed or channel.eof_sent:
        return 0
    return min(size, channel.out_max_packet_size - 64)


paramiko.Transport._parse_disconnect = parse_disconnect
paramiko.Channel._wait_for_send_window = ignore_window

client = paramiko.SSHClient()
client.load_host_keys(known_hosts)
client.set_missing_host_key_policy(paramiko.RejectPolicy())
client.connect(
    "127.0.0.1",
    port=int(port),
    username=user,
    key_filename=key,
    look_for_keys=False,
    allow_agent=False,
    timeout=15,
)
transport = client.get_transport()
opened = []
for _ in range(channels):
    ch = transport.open_session()
    ch.exec_command(command)
    opened.append(ch)
print(f"opened {len(opened)} channels", flush=True)

sent = [0]


def flood():
    chunk = b"x" * 32768
    try:
        for _ in range(per_channel // len(chunk)):
            for ch in opened:
                sent[0] += ch.send(chunk)
    except Exception:
        pass  # the connection went away under us


threading.Thread(target=flood, daemon=True).start()
start = time.monotonic()
while transport.is_active() and time.monotonic() - start < DEADLINE:
    time.sleep(0.05)
print(f"sent {sent[0]} bytes", flush=True)
if "reason" in seen:
    print(f"disconnected: code {seen['code']}: {seen['reason']}", flush=True)
    sys.exit(0)
if not transport.is_active():
    print("connection closed without a disconnect", flush=True)
else:
    print(f"still connected after sending {sent[0]} bytes", flush=True)
sys.exit(1)
