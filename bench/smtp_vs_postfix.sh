#!/usr/bin/env bash
# bench/smtp_vs_postfix.sh: mxguard serve against Postfix on this machine (issue 3, "Benchmark").
# Not a test, never run by CI. Loopback only. Run as root (Postfix needs it); ~7 minutes.
#
# What it does:
#  - installs Postfix from Debian if missing ("No configuration": the system's own instance stays
#    unconfigured and is never started or touched);
#  - builds mxguard (Release) if no binary is given, and bench/smtp_load.cpp (epoll load client);
#  - runs a SEPARATE Postfix instance (postfix -c DIR) with its own config, queue and data
#    directories under a temp dir, listening on 127.0.0.1:PORT, with mxguard's policy: closed relay
#    (mynetworks is 192.0.2.0/24, a documentation network, so loopback clients are untrusted), one
#    local domain with one valid recipient, durable queueing, deliveries discarded;
#  - runs mxguard with the same policy (trusted_networks = [], same domain and recipient);
#  - measures both, alternating, RUNS times each, and reports medians:
#     (a) accepted 2 KB messages/s at concurrency 1, 10, 100 (Postfix's smtp-source, one session
#         per message), and server CPU per message;
#     (b) relay-denial sessions/s at concurrency 100 (bench/smtp_load --mode deny: EHLO, MAIL, RCPT
#         to an external domain -> 554, QUIT), with Postfix's smtp-sink (rejecting RCPT with the same
#         554) as the ceiling, and server CPU per session;
#     (c) memory of each server holding IDLE idle sessions after EHLO (smtp_load --mode idle).
#  - stops everything it started (trap), removes its temp dir unless --keep.
#
# Server CPU time comes from /proc/<pid>/stat (utime+stime, in clock ticks), sampled before and
# after each measurement. mxguard is one process. For Postfix it is the master's own and reaped
# children's time (utime+stime+cutime+cstime) plus every live child's (smtpd, cleanup, qmgr,
# trivial-rewrite, discard, anvil, postlogd, ...): no process that came and went is missed. For
# (a) Postfix is sampled after its queue has drained, so its delivery (to discard) is counted.
#
# Usage: bench/smtp_vs_postfix.sh [--runs N] [--quick] [--scale F] [--only a,b,c]
#          [--idle N] [--deny-seconds S] [--mxguard PATH] [--report FILE] [--keep]
#   --quick   one run, a fifth of the messages, 2 s denial runs, 2,000 idle sessions (~1 min)
#   --scale F multiply the message counts of (a) by F (default 1: 1500/3000/6000 messages)
#   --report  write the markdown summary there too (it always goes to stdout)
#   --settle S seconds to wait (after a sync) before each (a) measurement (default 6)
#   --nice N  renice the benchmark (servers, load, script) to N, e.g. -10 when other work shares
#             the machine; both servers get the same priority
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

runs=3
scale=1
only="a,b,c"
idle_n=10000
deny_seconds=6
settle_seconds=6
nice_level=""
mxguard_bin="${MXGUARD:-}"
report_file=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --quick) runs=1; scale=0.2; deny_seconds=2; idle_n=2000; settle_seconds=1; shift ;;
    --scale) scale="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --idle) idle_n="$2"; shift 2 ;;
    --deny-seconds) deny_seconds="$2"; shift 2 ;;
    --settle) settle_seconds="$2"; shift 2 ;;
    --nice) nice_level="$2"; shift 2 ;;
    --mxguard) mxguard_bin="$2"; shift 2 ;;
    --report) report_file="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
want() { [[ ",$only," == *",$1,"* ]]; }
count() { awk -v n="$1" -v s="$scale" 'BEGIN { v = int(n * s + 0.5); print (v < 20 ? 20 : v) }'; }

[ "$(id -u)" = 0 ] || die "run as root: Postfix's master must start as root"
if [ -n "$nice_level" ]; then renice -n "$nice_level" -p $$ >/dev/null; fi

# ---- packages and binaries ----

if ! command -v postfix >/dev/null || ! command -v smtp-source >/dev/null; then
  log "installing Postfix from Debian (No configuration)"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
