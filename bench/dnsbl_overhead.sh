#!/bin/bash
# bench/dnsbl_overhead.sh: what smtpd's DNS list checks (issue 6) cost, in one run.
# Not a test; CI never runs it.
#
# One dnsbld (`mxguard serve --dnsbl ...`) on loopback serves three lists (with $SOA, so that
# NXDOMAIN answers are cached, RFC 2308). The same mxguard binary then runs as smtpd three ways:
#   off   no DNS lists
#   cold  dnsbl = three lists, [resolver] max_ttl = 0: every session asks dnsbld (no cache)
#   warm  the same lists, max_ttl = 3600, after a warm-up: every answer comes from the cache
# and for each it measures
#   deny     relay-denial sessions/s: bench/smtp_load --mode deny (banner, EHLO, MAIL, RCPT to an
#            external domain refused, QUIT), --concurrency C for --duration s, from 16 source
#            addresses 127.0.0.20-35 (none listed: each RCPT waits for three NXDOMAINs)
#   accept   accepted-mail sessions/s: Postfix's smtp-source, one 2 KB message per session, one
#            local recipient, concurrency 20 (from 127.0.0.1: asked, never listed; RFC 5782 says
#            127.0.0.1 is never listed)
# Each mode is run --runs times with the three servers interleaved; the medians are reported with
# the ratios to `off`. Target (issue 6): warm-cache overhead <= 10%.
#
# Usage: bench/dnsbl_overhead.sh [--mxguard PATH] [--runs 3] [--duration 5] [--concurrency 100]
#                                [--messages 2000]
# Needs: g++, smtp-source (Debian package postfix; only the binary is used, no Postfix instance).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mxguard=""
runs=3
duration=5
concurrency=100
messages=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --mxguard) mxguard=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
if [ -z "$mxguard" ]; then
  for c in "$root/build-release/mxguard" "$root/build/mxguard"; do
    [ -x "$c" ] && { mxguard=$c; break; }
  done
fi
mxguard=$(readlink -f "$mxguard" 2>/dev/null || echo "$mxguard")
[ -x "$mxguard" ] || { echo "no mxguard binary: pass --mxguard PATH" >&2; exit 64; }
command -v smtp-source >/dev/null || { echo "smtp-source missing (apt-get install postfix)" >&2; exit 64; }

work=$(mktemp -d /tmp/dnsbl_overhead.XXXXXX)
chmod 755 "$work"  # the service user reads the configs and recipients
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

g++ -O2 -std=c++20 -Wall -Wextra "$here/smtp_load.cpp" -o "$work/smtp_load"

# The lists: a few entries each, none of the benchmark's clients.
soa='$SOA 3600 ns.example.test hostmaster.example.test 2024010101 600 300 86400 300'
printf '%s\n:127.0.0.2:Listed\n192.0.2.0/24\n' "$soa" > "$work/bl.txt"
printf '%s\n:127.0.0.3:Listed\n198.51.100.0/24\n' "$soa" > "$work/two.txt"
printf '%s\n:127.0.10.2:Allowlisted\n203.0.113.0/24\n' "$soa" > "$work/wl.txt"

# Waits for "PATTERN(\d+)" in a log file; prints the number.
port_from_log() {
  local file=$1 pattern=$2 i
  for i in $(seq 1 200); do
    if grep -qE "$pattern" "$file" 2>/dev/null; then
      grep -oE "$pattern" "$file" | head -1 | grep -oE '[0-9]+$'
      return 0
    fi
    sleep 0.05
  done
  echo "no '$pattern' in $file:" >&2
  cat "$file" >&2
  return 1
}

(cd "$work" && exec "$mxguard" serve --dnsbl bl.example.test:ip4set:bl.txt \
   --dnsbl two.example.test:ip4set:two.txt --dnsbl wl.example.test:ip4set:wl.txt \
   --dnsbl-listen 127.0.0.1:0) 2> "$work/dnsbld.log" &
pids+=($!)
dns_port=$(port_from_log "$work/dnsbld.log" 'dnsbld: listening on 127\.0\.0\.1:[0-9]+')

write_config() {  # name, extra keys for [smtpd], [resolver] max_ttl (or "")
  local name=$1 keys=$2 ttl=$3 dir="$work/$1"
  mkdir -p "$dir"
  chmod 755 "$dir"
  echo "user@bench.test" > "$dir/recipients"
  {
    echo "[smtpd]"
    echo 'listen = ["127.0.0.1:0"]'
    echo 'hostname = "mx.bench.test"'
    echo 'local_domains = ["bench.test"]'
    echo 'trusted_networks = []'
    echo "mail_dir = \"$dir/mail\""
    echo "queue_dir = \"$dir/queue\""
    echo "recipients = \"$dir/recipients\""
    echo 'max_connections = 20000'
    echo 'max_connections_per_ip = 20000'
    echo "$keys"
    if [ -n "$ttl" ]; then
      echo "[resolver]"
      echo "servers = [\"127.0.0.1:$dns_port\"]"
      echo "max_ttl = $ttl"
    fi
  } > "$dir/mxguard.toml"
}
lists='dnsbl = ["bl.example.test*2", "two.example.test", "wl.example.test*-5"]'
write_config off "" ""
write_config cold "$lists" 0
write_config warm "$lists" 3600

