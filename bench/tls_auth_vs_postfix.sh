#!/usr/bin/env bash
# bench/tls_auth_vs_postfix.sh: mxguard's submission listener against Postfix with STARTTLS and
# Cyrus SASL on this machine (issue 7, "Benchmark"). Not a test, never run by CI. Loopback only.
# Run as root (Postfix needs it); about 3 minutes plus hashing the accounts.
#
# What it measures: sessions/s of the submission dialogue, at concurrency 50 (bench/smtp_load
# --mode submit): banner, EHLO, STARTTLS, a full TLS handshake, EHLO, AUTH PLAIN (initial
# response), MAIL, RCPT to an external domain (relayed because authenticated), DATA with a
# 2,048-octet message, QUIT; then a new connection. And the servers' CPU per session.
#
# What it does:
#  - installs Postfix, sasl2-bin (saslpasswd2) and libsasl2-modules from Debian if missing
#    ("No configuration": the system's own Postfix stays unconfigured and is never started);
#  - builds mxguard (Release) if no binary is given, and bench/smtp_load.cpp with TLS;
#  - makes ONE self-signed ECDSA P-256 certificate, served by both;
#  - makes the accounts: user0..user(N-1) with random passwords, as yescrypt lines from
#    `mxguard passwd` for mxguard and in a sasldb made by saslpasswd2 for Postfix (Cyrus SASL
#    auxprop sasldb: it stores and compares the secrets in plaintext, as sasldb does);
#  - runs a SEPARATE Postfix instance (postfix -c DIR) on 127.0.0.1:PORT, temp dir for config,
#    queue and data: smtpd_tls_auth_only = yes, smtpd_tls_security_level = may, Cyrus SASL
#    (auxprop sasldb, PLAIN and LOGIN), relaying only for permit_sasl_authenticated, every
#    transport discard: (the queue file is written and fsync'ed before the 250, then delivered
#    to nowhere and removed);
#  - runs mxguard with a [[smtpd.listener]] role = "submission", tls = "starttls" on
#    127.0.0.1:PORT, the same certificate, [auth] passwd_file with the same accounts; relayed
#    mail lands durably in its relay queue (there is no outbound delivery to run);
#  - measures, in ONE run (--runs N for more, medians), each server in turn:
#     warm    --seconds S of sessions cycling over the first 50 accounts after a warm-up with
#             the same accounts (mxguard's verify cache holds them: no yescrypt per login);
#     cold    the other N-50 accounts, each logging in once, on a freshly started mxguard (every
#             login misses the cache and pays yescrypt); Postfix after a warm-up with the warm
#             accounts (it has no cache: cold and warm are the same work for it);
#     resume  like warm, but the client offers each slot's last TLS 1.3 ticket (abbreviated
#             handshakes); skipped with --no-resume.
#    Every handshake is full in warm and cold: the client never offers a session there.
#  - checks that both negotiated TLS 1.3 with the same certificate (fingerprint), that every
#    session was authenticated and its message accepted, and counts the servers' tickets;
#  - stops everything it started (trap), removes its temp dir unless --keep.
#
# Server CPU time comes from /proc/<pid>/stat (utime+stime, in clock ticks), sampled before and
# after each measurement. mxguard is one process (its crypt pool is threads of it). For Postfix
# it is the master's own and reaped children's time (utime+stime+cutime+cstime) plus every live
# child's (smtpd with the SASL library in it, tlsmgr, cleanup, qmgr, trivial-rewrite, discard,
# anvil, postlogd, ...), sampled after its queue has drained so its delivery is counted too.
#
# Usage: bench/tls_auth_vs_postfix.sh [--runs N] [--seconds S] [--concurrency C] [--users N]
#          [--no-resume] [--nice N] [--mxguard PATH] [--report FILE] [--keep]
#   --seconds S   length of the warm and resume measurements (default 15)
#   --users N     accounts (default 650: 50 warm, 600 cold, each cold one logs in once)
#   --nice N      renice the benchmark (servers, load, script) to N, e.g. -10 when other work
#                 shares the machine; both servers get the same priority
#   --report      write the markdown summary there too (it always goes to stdout)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

runs=1
seconds=15
concurrency=50
n_users=650
warm_users=50
do_resume=1
settle_seconds=3
nice_level=""
mxguard_bin="${MXGUARD:-}"
report_file=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --users) n_users="$2"; shift 2 ;;
    --no-resume) do_resume=0; shift ;;
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