fi
command -v smtp-sink >/dev/null || die "smtp-sink missing (it ships with Debian's postfix package)"
command -v g++ >/dev/null || die "g++ missing"
command -v python3 >/dev/null || die "python3 missing (used for the report)"

if [ -z "$mxguard_bin" ]; then
  for b in "$repo/build-release/mxguard" "$repo/build/mxguard"; do
    if [ -x "$b" ]; then mxguard_bin="$b"; break; fi
  done
fi
if [ -z "$mxguard_bin" ]; then
  log "building mxguard (Release) in build-release"
  cmake -S "$repo" -B "$repo/build-release" -DCMAKE_BUILD_TYPE=Release -DMXGUARD_TESTS=OFF >/dev/null
  cmake --build "$repo/build-release" --target mxguard -j "$(nproc)" >/dev/null
  mxguard_bin="$repo/build-release/mxguard"
fi
[ -x "$mxguard_bin" ] || die "no mxguard binary at $mxguard_bin"

# ---- work dir, ports, cleanup ----

work="$(mktemp -d /tmp/mxbench.XXXXXX)"
chmod 755 "$work"  # Postfix's unprivileged daemons must reach their queue below it
# Orlov top directory: mx/ and pf/ get block groups of their own, away from /tmp's churn (other
# programs' temporary files) and from each other's (see settle() for why that matters on ext4).
chattr +T "$work" 2>/dev/null || true
mx_pid=""
sink_pid=""
client_pid=""
pf_started=0

