#!/usr/bin/env bash
# Issue 5's benchmark (not a test): mxguard's dnsbld against rbldnsd (Debian package) on the same
# data files, on loopback, with dnsperf (Debian package) sending the same query file to each.
#
# Data, generated with a fixed seed: (a) ip4set of 1,000,000 random /32s plus 10,000 CIDRs;
# (b) ip4tset of 10,000,000 random /32s. Query files: 1,000,000 names, half of them listed.
#
# Per server and data set it reports: queries/s and server CPU time per query over a
# DURATION-second dnsperf run (CPU from /proc/PID/stat, all threads, since dnsperf shares the
# machine's cores), time from exec to the first answer, RSS while serving (VmRSS after the run)
# and peak RSS (VmHWM, loads and the reload included), and the queries lost or
# answered SERVFAIL by a RELOAD_QPS-paced dnsperf run during which the data file is replaced
# (written aside, renamed into place) and SIGHUP is sent. Before that, a load-time table: the
# median time to the first answer over LOAD_ROUNDS starts of rbldnsd, of mxguard parsing on one
# thread ([dnsbld] load_threads = 1) and of mxguard as it starts by default (one per core).
#
# rbldnsd runs as Debian runs it, plus -f (keep answering from a forked child while reloading,
# its best case for reloads): rbldnsd -n -f -b 127.0.0.1/PORT -r WORK -w / ZONE:TYPE:FILE.
# mxguard runs `serve --dnsbl ZONE:TYPE:FILE --dnsbl-listen 127.0.0.1:PORT` (one UDP socket and
# thread per core) as user nobody (setpriv), since serve started as root wants a [service] user.
#
# Usage: bench/dnsbl_vs_rbldnsd.sh [a|b|all|types]   (run as root: rbldnsd chroots)
#   types: only a load-time table for 1,000,000 entries of dnset, ip4trie, ip6tset and ip6trie.
# Environment: MXGUARD_BIN (build/mxguard), WORK (/tmp/mxguard-dnsbl-bench), DURATION (20),
#   RELOAD_QPS (20000), RELOAD_SECONDS (15), CLIENTS (dnsperf -c, 4), OUTSTANDING (dnsperf -q, 200),
#   LOAD_ROUNDS (5: starts of each server for the load-time table), LOAD_ONLY (1: stop after that
#   table).
# Loopback only. The data files (about 200 MB) stay in WORK for the next run.
set -euo pipefail

BIN=$(realpath "${MXGUARD_BIN:-build/mxguard}")
WORK=${WORK:-/tmp/mxguard-dnsbl-bench}
DURATION=${DURATION:-20}
RELOAD_QPS=${RELOAD_QPS:-20000}
RELOAD_SECONDS=${RELOAD_SECONDS:-15}
CLIENTS=${CLIENTS:-4}
LOAD_ROUNDS=${LOAD_ROUNDS:-5}
OUTSTANDING=${OUTSTANDING:-200}
WHICH=${1:-all}
ZONE=bl.bench.test
HZ=$(getconf CLK_TCK)

for tool in dnsperf rbldnsd python3 setpriv; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/install-deps; apt-get install dnsperf)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "no mxguard binary at $BIN (set MXGUARD_BIN)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (rbldnsd chroots into $WORK)" >&2; exit 2; }

mkdir -p "$WORK"
chmod 755 "$WORK"

# ---- data ----
python3 - "$WORK" "$WHICH" <<'EOF'
import os, random, sys
work, which = sys.argv[1], sys.argv[2]

def ip(n):
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

def rev(n):
    return f"{n & 255}.{(n >> 8) & 255}.{(n >> 16) & 255}.{n >> 24}"

def listable(rnd):
    while True:
        n = rnd.getrandbits(32)
        if 1 <= (n >> 24) < 224 and (n >> 24) != 127:
            return n

SOA = "$SOA 3600 ns.bl.bench.test hostmaster.bench.test 0 600 300 86400 300\n" \
      "$NS 3600 ns.bl.bench.test\n"

def write(name, lines):
    path = os.path.join(work, name)
    if os.path.exists(path):
        return
    with open(path + ".tmp", "w") as f:
        f.writelines(lines)
    os.replace(path + ".tmp", path)
    os.chmod(path, 0o644)