[ "$(id -u)" = 0 ] || die "run as root: Postfix's master must start as root"
[ "$n_users" -gt "$warm_users" ] || die "--users must be more than $warm_users"
if [ -n "$nice_level" ]; then renice -n "$nice_level" -p $$ >/dev/null; fi

# ---- packages and binaries ----

need_pkgs=()
if ! command -v postfix >/dev/null; then need_pkgs+=(postfix); fi
if ! command -v saslpasswd2 >/dev/null; then need_pkgs+=(sasl2-bin); fi
if ! ls /usr/lib/*/sasl2/libsasldb.so* >/dev/null 2>&1 ||
   ! ls /usr/lib/*/sasl2/libplain.so* >/dev/null 2>&1; then need_pkgs+=(libsasl2-modules); fi
if ! ls /usr/lib/*/sasl2/libsasldb.so* >/dev/null 2>&1; then need_pkgs+=(libsasl2-modules-db); fi
if ! [ -f /usr/include/openssl/ssl.h ]; then need_pkgs+=(libssl-dev); fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing from Debian: ${need_pkgs[*]}"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null; }
fi
postconf -a 2>/dev/null | grep -qx cyrus || die "this Postfix has no Cyrus SASL support (postconf -a)"
command -v g++ >/dev/null || die "g++ missing"
command -v openssl >/dev/null || die "openssl missing"
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

work="$(mktemp -d /tmp/mxtlsbench.XXXXXX)"
chmod 755 "$work"  # Postfix's unprivileged daemons must reach their queue below it
# Orlov top directory: see bench/smtp_vs_postfix.sh (ext4 without a journal, recently deleted inodes).
chattr +T "$work" 2>/dev/null || true
mx_pid=""
pf_started=0

cleanup() {
  set +e
  trap - ERR
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
set -E
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
used_ports=""
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
mx_port="" mx_mx_port="" pf_port=""
pick_port mx_port     # mxguard's submission listener (measured)
pick_port mx_mx_port  # mxguard's [smtpd] MX listener (required by the config, unused)
pick_port pf_port
ulimit -n "$(ulimit -Hn)"

log "building the load client (with TLS)"
g++ -O2 -std=c++20 -Wall -Wextra -Wpedantic -Werror -DSMTP_LOAD_TLS "$here/smtp_load.cpp" \
  -o "$work/smtp_load" -lssl -lcrypto
load="$work/smtp_load"

domain="bench.test"
helo="client.load.bench.test"

# ---- certificate and accounts ----

mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=mx.$domain" -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>/dev/null
chgrp postfix "$work/tls/key.pem" 2>/dev/null || true
chmod 640 "$work/tls/key.pem"
cert_fp="$(openssl x509 -in "$work/tls/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
  tr 'A-F' 'a-f' | cut -c1-16)"

# Accounts: "user password" lines for the load client; random 20-character passwords.
accounts="$work/accounts"
python3 - "$n_users" >"$accounts" <<'EOF'
import secrets, string, sys
alphabet = string.ascii_letters + string.digits
for i in range(int(sys.argv[1])):
    print(f"user{i} " + "".join(secrets.choice(alphabet) for _ in range(20)))
EOF
head -n "$warm_users" "$accounts" >"$work/accounts.warm"
tail -n +"$((warm_users + 1))" "$accounts" >"$work/accounts.cold"
n_cold=$((n_users - warm_users))

log "hashing $n_users passwords with \`mxguard passwd\` (yescrypt), two at a time"
t_hash0="$(date +%s.%N)"
mkdir -p "$work/mx"
# shellcheck disable=SC2016
xargs -P 2 -L 1 sh -c 'printf "%s\n" "$2" | "$0" passwd "$1"' "$mxguard_bin" <"$accounts" >"$work/mx/passwd" ||
  die "mxguard passwd failed"
[ "$(grep -c '^user[0-9]*:{CRYPT}\$y\$' "$work/mx/passwd")" = "$n_users" ] || die "passwd file incomplete"
hash_ms="$(awk -v a="$t_hash0" -v b="$(date +%s.%N)" -v n="$n_users" 'BEGIN { printf "%.1f", (b - a) * 1000 * 2 / n }')"
log "  about $hash_ms ms per \`mxguard passwd\` process (hash + start)"

# ---- mxguard ----

mx_generation=0
mx_config() {
  cat >"$work/mx/mxguard.toml" <<EOF
# mxguard for the benchmark: a submission listener (STARTTLS, AUTH required) on loopback.
[smtpd]
listen = ["127.0.0.1:$mx_mx_port"]
hostname = "mx.$domain"
local_domains = ["$domain"]
relay_domains = []
trusted_networks = []
mail_dir = "$work/mx/gen$mx_generation/mail"
queue_dir = "$work/mx/gen$mx_generation/queue"
max_connections = 20000
max_connections_per_ip = 20000

[[smtpd.listener]]
listen = ["127.0.0.1:$mx_port"]
role = "submission"
tls = "starttls"

[tls]
cert = "$work/tls/cert.pem"
key = "$work/tls/key.pem"

[auth]
passwd_file = "$work/mx/passwd"

# Started as root (like Postfix's master), mxguard binds, reads the key and the passwd file,
# then runs as this unprivileged user, as Postfix's smtpd runs as postfix.
[service]
user = "nobody"
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
mx_start() {  # a fresh process (empty verify cache) and fresh mail and queue dirs
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
mkdir -p "$pf/etc/sasl" "$pf/queue" "$pf/data"
chown postfix "$pf/data"
cp /etc/postfix/master.cf.proto "$pf/etc/master.cf" 2>/dev/null || cp /etc/postfix/master.cf "$pf/etc/master.cf"
[ -f /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$pf/etc/"
log "making the sasldb with saslpasswd2 ($n_users accounts)"
while read -r u p; do
  printf '%s' "$p" | saslpasswd2 -p -c -f "$pf/sasldb2" -u "$domain" "$u"
done <"$accounts"
chown root:postfix "$pf/sasldb2"
chmod 640 "$pf/sasldb2"
[ "$(sasldblistusers2 -f "$pf/sasldb2" | grep -c "@$domain:")" -ge "$n_users" ] || die "sasldb incomplete"
# Debian's Postfix reads \$config_directory/sasl/smtpd.conf (and ignores cyrus_sasl_config_path).
cat >"$pf/etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $pf/sasldb2
EOF
cat >"$pf/etc/main.cf" <<EOF
# Postfix for the benchmark: submission with STARTTLS and Cyrus SASL (sasldb), like mxguard's.
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
# A documentation network nobody uses: loopback clients relay only when authenticated.
mynetworks = 192.0.2.0/24
relay_domains =
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
alias_maps =
alias_database =
# Deliveries are discarded; the queue file is still written and fsync'ed before the 250.
local_transport = discard:
virtual_transport = discard:
relay_transport = discard:
default_transport = discard:
biff = no
append_dot_mydomain = no
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
# TLS: the same certificate as mxguard's; STARTTLS offered, AUTH only after it.
smtpd_tls_chain_files = $work/tls/key.pem, $work/tls/cert.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 0
# SASL: Cyrus, auxprop sasldb (plaintext secrets), PLAIN and LOGIN.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $pf/etc/sasl
smtpd_sasl_local_domain = $domain
smtpd_sasl_security_options = noanonymous
broken_sasl_auth_clients = no
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
EOF
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
pf_queue_files() {
  { find "$pf/queue/incoming" "$pf/queue/active" "$pf/queue/deferred" "$pf/queue/maildrop" \
    "$pf/queue/hold" -type f 2>/dev/null || true; } | wc -l
}
pf_drain() {
  for _ in $(seq 1200); do [ "$(pf_queue_files)" = 0 ] && return 0; sleep 0.05; done
  log "warning: Postfix queue not drained after 60 s"
}

# ---- /proc accounting (as in bench/smtp_vs_postfix.sh) ----

cpu_ticks() {  # pid [tree]
  local pid="$1" tree="${2:-}"
  if [ -z "$tree" ]; then
    sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
    return
  fi
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk -v m="$pid" '{ p = $1; sub(/^.*\) /, "") }
      p == m || $2 == m { t += $12 + $13 + $14 + $15 } END { printf "%d\n", t }'
}
tree_pids() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk -v m="$1" '{ p = $1; sub(/^.*\) /, "") } p == m || $2 == m { print p }'
}
hz="$(getconf CLK_TCK)"
now() { date +%s.%N; }
results="$work/results.tsv"
: >"$results"
record() { printf '%s\n' "$*" | tr ' ' '\t' >>"$results"; }  # run test server key value

# ---- one measurement ----

# kind: warm | cold | resume
measure() {  # run server kind
  local run="$1" server="$2" kind="$3" port pid tree="" c0 c1 out users extra=() limit=()
  if [ "$server" = mxguard ]; then
    # cold: a fresh process, so the verify cache is empty; warm/resume: the same one, warmed up.
    if [ "$kind" = cold ]; then mx_stop; mx_start; fi
    port="$mx_port"; pid="$mx_pid"
  else
    port="$pf_port"; pid="$(pf_master_pid)"; tree=tree
  fi
  [ "$kind" = resume ] && extra=(--resume)
  # Warm-up with the warm accounts: TLS state, Postfix's smtpd processes, mxguard's cache for them.
  "$load" --mode submit --port "$port" --concurrency "$concurrency" --duration 2 --helo "$helo" \
    --users "$work/accounts.warm" "${extra[@]}" >/dev/null || die "$server: warm-up failed"
  [ "$server" = postfix ] && pf_drain
  sync
  sleep "$settle_seconds"
  if [ "$kind" = cold ]; then
    users="$work/accounts.cold"; limit=(--sessions "$n_cold" --duration 600)
  else
    users="$work/accounts.warm"; limit=(--duration "$seconds")
  fi
  local la
  la="$(cut -d' ' -f1 /proc/loadavg)"
  c0="$(cpu_ticks "$pid" $tree)"
  out="$("$load" --mode submit --port "$port" --concurrency "$concurrency" --helo "$helo" \
    --users "$users" "${limit[@]}" "${extra[@]}")" || die "$server $kind: load client failed"
  [ "$server" = postfix ] && pf_drain
  c1="$(cpu_ticks "$pid" $tree)"
  kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out"; }
  local sessions errors
  sessions="$(kv sessions)"; errors="$(kv errors)"
  [ "$sessions" -gt 0 ] || die "$server $kind: no session completed: $out"
  [ "$(kv accepted)" -ge "$sessions" ] && [ "$(kv auth_ok)" -ge "$sessions" ] ||
    die "$server $kind: sessions without AUTH or acceptance: $out"
  [ "$(kv tls)" = TLSv1.3 ] && [ "$(kv tls13)" = "$(kv handshakes)" ] || die "$server $kind: not all TLS 1.3: $out"
  [ "$(kv cert_sha256)" = "$cert_fp" ] || die "$server $kind: served another certificate: $out"
  if [ "$kind" = resume ]; then
    [ "$(kv resumed)" -gt 0 ] || log "warning: $server resumed no session: $out"
  else
    [ "$(kv resumed)" = 0 ] || die "$server $kind: resumed sessions: $out"
  fi
  local cpu
  cpu="$(awk -v d=$((c1 - c0)) -v hz="$hz" -v n="$sessions" 'BEGIN { printf "%.3f", d * 1000 / hz / n }')"
  record "$run $kind $server rate $(kv rate)"
  record "$run $kind $server cpu_ms $cpu"
  record "$run $kind $server sessions $sessions"
  record "$run $kind $server errors $errors"
  record "$run $kind $server client_cpu_ms $(awk -v c="$(kv client_cpu)" -v n="$sessions" 'BEGIN { printf "%.3f", c * 1000 / n }')"
  record "$run $kind $server p50_ms $(kv p50_ms)"
  record "$run $kind $server p99_ms $(kv p99_ms)"
  record "$run $kind $server resumed $(kv resumed)"
  record "$run $kind $server tickets_per_session $(awk -v t="$(kv tickets)" -v n="$(kv handshakes)" 'BEGIN { printf "%.2f", t / n }')"
  record "$run $kind $server load1 $la"
  printf '%s %s\n' "$server" "$out" >>"$work/client.out"
  log "run $run $kind $server: $(kv rate) sessions/s, $cpu ms server CPU/session, p50 $(kv p50_ms) ms, errors $errors (load $la)"
  log "  $out"
}

# ---- run ----

load0="$(cut -d' ' -f1-3 /proc/loadavg)"
t_start="$(now)"
log "mxguard $mxguard_bin on 127.0.0.1:$mx_port; Postfix $(postconf -d -h mail_version) on 127.0.0.1:$pf_port; work dir $work"
mx_start
pf_start
kinds="warm cold"
[ "$do_resume" = 1 ] && kinds="$kinds resume"
for run in $(seq "$runs"); do
  if [ $((run % 2)) = 1 ]; then order="mxguard postfix"; else order="postfix mxguard"; fi
  for kind in $kinds; do
    for s in $order; do measure "$run" "$s" "$kind"; done
  done
done
load1="$(cut -d' ' -f1-3 /proc/loadavg)"
first_line() { sed -n "s/^$1 //p" "$work/client.out" | head -1; }
mx_tls="$(first_line mxguard | sed 's/.* tls=\([^ ]*\) cipher=\([^ ]*\) group=\([^ ]*\).*/\1, \2, \3/')"
pf_tls="$(first_line postfix | sed 's/.* tls=\([^ ]*\) cipher=\([^ ]*\) group=\([^ ]*\).*/\1, \2, \3/')"

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
out = []
out.append("Machine: $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), "
           "kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo). "
           "Postfix $(postconf -d -h mail_version) with Cyrus SASL $(dpkg-query -W -f '${Version}' libsasl2-2 2>/dev/null || echo '?') (sasldb), "
           "OpenSSL $(openssl version | awk '{ print $2 }'); $("$mxguard_bin" version 2>/dev/null || echo mxguard) at $mxguard_bin "
           "(repo HEAD when run: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")).")