cleanup() {
  set +e
  trap - ERR
  [ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null && wait "$client_pid" 2>/dev/null
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
  [ -n "$mx_pid" ] && kill "$mx_pid" 2>/dev/null && wait "$mx_pid" 2>/dev/null
  if [ "$pf_started" = 1 ]; then
    local m kids
    m="$(pf_master_pid)"
    kids="$(tree_pids "$m")"
    postfix -c "$work/pf/etc" stop >/dev/null 2>&1
    for _ in $(seq 50); do
      if [ -z "$m" ] || ! kill -0 "$m" 2>/dev/null; then break; fi
      sleep 0.1
    done
    # Only the processes of this instance, by pid: the master and its children.
    # shellcheck disable=SC2086
    if [ -n "$kids" ]; then kill -9 $kids 2>/dev/null; fi
  fi
  if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A command that fails under set -e says where, instead of ending the run without a word.
set -E
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
used_ports=""
mx_port="" pf_port="" sink_port=""
pick_port() {  # variable name: a free loopback port, distinct from those picked before
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    if port_free "$p" && [[ " $used_ports " != *" $p "* ]]; then
      used_ports="$used_ports $p"
      printf -v "$1" '%s' "$p"
      return
    fi
  done
  die "no free port"
}
pick_port mx_port
pick_port pf_port
pick_port sink_port

# 10,000 sessions need 10,000 descriptors on each side; root may not raise the hard limit here.
ulimit -n "$(ulimit -Hn)"
fd_limit="$(ulimit -n)"
if [ "$fd_limit" != unlimited ] && [ "$fd_limit" -lt $((idle_n + 200)) ]; then
  new_n=$((fd_limit - 200))
  log "fd limit $fd_limit: idle sessions lowered from $idle_n to $new_n"
  idle_n="$new_n"
fi

log "building the load client and sync_cost"
g++ -O2 -std=c++20 -Wall -Wextra -Wpedantic -Werror "$here/smtp_load.cpp" -o "$work/smtp_load"
g++ -O2 -std=c++20 -Wall -Wextra -Wpedantic -Werror "$here/sync_cost.cpp" -o "$work/sync_cost"
load="$work/smtp_load"

domain="bench.test"
rcpt="bench@$domain"
sender="sender@load.bench.test"
helo="load.bench.test"

# ---- mxguard ----

mkdir -p "$work/mx"
echo "$rcpt" >"$work/mx/recipients"
mx_generation=0
mx_config() {  # mail and queue dirs of this generation
  cat >"$work/mx/mxguard.toml" <<EOF
# mxguard for the benchmark: loopback untrusted, closed relay, one local domain.
[smtpd]
listen = ["127.0.0.1:$mx_port"]
hostname = "mx.$domain"
local_domains = ["$domain"]
relay_domains = []
trusted_networks = []
mail_dir = "$work/mx/gen$mx_generation/mail"
queue_dir = "$work/mx/gen$mx_generation/queue"
recipients = "$work/mx/recipients"
max_connections = 20000
max_connections_per_ip = 20000
EOF
}
mx_config
"$mxguard_bin" check-config --config "$work/mx/mxguard.toml" >/dev/null ||
  die "mxguard check-config refused the bench config"

wait_listen() {  # port pid what
  for _ in $(seq 200); do
    ss -Hltn "sport = :$1" | grep -q . && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited at start"
    sleep 0.05
  done
  die "$3 does not listen on $1"
}

# A fresh process and a new, empty mail dir each time, so every measurement starts equal. Old
# ones are removed only at the end: see settle() for why nothing is deleted meanwhile.
mx_start() {
  mx_generation=$((mx_generation + 1))
  mx_config
  "$mxguard_bin" serve --config "$work/mx/mxguard.toml" 2>>"$work/mx/log" &
  mx_pid=$!
  wait_listen "$mx_port" "$mx_pid" mxguard
}
mx_stop() {
  [ -n "$mx_pid" ] || return 0
  kill "$mx_pid" 2>/dev/null || true
  wait "$mx_pid" 2>/dev/null || true
  mx_pid=""
}

# ---- Postfix (a separate instance) ----

pf="$work/pf"
mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
chown postfix "$pf/data"
cp /etc/postfix/master.cf.proto "$pf/etc/master.cf" 2>/dev/null || cp /etc/postfix/master.cf "$pf/etc/master.cf"
[ -f /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$pf/etc/"
cat >"$pf/etc/main.cf" <<EOF
# Postfix for the benchmark: same policy as mxguard's bench config.
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.$domain
mydomain = $domain
myorigin = \$myhostname
mydestination = $domain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# A documentation network nobody uses: every loopback client is an outsider, as in mxguard's config.
mynetworks = 192.0.2.0/24
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_recipient_maps = inline:{ $rcpt=ok, postmaster@$domain=ok }
alias_maps =
alias_database =
# Deliveries are discarded; the queue file is still written and fsync'ed before the 250.
local_transport = discard:
virtual_transport = discard:
relay_transport = discard:
default_transport = discard:
biff = no
append_dot_mydomain = no
# mxguard does no reverse DNS and has no per-client count limit in this config; neither does this.
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
# Log to a file through postlogd (no syslog here), as mxguard logs to a file.
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
EOF
# Our own listener instead of port 25; no chroot (its jail would need copies of /etc files).
postconf -c "$pf/etc" -M# smtp/inet
postconf -c "$pf/etc" -Me "127.0.0.1:$pf_port/inet = 127.0.0.1:$pf_port inet n - n - 200 smtpd"
postconf -c "$pf/etc" -F '*/*/chroot = n'
postfix -c "$pf/etc" check || die "postfix check failed; see $pf/maillog"

pf_master_pid() {
  if [ -f "$pf/queue/pid/master.pid" ]; then tr -d ' \n' <"$pf/queue/pid/master.pid"; fi
}
pf_start() {
  postfix -c "$pf/etc" start >/dev/null 2>&1 || die "postfix start failed; see $pf/maillog"
  pf_started=1
  local m=""
  for _ in $(seq 100); do m="$(pf_master_pid)"; [ -n "$m" ] && break; sleep 0.05; done
  wait_listen "$pf_port" "$m" "postfix master"
}
pf_stop() {
  local m
  m="$(pf_master_pid)"
  postfix -c "$pf/etc" stop >/dev/null 2>&1 || true
  for _ in $(seq 100); do
    if [ -z "$m" ] || ! kill -0 "$m" 2>/dev/null; then break; fi
    sleep 0.1
  done
  pf_started=0
}
pf_queue_files() {  # files move between queues meanwhile: find may complain, never fail us
  { find "$pf/queue/incoming" "$pf/queue/active" "$pf/queue/deferred" "$pf/queue/maildrop" \
    "$pf/queue/hold" -type f 2>/dev/null || true; } | wc -l
}
pf_drain() {  # wait until every accepted message has been delivered (discarded)
  for _ in $(seq 1200); do [ "$(pf_queue_files)" = 0 ] && return 0; sleep 0.05; done
  log "warning: Postfix queue not drained after 60 s"
}

# ---- /proc accounting ----

# Clock ticks of CPU (user+system). With "tree", also the reaped children's and every live child's.
cpu_ticks() {  # pid [tree]
  local pid="$1" tree="${2:-}"
  # Fields after "comm) ": 1 state, 2 ppid, 12 utime, 13 stime, 14 cutime, 15 cstime.
  if [ -z "$tree" ]; then
    sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
    return
  fi
  # One pass over every process; cat goes on past processes that vanish meanwhile, but then exits
  # 1, which pipefail and set -e must not take for a failure.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk -v m="$pid" '{ p = $1; sub(/^.*\) /, "") }
      p == m || $2 == m { t += $12 + $13 + $14 + $15 } END { printf "%d\n", t }'
}
tree_pids() {  # pid: it and its direct children
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk -v m="$1" '{ p = $1; sub(/^.*\) /, "") } p == m || $2 == m { print p }'
}
mem_kib() {  # pids... -> "rss_kib pss_kib nprocs"
  local rss=0 pss=0 n=0 r p
  for pid in "$@"; do
    r="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
    p="$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)"
    [ -n "$r" ] || continue
    rss=$((rss + r)); pss=$((pss + ${p:-0})); n=$((n + 1))
  done
  echo "$rss $pss $n"
}
hz="$(getconf CLK_TCK)"

# Before each measurement that writes files: flush what earlier ones left dirty, then wait.
# Why wait: on ext4 WITHOUT a journal (this machine's root fs) the inode allocator skips inodes
# freed in the last 5 s (300 s more while their inode-table block is dirty), reading each one's
# block to check; after thousands of deletions (Postfix removes every queue file it delivered, or
# an rm -rf) every new file costs hundreds of microseconds of kernel CPU. Each measurement should
# pay only for its own deletions.
settle() {
  sync
  sleep "$settle_seconds"
}
now() { date +%s.%N; }
results="$work/results.tsv"
: >"$results"
record() { printf '%s\n' "$*" | tr ' ' '\t' >>"$results"; }  # run test server key value

# ---- the measurements ----

# (a) smtp-source: one session per message, 2,048 payload bytes, HELO, 1 recipient.
accept_once() {  # run server concurrency messages
  local run="$1" server="$2" c="$3" m="$4" port pid tree="" t0 t1 c0 c1 warm
  if [ "$server" = mxguard ]; then port="$mx_port"; pid="$mx_pid"; else
    port="$pf_port"; pid="$(pf_master_pid)"; tree=tree; fi
  warm=$((c * 2 < 100 ? 100 : c * 2))
  smtp-source -f "$sender" -t "$rcpt" -M "$helo" -l 2048 -s "$c" -m "$warm" "127.0.0.1:$port" ||
    die "$server: warm-up failed"
  [ "$server" = postfix ] && pf_drain
  settle
  c0="$(cpu_ticks "$pid" $tree)"
  t0="$(now)"
  smtp-source -f "$sender" -t "$rcpt" -M "$helo" -l 2048 -s "$c" -m "$m" "127.0.0.1:$port" ||
    die "$server: smtp-source failed (a non-2xx reply)"
  t1="$(now)"
  [ "$server" = postfix ] && pf_drain
  c1="$(cpu_ticks "$pid" $tree)"
  local rate cpu
  rate="$(awk -v m="$m" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", m / (b - a) }')"
  cpu="$(awk -v d=$((c1 - c0)) -v hz="$hz" -v m="$m" 'BEGIN { printf "%.3f", d * 1000 / hz / m }')"
  if [ "$server" = mxguard ]; then
    local stored
    stored="$(find "$work/mx/gen$mx_generation/mail" -path '*/new/*' -type f | wc -l)"
    [ "$stored" = $((m + warm)) ] || die "mxguard stored $stored messages, expected $((m + warm))"
  fi
  record "$run a$c $server rate $rate"
  record "$run a$c $server cpu_ms $cpu"
  log "run $run (a) c=$c $server: $rate msg/s, $cpu ms CPU/msg"
}

# (b) relay denial at concurrency 100, 16 source addresses (127.0.0.2-17).
deny_once() {  # run server
  local run="$1" server="$2" port pid tree="" c0 c1 out
  case "$server" in
    mxguard) port="$mx_port"; pid="$mx_pid" ;;
    postfix) port="$pf_port"; pid="$(pf_master_pid)"; tree=tree ;;
    smtp-sink)
      port="$sink_port"
      smtp-sink -u postfix -f RCPT -B "554 5.7.1 Relay access denied" -m 1000 \
        "127.0.0.1:$sink_port" 1024 &
      sink_pid=$!
      wait_listen "$sink_port" "$sink_pid" smtp-sink
      pid="$sink_pid" ;;
  esac
  "$load" --mode deny --port "$port" --concurrency 100 --duration 1 --sources 16 >/dev/null
  sync
  c0="$(cpu_ticks "$pid" $tree)"
  out="$("$load" --mode deny --port "$port" --concurrency 100 --duration "$deny_seconds" --sources 16)"
  c1="$(cpu_ticks "$pid" $tree)"
  if [ "$server" = smtp-sink ]; then kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; sink_pid=""; fi
  local rate sessions errors ccpu cpu
  kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out"; }
  rate="$(kv rate)"; sessions="$(kv sessions)"; errors="$(kv errors)"; ccpu="$(kv client_cpu)"
  [ "$(kv denied)" -ge "$sessions" ] || die "$server: not every RCPT was refused: $out"
  cpu="$(awk -v d=$((c1 - c0)) -v hz="$hz" -v n="$sessions" 'BEGIN { printf "%.3f", d * 1000 / hz / n }')"
  record "$run b $server rate $rate"
  record "$run b $server cpu_ms $cpu"
  record "$run b $server errors $errors"
  record "$run b $server client_cpu_s $ccpu"
  log "run $run (b) $server: $rate sessions/s, $cpu ms CPU/session, errors $errors, client CPU ${ccpu}s / ${deny_seconds}s"
}

