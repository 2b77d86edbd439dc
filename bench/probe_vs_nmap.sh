#!/usr/bin/env bash
# Benchmark (not a test): `mxguard probe` against nmap's smtp-open-relay script on the same 500
# loopback SMTP endpoints (127.0.1.1-127.0.1.255 and 127.0.2.1-127.0.2.245, one port), served by
# one small asyncio fake that waits REPLY_DELAY_MS before answering (see MODE); endpoints with an odd last
# octet are open relays, the others closed (postmaster@example.test accepted, relaying refused).
# Reports hosts/s, relay tests/s, CPU time and verdict agreement with the ground truth.
#
# Usage: bench/probe_vs_nmap.sh [path/to/mxguard]
#        (env: PORT, REPLY_DELAY_MS, HOSTS, MODE=rtt|per-reply, CONCURRENCY and PIPELINE for
#         mxguard, SKIP_NMAP=1 to time mxguard alone)
# The machine's load average is printed before each tool's run: the numbers mean little when
# something else was using the CPUs.
# Loopback only. Results go to stdout; bench/RESULTS_probe.md records a run.
set -euo pipefail

MXGUARD=${1:-build/mxguard}
PORT=${PORT:-2525}
DELAY=${REPLY_DELAY_MS:-50}
HOSTS=${HOSTS:-500}
MODE=${MODE:-rtt}
NMAP=$(command -v nmap)
work=$(mktemp -d)
trap 'kill $fake_pid 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 8192

# The targets: HOSTS addresses from 127.0.1.1 on, skipping .0 (and .255 of the second /24).
python3 - "$HOSTS" > "$work/addrs" <<'EOF'
import sys
n = int(sys.argv[1])
out = []
for b in range(1, 255):
    for d in range(1, 256):
        out.append(f"127.0.{b}.{d}")
print("\n".join(out[:n]))
EOF
sed "s/\$/:$PORT/" "$work/addrs" > "$work/targets"

# The fake servers: one listener per address, one asyncio loop. MODE=rtt (default): the delay is
# paid once per read, so a pipelined group is answered together after one delay (a 50 ms round
# trip); MODE=per-reply: every reply waits the delay, one after the other (a slow server).
cat > "$work/fake.py" <<'EOF'
import asyncio, sys
port, delay, mode = int(sys.argv[1]), int(sys.argv[2]) / 1000, sys.argv[4]
addrs = open(sys.argv[3]).read().split()
EHLO = b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"

def answer(line, is_open):
    verb = line[:4].upper()
    if verb == b"EHLO":
        return EHLO
    if verb == b"RCPT":
        ok = is_open or line.lower() == b"rcpt to:<postmaster@example.test>"
        return b"250 2.1.5 Ok\r\n" if ok else b"554 5.7.1 Relay access denied\r\n"
    if verb == b"QUIT":
        return b"221 2.0.0 Bye\r\n"
    if verb in (b"MAIL", b"RSET", b"HELO", b"NOOP"):
        return b"250 2.0.0 Ok\r\n"
    if verb in (b"DATA", b"BDAT"):
        print("DATA received from a prober", file=sys.stderr, flush=True)
        return b"554 5.5.1 no\r\n"
    return b"502 5.5.2 Error: command not recognized\r\n"

class Smtp(asyncio.Protocol):
    # Callbacks, not coroutines: the fake must not be what limits the benchmark.
    def connection_made(self, transport):
        self.t = transport
        self.loop = asyncio.get_running_loop()
        host = transport.get_extra_info("sockname")[0]
        self.is_open = int(host.rsplit(".", 1)[1]) % 2 == 1
        self.buf = b""
        self.free = self.loop.time()  # when the previous reply has gone (per-reply mode)
        self.closing = False
        self.send(b"220 mx.example.test ESMTP bench\r\n")

    def send(self, data, close=False):
        now = self.loop.time()
        at = max(now, self.free) + delay if mode == "per-reply" else now + delay
        self.free = at
        self.loop.call_at(at, self.write, data, close)

    def write(self, data, close):
        if not self.t.is_closing():
            self.t.write(data)
            if close:
                self.t.close()

    def data_received(self, data):
        if self.closing:
            return
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        out = []
        for raw in lines:
            line = raw.rstrip(b"\r")
            reply = answer(line, self.is_open)
            quit_ = line[:4].upper() == b"QUIT"
            if mode == "per-reply":
                self.send(reply, quit_)
            else:
                out.append(reply)
            if quit_:
                self.closing = True
                break
        if out:
            self.send(b"".join(out), self.closing)