def queries(name, listed, rnd):
    path = os.path.join(work, name)
    if os.path.exists(path):
        return
    qs = [f"{rev(rnd.choice(listed))}.bl.bench.test A\n" for _ in range(500000)]
    qs += [f"{rev(listable(rnd))}.bl.bench.test A\n" for _ in range(500000)]
    rnd.shuffle(qs)
    write(name, qs)

# (a) ip4set: 1M /32s + 10k CIDRs (/16../28).
if not os.path.exists(os.path.join(work, "a.txt")):
    rnd = random.Random(5782)
    singles = [listable(rnd) for _ in range(1000000)]
    lines = [SOA, ":127.0.0.2:Listed: $\n"] + [ip(n) + "\n" for n in singles]
    cidr_hosts = []
    for _ in range(10000):
        bits = rnd.randrange(16, 29)
        base = listable(rnd) & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
        lines.append(f"{ip(base)}/{bits}\n")
        cidr_hosts.append(base + rnd.randrange(1 << (32 - bits)))
    write("a.txt", lines)
    with open(os.path.join(work, "a.listed"), "w") as f:
        f.writelines(f"{n}\n" for n in singles[:200000] + cidr_hosts)
if not os.path.exists(os.path.join(work, "queries-a.txt")):
    listed = [int(l) for l in open(os.path.join(work, "a.listed"))]
    queries("queries-a.txt", listed, random.Random(1))

# (b) ip4tset: 10M /32s.
if not os.path.exists(os.path.join(work, "b.txt")):
    rnd = random.Random(5783)
    path = os.path.join(work, "b.txt")
    sample = []
    with open(path + ".tmp", "w") as f:
        f.write(SOA + ":127.0.0.2:Listed: $\n")
        for i in range(10):
            chunk = [listable(rnd) for _ in range(1000000)]
            f.writelines(ip(n) + "\n" for n in chunk)
            sample += chunk[:20000]
    os.replace(path + ".tmp", path)
    os.chmod(path, 0o644)
    with open(os.path.join(work, "b.listed"), "w") as f:
        f.writelines(f"{n}\n" for n in sample)
if not os.path.exists(os.path.join(work, "queries-b.txt")):
    listed = [int(l) for l in open(os.path.join(work, "b.listed"))]
    queries("queries-b.txt", listed, random.Random(2))

# The other types, 1,000,000 entries each, for the load-time table of `types`: (c) dnset names
# (88 % plain, 10 % "*.name", 2 % ".name"), (d) ip4trie prefixes (/32, /24, /28, /30, /16),
# (e) ip6tset /64s, (f) ip6trie prefixes (/32 to /128).
if which == "types":
    rnd = random.Random(5784)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                     for _ in range(rnd.randint(4, 12))) for _ in range(200000)]
    tlds = ["com", "net", "org", "info", "biz", "ru", "cn", "de", "uk", "io"]
    def name(i):
        k = rnd.random()
        n = f"{rnd.choice(words)}{i}.{rnd.choice(tlds)}"
        return ("*." + n) if k < 0.10 else ("." + n) if k < 0.12 else n
    write("c.txt", [SOA, ":127.0.0.2:Listed: $\n"] + [name(i) + "\n" for i in range(1000000)])
    def prefix4():
        bits = rnd.choice([32, 32, 32, 24, 24, 28, 30, 16])
        return f"{ip(listable(rnd) & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF))}/{bits}\n"
    write("d.txt", [SOA, ":127.0.0.2:Listed: $\n"] + [prefix4() for _ in range(1000000)])
    def group4():
        return ":".join(f"{rnd.getrandbits(16):x}" for _ in range(4)) + "\n"
    write("e.txt", [SOA, ":127.0.0.2:Listed: $\n"] + [group4() for _ in range(1000000)])
    def prefix6():
        bits = rnd.choice([64, 64, 48, 56, 128, 32])
        n = rnd.getrandbits(128) & (((1 << 128) - 1) ^ ((1 << (128 - bits)) - 1))
        return ":".join(f"{(n >> (112 - 16 * k)) & 0xFFFF:x}" for k in range(8)) + f"/{bits}\n"
    write("f.txt", [SOA, ":127.0.0.2:Listed: $\n"] + [prefix6() for _ in range(1000000)])
    for set_name in "cdef":
        with open(os.path.join(work, set_name + ".listed"), "w") as f:
            f.write("16909060\n")  # 1.2.3.4: any name in the zone will do for a first answer