# (c) idle sessions after EHLO, 10 source addresses (127.0.0.2-11).
idle_once() {  # run server
  local run="$1" server="$2" port pids base out
  if [ "$server" = mxguard ]; then mx_stop; mx_start; port="$mx_port"; else
    pf_stop; pf_start; port="$pf_port"; fi
  sleep 0.5
  if [ "$server" = mxguard ]; then pids="$mx_pid"; else pids="$(tree_pids "$(pf_master_pid)")"; fi
  # shellcheck disable=SC2086
  base="$(mem_kib $pids)"
  "$load" --mode idle --port "$port" --connections "$idle_n" --sources 10 --settle 5 --hold 300 \
    >"$work/idle.out" 2>&1 &
  client_pid=$!
  for _ in $(seq 1200); do grep -q '^ready' "$work/idle.out" && break; sleep 0.1; done
  grep -q '^ready' "$work/idle.out" || die "$server: idle client never settled: $(cat "$work/idle.out")"
  sleep 1
  if [ "$server" = mxguard ]; then pids="$mx_pid"; else pids="$(tree_pids "$(pf_master_pid)")"; fi
  # shellcheck disable=SC2086
  read -r rss pss nproc <<<"$(mem_kib $pids)"
  out="$(head -1 "$work/idle.out")"
  kill "$client_pid" 2>/dev/null || true
  wait "$client_pid" 2>/dev/null || true
  client_pid=""
  local served
  served="$(sed -n 's/.* served=\([0-9]*\).*/\1/p' <<<"$out")"
  record "$run c $server served $served"
  record "$run c $server rss_mib $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
  record "$run c $server pss_mib $(awk -v k="$pss" 'BEGIN { printf "%.1f", k / 1024 }')"
  record "$run c $server base_rss_mib $(awk -v k="${base%% *}" 'BEGIN { printf "%.1f", k / 1024 }')"
  record "$run c $server processes $nproc"
  log "run $run (c) $server: $out; RSS $((rss / 1024)) MiB, PSS $((pss / 1024)) MiB in $nproc processes"
  if [ "$server" = mxguard ]; then mx_stop; mx_start; else pf_stop; pf_start; fi
}