async def main():
    loop = asyncio.get_running_loop()
    for a in addrs:
        await loop.create_server(Smtp, a, port, backlog=512, reuse_address=True)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
EOF
python3 "$work/fake.py" "$PORT" "$DELAY" "$work/addrs" "$MODE" > "$work/fake.out" 2> "$work/fake.err" &
fake_pid=$!
for _ in $(seq 100); do grep -q ready "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/fake.out" || { echo "fake servers did not start" >&2; cat "$work/fake.err" >&2; exit 1; }

cpu_of() {  # /usr/bin/time -f "%e %U %S" output (last line) -> "wall user+sys"
  tail -n 1 "$1" | awk '{printf "%s %.2f\n", $1, $2 + $3}'
}

load() { echo "   (load average: $(cut -d' ' -f1-3 /proc/loadavg))"; }
fake_cpu() {  # the fake servers' CPU seconds so far (utime + stime)
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$fake_pid/stat"
}
fake_before=0
fake_used() {  # prints the fake's CPU since the last call
  local now
  now=$(fake_cpu)
  echo "   (fake servers' CPU during the run: $(awk -v a="$now" -v b="$fake_before" 'BEGIN{printf "%.2f", a - b}') s)"
  fake_before=$now
}

echo "== $HOSTS endpoints, port $PORT, ${DELAY} ms delay ($MODE); odd last octet = open relay"
echo "   $MXGUARD (source $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')), nmap $("$NMAP" --version | awk 'NR==1{print $3}'), $(nproc) CPUs"

# mxguard probe
fake_before=$(fake_cpu)
load
/usr/bin/time -f "%e %U %S" -o "$work/time.mx" \
  "$MXGUARD" probe --json --local-domain example.test --test-domain example.net \
  --concurrency "${CONCURRENCY:-256}" ${PIPELINE:+--pipeline "$PIPELINE"} \
  --targets "$work/targets" > "$work/mx.json" || true
read -r mx_wall mx_cpu < <(cpu_of "$work/time.mx")
fake_used
python3 - "$work/mx.json" "$mx_wall" "$mx_cpu" <<'EOF' | tee "$work/mx.summary"
import json, sys
doc = json.load(open(sys.argv[1]))
wall, cpu = float(sys.argv[2]), float(sys.argv[3])
hosts = len(doc["targets"])
tests = sum(len(t["tests"]) for t in doc["targets"])
wrong = 0
for t in doc["targets"]:
    ip = t["endpoint"].rsplit(":", 1)[0]
    want = "OPEN" if int(ip.rsplit(".", 1)[1]) % 2 else "CLOSED"
    wrong += t["verdict"] != want
print(f"mxguard probe: {hosts} hosts, {tests} tests in {wall:.2f} s: {hosts / wall:.1f} hosts/s, "
      f"{tests / wall:.1f} tests/s, CPU {cpu:.2f} s, wrong verdicts {wrong}")
EOF

run_nmap() {  # $1 label, rest: extra nmap options
  local label=$1
  shift
  load
  /usr/bin/time -f "%e %U %S" -o "$work/time.nmap" \
    "$NMAP" -Pn -n -p "$PORT" "$@" --script +smtp-open-relay \
    --script-args smtp-open-relay.domain=example.net -iL "$work/addrs" -oX "$work/nmap.xml" \
    > /dev/null 2>&1 || true
  read -r wall cpu < <(cpu_of "$work/time.nmap")
  fake_used
  python3 - "$work/nmap.xml" "$wall" "$cpu" "$label" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
wall, cpu, label = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
hosts = wrong = 0
for h in root.iter("host"):
    ip = h.find("address").get("addr")
    out = " ".join(s.get("output", "") for s in h.iter("script") if s.get("id") == "smtp-open-relay")
    hosts += 1
    got = "OPEN" if "is an open relay" in out else "CLOSED" if "all tests failed" in out else "?"
    want = "OPEN" if int(ip.rsplit(".", 1)[1]) % 2 else "CLOSED"
    wrong += got != want
tests = hosts * 16
print(f"nmap {label}: {hosts} hosts, {tests} tests in {wall:.2f} s: {hosts / wall:.1f} hosts/s, "
      f"{tests / wall:.1f} tests/s, CPU {cpu:.2f} s, wrong verdicts {wrong}")
EOF
}
if [ -z "${SKIP_NMAP:-}" ]; then
  run_nmap "(default)"
  run_nmap "(--max-parallelism 200)" --max-parallelism 200
fi

if [ -s "$work/fake.err" ]; then
  echo "fake server stderr:" >&2
  cat "$work/fake.err" >&2
fi