EOF

# ---- helpers ----
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Starts a server (the command after --, in WORK, output to LOG) and polls 127.0.0.1:PORT with
# an A query for NAME every 2 ms until it answers; prints "SECONDS PID". The clock starts when
# the server is started, after the poller's own start, so neither server is charged for it.
# The server is not this script's child afterwards: stop_server waits for it by polling.
launch() {  # port name log -- command...
  python3 - "$@" <<'EOF'
import socket, struct, subprocess, sys, time
port, name, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmd = sys.argv[5:]
q = struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0)
for label in name.split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.002)
out = open(log, "w")
t0 = time.time()
p = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
while time.time() - t0 < 300 and p.poll() is None:
    t = time.time()
    try:
        s.sendto(q, ("127.0.0.1", port))
        if s.recv(512)[:2] == b"\x12\x34":
            print(f"{time.time() - t0:.3f} {p.pid}")
            sys.exit(0)
    except OSError:
        pass
    # Until the port is bound, the query is refused at once: wait out the 2 ms rather than
    # spin, which took a core from a server loading on several threads.
    rest = 0.002 - (time.time() - t)
    if rest > 0:
        time.sleep(rest)
print(f"timeout {p.pid}")
EOF
}

# dnsperf's summary as "completed qps lost servfail".
perf() {
  local port=$1 qfile=$2 seconds=$3 extra=${4:-}
  # shellcheck disable=SC2086
  dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -l "$seconds" -c "$CLIENTS" -q "$OUTSTANDING" \
    -t 2 $extra 2>&1 | awk '
      /Queries completed:/ {completed=$3}
      /Queries lost:/ {lost=$3}
      /Queries per second:/ {qps=$4}
      /Response codes:/ {for (i = 3; i <= NF; i++) if ($i == "SERVFAIL") servfail=$(i+1)}
      END {printf "%s %s %s %s\n", completed, qps, lost, servfail + 0}'
}

# server port type file name [load_threads] -> pid in $PID, seconds to the first answer to an
# A query for name in $FIRST. mxguard's load_threads defaults to one per core; a number is
# given through a one-line config.
start_server() {
  local server=$1 port=$2 type=$3 file=$4 name=$5 threads=${6:-}
  local config=()
  if [ -n "$threads" ]; then
    printf '[dnsbld]\nload_threads = %s\n' "$threads" >"$WORK/threads-$threads.toml"
    chmod 644 "$WORK/threads-$threads.toml"
    config=(--config "$WORK/threads-$threads.toml")
  fi
  local cmd
  if [ "$server" = rbldnsd ]; then
    cmd=(rbldnsd -n -f -b "127.0.0.1/$port" -r "$WORK" -w / "$ZONE:$type:$file")
  else
    # Unprivileged (as after its own privilege drop): started as root, serve wants [service] user.
    cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN" serve "${config[@]}"
      --dnsbl "$ZONE:$type:$WORK/$file" --dnsbl-listen "127.0.0.1:$port")
  fi
  read -r FIRST PID < <(cd "$WORK" && launch "$port" "$name" "$WORK/$server.log" -- "${cmd[@]}")
}

stop_server() {
  kill -TERM "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null; do sleep 0.05; done
}

# Time to the first answer only, LOAD_ROUNDS starts of each server, interleaved; the median.
load_times() {  # set type file
  local set=$1 type=$2 file=$3 listed
  listed=$(awk 'NR==1 {n=$1; printf "%d.%d.%d.%d", n%256, int(n/256)%256, int(n/65536)%256, int(n/16777216)}' "$WORK/$set.listed")
  local rbl=() one=() all=()
  for _ in $(seq "$LOAD_ROUNDS"); do
    start_server rbldnsd 15354 "$type" "$file" "$listed.$ZONE"
    rbl+=("$FIRST")
    stop_server "$PID"
    start_server mxguard 15353 "$type" "$file" "$listed.$ZONE" 1
    one+=("$FIRST")
    stop_server "$PID"
    start_server mxguard 15353 "$type" "$file" "$listed.$ZONE"
    all+=("$FIRST")
    stop_server "$PID"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
  local r o a
  r=$(median "${rbl[@]}")
  o=$(median "${one[@]}")
  a=$(median "${all[@]}")
  printf "| %s | %s | %s (%.2fx) | %s (%.2fx) | %s |\n" "$set" "$r" "$o" "$(awk -v x="$o" -v y="$r" 'BEGIN {print x / y}')" \
    "$a" "$(awk -v x="$a" -v y="$r" 'BEGIN {print x / y}')" "${all[*]}"
}