# ---- run ----

load0="$(cut -d' ' -f1-3 /proc/loadavg)"
fs_dev="$(basename "$(df "$work" | awk 'NR == 2 { print $1 }')")"
fs_journal="journal: unknown"
if [ -r "/sys/fs/ext4/$fs_dev/journal_task" ]; then
  if [ "$(cat "/sys/fs/ext4/$fs_dev/journal_task")" = "<none>" ]; then fs_journal="no journal"; else fs_journal="journal"; fi
fi
t_start="$(now)"
log "mxguard $mxguard_bin on 127.0.0.1:$mx_port; Postfix $(postconf -d -h mail_version) on 127.0.0.1:$pf_port; work dir $work"
log "disk: cost of a durable message by flush method (bench/sync_cost)"
mkdir -p "$work/sync_cost.d"
sync_cost_out="$("$work/sync_cost" "$work/sync_cost.d" 300 2)"
sync_fsync="$(sed -n 's/^fsync .*ms_per_msg=\([0-9.]*\).*/\1/p' <<<"$sync_cost_out")"
sync_syncfs="$(sed -n 's/^syncfs .*ms_per_msg=\([0-9.]*\).*/\1/p' <<<"$sync_cost_out")"
log "  fsync(file)+fsync(dir): $sync_fsync ms/msg; syncfs twice: $sync_syncfs ms/msg"
mx_start
pf_start
for run in $(seq "$runs"); do
  # Alternate which server goes first, so neither always runs on a warmer (or busier) machine.
  if [ $((run % 2)) = 1 ]; then order="mxguard postfix"; else order="postfix mxguard"; fi
  if want a; then
    for c in 1 10 100; do
      case "$c" in 1) m="$(count 1500)" ;; 10) m="$(count 3000)" ;; 100) m="$(count 6000)" ;; esac
      for s in $order; do
        if [ "$s" = mxguard ]; then mx_stop; mx_start; fi
        accept_once "$run" "$s" "$c" "$m"
      done
    done
  fi
  if want b; then
    for s in $order smtp-sink; do deny_once "$run" "$s"; done
  fi
  if want c; then
    for s in $order; do idle_once "$run" "$s"; done
  fi