server_pid=""
server_port=""
start_server() {
  local dir="$work/$1"
  rm -rf "$dir/mail" "$dir/queue"
  mkdir -p "$dir/mail" "$dir/queue"
  # Started as root, serve drops to [service] user (mxguard): it must own its spool.
  if [ "$(id -u)" = 0 ] && id mxguard >/dev/null 2>&1; then chown mxguard "$dir/mail" "$dir/queue"; fi
  "$mxguard" serve --config "$dir/mxguard.toml" 2> "$dir/serve.log" &
  server_pid=$!
  pids+=("$server_pid")
  server_port=$(port_from_log "$dir/serve.log" 'smtpd: listening on 127\.0\.0\.1:[0-9]+')
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

deny_run() {  # prints sessions/s
  local out
  out=$("$work/smtp_load" --mode deny --port "$server_port" --concurrency "$concurrency" \
        --duration "$duration" --sources 16 --source-base 20)
  echo "$1 $out" >> "$work/raw.txt"
  echo "$out" | grep -oE 'rcpt_ok=[0-9]+' | grep -q 'rcpt_ok=0' ||
    { echo "a relay RCPT was accepted: $out" >&2; exit 1; }
  echo "$out" | grep -oE ' rate=[0-9.]+' | cut -d= -f2
}
accept_run() {  # prints messages/s
  local t0 t1
  t0=$(date +%s.%N)
  smtp-source -f sender@example.net -t user@bench.test -M client.example.net -l 2048 -s 20 \
    -m "$messages" "127.0.0.1:$server_port" > /dev/null
  t1=$(date +%s.%N)
  echo "$1 accepted=$messages" >> "$work/raw.txt"
  echo "$messages $t0 $t1" | awk '{ printf "%.1f\n", $1 / ($3 - $2) }'
}

declare -A deny accept
for r in $(seq 1 "$runs"); do
  for mode in off cold warm; do
    start_server "$mode"
    # Warm-up: fills the cache (warm) and the page cache (all).
    "$work/smtp_load" --mode deny --port "$server_port" --concurrency 20 --duration 1 \
      --sources 16 --source-base 20 > /dev/null
    smtp-source -f sender@example.net -t user@bench.test -M client.example.net -l 2048 -s 20 \
      -m 200 "127.0.0.1:$server_port" > /dev/null
    d=$(deny_run "$mode")
    a=$(accept_run "$mode")
    deny[$mode]="${deny[$mode]:-} $d"
    accept[$mode]="${accept[$mode]:-} $a"
    n=$(find "$work/$mode/mail" -path '*/new/*' -type f | wc -l)
    echo "run $r $mode: deny ${d}/s accept ${a}/s (delivered $n)" >&2
    stop_server
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "mxguard $("$mxguard" version 2>/dev/null || echo '?') at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs=$runs duration=${duration}s concurrency=$concurrency messages=$messages (medians)"
printf '%-6s %16s %10s %18s %10s\n' server "deny sessions/s" "vs off" "accepted msgs/s" "vs off"
off_d=$(echo "${deny[off]}" | median)
off_a=$(echo "${accept[off]}" | median)
for mode in off cold warm; do
  d=$(echo "${deny[$mode]}" | median)
  a=$(echo "${accept[$mode]}" | median)
  printf '%-6s %16s %10s %18s %10s\n' "$mode" "$d" \
    "$(awk -v x="$d" -v y="$off_d" 'BEGIN { printf "%.3f", x / y }')" "$a" \
    "$(awk -v x="$a" -v y="$off_a" 'BEGIN { printf "%.3f", x / y }')"
done
echo "all runs: deny off:${deny[off]} cold:${deny[cold]} warm:${deny[warm]}"
echo "          accept off:${accept[off]} cold:${accept[cold]} warm:${accept[warm]}"

# Proof that the checks ran: dnsbld's query counts against the sessions the cold server had
# (each asks three lists; warm sessions add only the first misses of each source address).
kill "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" 2>/dev/null || true
cold=$(awk '$1 == "cold" { for (i = 2; i <= NF; i++) if ($i ~ /^(sessions|accepted)=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }' "$work/raw.txt")
echo "cold sessions measured: $cold (plus warm-ups); dnsbld counted:"
grep -E "dnsbld: zone .* queries" "$work/dnsbld.log" | sed 's/^.*dnsbld:/  dnsbld:/'