run_one() {  # set server type file queries port
  local set=$1 server=$2 type=$3 file=$4 qfile=$5 port=$6
  local listed
  listed=$(awk 'NR==1 {n=$1; printf "%d.%d.%d.%d", n%256, int(n/256)%256, int(n/65536)%256, int(n/16777216)}' "$WORK/$set.listed")
  cp "$WORK/$file" "$WORK/live-$file"
  start_server "$server" "$port" "$type" "live-$file" "$listed.$ZONE"
  local first=$FIRST
  local c0 c1
  c0=$(cpu_ticks "$PID")
  read -r completed qps lost servfail < <(perf "$port" "$WORK/$qfile" "$DURATION")
  c1=$(cpu_ticks "$PID")
  local us_per_query
  us_per_query=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$completed" 'BEGIN {printf "%.2f", t / hz / n * 1e6}')
  local rss serving
  rss=$(peak_rss_kib "$PID")
  serving=$(rss_kib "$PID")

  # Reload under load: a paced run; at 1/3 of it the file is replaced and SIGHUP sent.
  perf "$port" "$WORK/$qfile" "$RELOAD_SECONDS" "-Q $RELOAD_QPS" >"$WORK/reload.out" &
  local perf_pid=$!
  sleep $((RELOAD_SECONDS / 3))
  cp "$WORK/$file" "$WORK/next-$file"
  echo "1.1.1.1" >>"$WORK/next-$file"
  mv "$WORK/next-$file" "$WORK/live-$file"
  kill -HUP "$PID"
  wait "$perf_pid"
  read -r r_completed _ r_lost r_servfail <"$WORK/reload.out"
  rss=$(( $(peak_rss_kib "$PID") > rss ? $(peak_rss_kib "$PID") : rss ))
  stop_server "$PID"
  rm -f "$WORK/live-$file"
  printf "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s of %s |\n" "$set" "$server" "$qps" \
    "$us_per_query" "$first" "$((serving / 1024))" "$((rss / 1024))" "$completed" \
    "$((r_lost + r_servfail))" "$r_completed"
}

if [ "$WHICH" = types ]; then
  echo "Time to the first answer (data load included), median of $LOAD_ROUNDS starts each, in seconds;"
  echo "1,000,000 entries each (these types load on one thread whatever load_threads says):"
  echo
  echo "| data | rbldnsd | mxguard, load_threads = 1 | mxguard, load_threads = $(nproc) (default) | mxguard default, every start |"
  echo "|---|---|---|---|---|"
  load_times c dnset c.txt
  load_times d ip4trie d.txt
  load_times e ip6tset e.txt
  load_times f ip6trie f.txt
  exit 0
fi

echo "Time to the first answer (data load included), median of $LOAD_ROUNDS starts each, in seconds:"
echo
echo "| data | rbldnsd | mxguard, load_threads = 1 | mxguard, load_threads = $(nproc) (default) | mxguard default, every start |"
echo "|---|---|---|---|---|"
if [ "$WHICH" = a ] || [ "$WHICH" = all ]; then load_times a ip4set a.txt; fi
if [ "$WHICH" = b ] || [ "$WHICH" = all ]; then load_times b ip4tset b.txt; fi
echo
[ "${LOAD_ONLY:-0}" = 1 ] && exit 0
echo "| data | server | queries/s | server CPU us/query | first answer (s) | RSS serving (MiB) | peak RSS (MiB) | queries completed | lost + SERVFAIL during reload |"
echo "|---|---|---|---|---|---|---|---|---|"
if [ "$WHICH" = a ] || [ "$WHICH" = all ]; then
  run_one a rbldnsd ip4set a.txt queries-a.txt 15354
  run_one a mxguard ip4set a.txt queries-a.txt 15353
fi
if [ "$WHICH" = b ] || [ "$WHICH" = all ]; then
  run_one b rbldnsd ip4tset b.txt queries-b.txt 15354
  run_one b mxguard ip4tset b.txt queries-b.txt 15353
fi