done
load1="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report ----

python3 - "$results" >"$work/report.md" <<EOF
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
v = collections.defaultdict(list)
for run, test, server, key, value in rows:
    v[(test, server, key)].append(float(value))
def med(t, s, k):
    x = v.get((t, s, k))
    return statistics.median(x) if x else None
def runs(t, s, k, fmt):
    x = v.get((t, s, k))
    return ", ".join(fmt.format(i) for i in x) if x else "-"
def ratio(a, b, fmt="{:.2f}x"):
    return fmt.format(a / b) if a is not None and b else "-"
out = []
out.append("Machine: $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), "
           "kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), "
           "temp dir on $(df -T "$work" | awk 'NR == 2 { print $2 }') (${fs_journal}). "
           "A durable 2.4 KB message, single writer (bench/sync_cost): fsync(file)+fsync(dir) ${sync_fsync} ms, "
           "syncfs()+syncfs() ${sync_syncfs} ms.")
out.append("Postfix $(postconf -d -h mail_version); $("$mxguard_bin" version 2>/dev/null || echo mxguard) at $mxguard_bin "
           "(repo HEAD when run: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")). Runs: $runs per server, medians. "
           "Load average before/after: $load0 / $load1 (other work on the machine shows here). "
           "Priority: ${nice_level:-unchanged} (nice). "
           "Wall time: $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s.")
out.append("")
if any(k[0].startswith("a") for k in v):
    out.append("(a) accepted 2 KB messages (smtp-source, one session per message); CPU = server CPU per message")
    out.append("")
    out.append("| concurrency | mxguard msg/s | Postfix msg/s | ratio | mxguard ms CPU/msg | Postfix ms CPU/msg | CPU ratio | runs mxguard / Postfix (msg/s) |")
    out.append("|---|---|---|---|---|---|---|---|")
    for c in (1, 10, 100):
        t = f"a{c}"
        if (t, "mxguard", "rate") not in v: continue
        mr, pr = med(t, "mxguard", "rate"), med(t, "postfix", "rate")
        mc, pc = med(t, "mxguard", "cpu_ms"), med(t, "postfix", "cpu_ms")
        out.append(f"| {c} | {mr:.0f} | {pr:.0f} | {ratio(mr, pr)} | {mc:.3f} | {pc:.3f} | {ratio(pc, mc)} less | "
                   f"{runs(t, 'mxguard', 'rate', '{:.0f}')} / {runs(t, 'postfix', 'rate', '{:.0f}')} |")
    out.append("")