out.append("Concurrency $concurrency; warm/resume measurements $seconds s each; cold: $n_cold distinct accounts, one login each. "
           "Runs: $runs per server (medians). Load average before/after: $load0 / $load1. "
           "Priority: ${nice_level:-unchanged} (nice). Wall time: $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s.")
out.append("Negotiated: mxguard $mx_tls; Postfix $pf_tls; certificate sha256 $cert_fp... (the same for both). "
           "\`mxguard passwd\` took about $hash_ms ms per account (process start + one yescrypt hash).")
out.append("")
out.append("| measurement | server | sessions/s | ratio | ms server CPU/session | CPU ratio | ms client CPU/session | p50 / p99 ms | sessions | errors | TLS tickets/session | load avg (1 min) at start |")
out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
names = {"warm": "full handshake, verify cache warm", "cold": "full handshake, cache cold (yescrypt per login)",
         "resume": "TLS 1.3 resumption, cache warm"}
for t in ("warm", "cold", "resume"):
    if (t, "mxguard", "rate") not in v: continue
    for s in ("mxguard", "postfix"):
        r, c = med(t, s, "rate"), med(t, s, "cpu_ms")
        pr, pc = med(t, "postfix", "rate"), med(t, "postfix", "cpu_ms")
        ratio = f"{r / pr:.2f}x" if s == "mxguard" else ""
        cratio = f"{pc / c:.2f}x less" if s == "mxguard" else ""
        out.append(f"| {names[t]} | {s} | {r:.0f} ({runs(t, s, 'rate', '{:.0f}')}) | {ratio} | {c:.3f} | {cratio} | "
                   f"{med(t, s, 'client_cpu_ms'):.3f} | {med(t, s, 'p50_ms'):.0f} / {med(t, s, 'p99_ms'):.0f} | "
                   f"{med(t, s, 'sessions'):.0f} | {med(t, s, 'errors'):.0f} | {med(t, s, 'tickets_per_session'):.2f} | "
                   f"{runs(t, s, 'load1', '{:.2f}')} |")
out.append("")
if ("warm", "mxguard", "rate") in v:
    r = med("warm", "mxguard", "rate") / med("warm", "postfix", "rate")
    out.append(f"Target (issue 7): sessions/s >= 2x Postfix (full handshakes, as a client without a session cache does): "
               f"{r:.2f}x with mxguard's verify cache warm: {'met' if r >= 2 else 'MISSED'}.")
if ("cold", "mxguard", "rate") in v:
    r = med("cold", "mxguard", "rate") / med("cold", "postfix", "rate")
    out.append(f"With every login a cache miss (yescrypt): {r:.2f}x.")
print("\n".join(out))
EOF
cat "$work/report.md"
if [ -n "$report_file" ]; then cp "$work/report.md" "$report_file"; log "report written to $report_file"; fi
cp "$results" "${report_file:-$work/report.md}.tsv" 2>/dev/null || true