if ("b", "mxguard", "rate") in v:
    out.append("(b) relay-denial sessions at concurrency 100 (smtp_load --mode deny); CPU = server CPU per session")
    out.append("")
    out.append("| server | sessions/s | ms CPU/session | load client CPU (s) | errors | runs (sessions/s) |")
    out.append("|---|---|---|---|---|---|")
    for s in ("mxguard", "postfix", "smtp-sink"):
        out.append(f"| {s} | {med('b', s, 'rate'):.0f} | {med('b', s, 'cpu_ms'):.3f} | "
                   f"{med('b', s, 'client_cpu_s'):.2f} of ${deny_seconds} | {med('b', s, 'errors'):.0f} | "
                   f"{runs('b', s, 'rate', '{:.0f}')} |")
    mr, pr, sr = med("b", "mxguard", "rate"), med("b", "postfix", "rate"), med("b", "smtp-sink", "rate")
    out.append("")
    out.append(f"mxguard / Postfix: {ratio(mr, pr)}; mxguard / smtp-sink: {ratio(mr, sr, '{:.0%}')}; "
               f"Postfix CPU per session / mxguard's: {ratio(med('b', 'postfix', 'cpu_ms'), med('b', 'mxguard', 'cpu_ms'))}")
    out.append("")
if ("c", "mxguard", "served") in v:
    out.append("(c) $idle_n idle sessions after EHLO (smtp_load --mode idle); memory summed over the server's processes")
    out.append("")
    out.append("| server | sessions served | RSS MiB | PSS MiB | processes | RSS before MiB | KiB RSS per served session | runs (RSS MiB) |")
    out.append("|---|---|---|---|---|---|---|---|")
    for s in ("mxguard", "postfix"):
        served, rss = med("c", s, "served"), med("c", s, "rss_mib")
        base = med("c", s, "base_rss_mib")
        per = (rss - base) * 1024 / served if served else float("nan")
        out.append(f"| {s} | {served:.0f} | {rss:.1f} | {med('c', s, 'pss_mib'):.1f} | {med('c', s, 'processes'):.0f} | "
                   f"{base:.1f} | {per:.1f} | {runs('c', s, 'rss_mib', '{:.1f}')} |")
    out.append("")
t = []
def verdict(ok):
    return "met" if ok else "MISSED"
if ("a100", "mxguard", "rate") in v:
    r = med("a100", "mxguard", "rate") / med("a100", "postfix", "rate")
    t.append(f"| (a) accepted msg/s at concurrency 100 >= 3x Postfix | {r:.2f}x | {verdict(r >= 3)} |")
if ("b", "mxguard", "rate") in v:
    r = med("b", "mxguard", "rate") / med("b", "postfix", "rate")
    k = med("b", "mxguard", "rate") / med("b", "smtp-sink", "rate")
    t.append(f"| (b) relay-denial sessions/s >= 4x Postfix | {r:.2f}x | {verdict(r >= 4)} |")
    t.append(f"| (b) within 10% of smtp-sink (>= 90% of its rate) | {k:.0%} | {verdict(k >= 0.9)} |")
if ("c", "mxguard", "served") in v:
    served, rss = med("c", "mxguard", "served"), med("c", "mxguard", "rss_mib")
    t.append(f"| (c) all $idle_n idle sessions served in <= 100 MiB | {served:.0f} served, {rss:.1f} MiB RSS | "
             f"{verdict(served >= $idle_n and rss <= 100)} |")
if t:
    out.append("Targets (issue 3)")
    out.append("")
    out.append("| target | measured (medians) | |")
    out.append("|---|---|---|")
    out.extend(t)
    out.append("")
print("\n".join(out))
EOF
cat "$work/report.md"
if [ -n "$report_file" ]; then cp "$work/report.md" "$report_file"; log "report written to $report_file"; fi
cp "$results" "${report_file:-$work/report.md}.tsv" 2>/dev/null || true
