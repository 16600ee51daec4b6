#!/usr/bin/env bash
# Autobahn|Testsuite (wstest) against tunws, in both roles, over the userspace stack on a real TUN.
#
#   sudo scripts/autobahn.sh [--server] [--client] [--cases 1.*,2.*] [--exclude 9.*] [--update]
#                            [--testee tunws|kernel] [--release] [--full] [--install-only]
#
# Server role: `wstest -m fuzzingclient` (kernel TCP, 10.0.0.1) against `tunws` /echo on 10.0.0.2.
# Client role: `wstest -m fuzzingserver` on 10.0.0.1:9001, driven by `tunws client --echo` on 10.0.0.2.
# `--testee kernel` runs the ws engine over kernel TCP on the namespace's loopback instead
# (ws/examples/kernel_echo.rs and kernel_client.rs): same engine, no userspace stack, which tells
# engine bugs from stack bugs.
#
# Verdicts are compared with tests/autobahn/expected-{server,client}.json (exit 1 on any difference;
# --update rewrites them). Reports go to target/autobahn/<role>/ (index.html is the readable one).
# Cases 12.* and 13.* (permessage-deflate, 216 per role) run with `tunws --deflate` in both roles.
# All of them take an estimated ten minutes per role on a quiet machine with --release (from
# measured CPU seconds: docs/CONFORMANCE.md), four fifths of it wstest's own CPU (it compresses, inflates and hashes 1000 messages of up to 128 KiB per
# case in Python 2): --full runs them with cases 1-10 (what scripts/test.sh and CI run, with
# --release). Without --full or --cases a sample runs: cases 1-4 of each of the 12 groups
# (1000 messages of 16 B to 1 KiB, every data set and every offer and answer of the suite), 48
# per role. The kernel harness has no deflate: --testee kernel runs 1-10 only.
#
# wstest is Python 2 code: CPython 2.7 from Debian bullseye packages is unpacked into a private prefix
# (default scripts/.prefix/autobahn, override with AUTOBAHN_PREFIX), with a private apt state so the
# system's apt is untouched; the pinned Python packages go on top with pip 20.3.4. Needs root (netns).
# The testee is built as the user who ran sudo, in the debug profile by default (the one
# `cargo test` has already built; cases 1-10 take about a minute per role with it), or with
# --release (about 30 s per role; scripts/test.sh uses it). AUTOBAHN_TUNWS=/path/to/tunws skips the build, tests that binary;
# AUTOBAHN_TUNWS_ARGS adds options to tunws in both roles (e.g. --trace: its lines land in the logs).
# Each role logs its wall time and the CPU seconds of wstest and of the testee, which tell where
# a slow run spends its time.
set -euo pipefail
script=autobahn.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
prefix=${AUTOBAHN_PREFIX:-$repo/scripts/.prefix/autobahn}
reports=${AUTOBAHN_REPORTS:-$repo/target/autobahn}
specs=$repo/tests/autobahn

# Debian bullseye packages that make a working CPython 2.7 with headers (for the C extensions).
debs=(python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libpython2.7
      python2.7-dev libpython2.7-dev libssl1.1 libffi7)
pip_version=20.3.4
# The set known to work with wstest on Python 2.7 (newer releases dropped Python 2).
py_packages=(autobahntestsuite==25.10.1 'autobahn[twisted,accelerate]==0.10.9' txaio==2.1.0
    Twisted==19.10.0 incremental==16.10.1 zope.interface==4.6.0 constantly==15.1.0 Automat==22.10.0
    attrs==21.4.0 hyperlink==21.0.0 idna==2.10 PyHamcrest==1.10.1 pyOpenSSL==19.1.0
    cryptography==3.3.2 cffi==1.15.1 pycparser==2.21 enum34==1.1.10 ipaddress==1.0.23
    service_identity==18.1.0 pyasn1==0.5.1 pyasn1-modules==0.3.0 jinja2==2.11.3 markupsafe==1.1.1
    Werkzeug==1.0.1 klein==17.10.0 typing==3.10.0.0 unittest2==1.1.0 linecache2==1.0.0
    traceback2==1.4.0 six==1.16.0 wsaccel==0.6.6 ujson==2.0.3 setuptools==44.0.0)

if [[ ${1:-} != -h && ${1:-} != --help ]]; then require_root "$@"; fi
roles=()
cases=""
exclude=""
update=0
testee=tunws
profile=dev
install_only=0
full=0
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --server) roles+=(server) ;;
        --client) roles+=(client) ;;
        --cases) cases=$2; shift ;;
        --exclude) exclude=$2; shift ;;
        --update) update=1 ;;
        --testee) testee=$2; shift ;;
        --release) profile=release ;;
        --full) full=1 ;;
        --install-only) install_only=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "autobahn.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ ${#roles[@]} -gt 0 ]] || roles=(server client)
[[ $testee == tunws || $testee == kernel ]] || { echo "autobahn.sh: --testee is tunws or kernel" >&2; exit 2; }
if [[ -z $cases ]]; then
    # Groups 8 and 11 do not exist in the suite.
    cases="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
    if [[ $testee == tunws && $full == 1 ]]; then
        cases+=",12.*,13.*"
    elif [[ $testee == tunws ]]; then
        for group in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
            for i in 1 2 3 4; do cases+=",$group.$i"; done
        done
    fi
fi
# The kernel harness keeps its own reports, so that both can be compared side by side.
[[ $testee == kernel ]] && reports=$reports/kernel

log() { echo "autobahn: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Installer: idempotent; a stamp holding the package list makes a rerun take no time.

# The Debian packages put their libraries and headers under the multiarch triplet (x86_64-linux-gnu).
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

py_env() {
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$prefix/usr/lib/$multiarch:"*) ;;
        *) export LD_LIBRARY_PATH=$prefix/usr/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ;;
    esac
    export PYTHONDONTWRITEBYTECODE=1
}

debian_mirror() {
    # The mirror this machine's apt already uses (deb822 .sources or one-line .list format).
    local f url
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        url=$(grep -v '^[[:space:]]*#' "$f" | grep -oE '(https?://[^ ]+/debian)/?( |$)' | head -n1 | tr -d ' ' || true)
        [[ -n $url ]] && { echo "${url%/}"; return; }
    done
    echo http://deb.debian.org/debian
}

install_wstest() {
    local stamp=$prefix/.installed want
    want=$(printf '%s\n' "${debs[@]}" "pip==$pip_version" "${py_packages[@]}")
    if [[ -x $prefix/usr/local/bin/wstest && -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return
    fi
    local t0=$SECONDS
    command -v apt-get >/dev/null || die "apt-get not found: the installer needs Debian's apt to fetch Python 2.7"
    command -v gcc >/dev/null || die "gcc not found: wsaccel, ujson, cffi and cryptography build C extensions"
    log "installing wstest (Python 2.7 + autobahntestsuite) into $prefix"
    rm -rf "$prefix"
    local apt_dir=$prefix/apt mirror
    mirror=$(debian_mirror)
    mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,etc/apt.conf.d,etc/preferences.d,debs}
    : >"$apt_dir/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bullseye main" \
        >"$apt_dir/etc/sources.list"
    local apt_opts=(-q -o Dir::State="$apt_dir" -o Dir::State::status="$apt_dir/status"
        -o Dir::Cache="$apt_dir/cache" -o Dir::Etc="$apt_dir/etc"
        -o Dir::Etc::sourcelist="$apt_dir/etc/sources.list" -o Dir::Etc::sourceparts=-
        -o Dir::Etc::parts="$apt_dir/etc/apt.conf.d" -o Dir::Etc::preferencesparts="$apt_dir/etc/preferences.d"
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
        die "apt-get update of $mirror bullseye failed (see $apt_dir/update.log)"
    (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download "${debs[@]}") >"$apt_dir/download.log" 2>&1 ||
        die "apt-get download failed (see $apt_dir/download.log)"
    local deb
    for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
    py_env
    local py=$prefix/usr/bin/python2.7
    "$py" -c 'import ssl, zlib, ctypes' || die "the unpacked Python 2.7 does not start"
    if python3 -m pip --version >/dev/null 2>&1; then
        python3 -m pip download -q --disable-pip-version-check --python-version 2.7 --only-binary=:all: \
            --no-deps -d "$prefix/wheels" "pip==$pip_version" || die "could not download the pip $pip_version wheel"
    else
        # No pip for python3 (Debian's python3 without python3-pip): bullseye's python-pip-whl is
        # pip 20.3.4 too, but de-vendored; with its sibling wheels on PYTHONPATH it runs, and it
        # fetches the self-contained wheel from PyPI.
        log "python3 has no pip: bootstrapping with bullseye's python-pip-whl"
        (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download python-pip-whl) >>"$apt_dir/download.log" 2>&1 ||
            die "apt-get download python-pip-whl failed (see $apt_dir/download.log)"
        dpkg -x "$apt_dir"/debs/python-pip-whl_*.deb "$apt_dir/pip-whl"
        local debian_wheels
        debian_wheels=$(printf '%s:' "$apt_dir"/pip-whl/usr/share/python-wheels/*.whl)
        PYTHONPATH=$debian_wheels "$py" -m pip download -q --disable-pip-version-check --no-python-version-warning \
            --no-deps -d "$prefix/wheels" "pip==$pip_version" || die "could not download the pip $pip_version wheel"
    fi
    local pip_whl=$prefix/wheels/pip-$pip_version-py2.py3-none-any.whl
    "$py" "$pip_whl/pip" install -q --no-python-version-warning --no-index --no-warn-script-location "$pip_whl"
    local pip=("$py" -m pip --disable-pip-version-check --no-python-version-warning)
    # setuptools first: the packages without Python 2 wheels build from sdists and import it.
    "${pip[@]}" install -q --no-warn-script-location setuptools==44.0.0
    CFLAGS="-I$prefix/usr/include -I$prefix/usr/include/python2.7 -I$prefix/usr/include/$multiarch/python2.7" \
        "${pip[@]}" install -q --no-warn-script-location "${py_packages[@]}" ||
        die "pip install of the pinned set failed (rerun to retry from scratch)"
    "$prefix/usr/local/bin/wstest" --help >/dev/null || die "wstest installed but does not start"
    echo "$want" >"$stamp"
    log "wstest installed in $((SECONDS - t0)) s"
}

# Concurrent runs (CI and a developer, or two helpers) share the prefix: one installs at a time.
mkdir -p "$(dirname "$prefix")"
exec {lock_fd}>"$prefix.lock"
flock "$lock_fd"
install_wstest
flock -u "$lock_fd"
py_env
wstest=$prefix/usr/local/bin/wstest
if [[ $install_only == 1 ]]; then
    "$wstest" --autobahnversion 2>/dev/null
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Testees. Built through cargo so that they are never stale (a no-op when up to date).

require_tools ip ss timeout
profile_dir=$([[ $profile == dev ]] && echo debug || echo release)
if [[ $testee == tunws ]]; then
    tunws=${AUTOBAHN_TUNWS:-}
    if [[ -z $tunws ]]; then
        log "building tunws ($profile_dir)"
        require_tools cargo
        (cd "$repo" && as_user cargo build -q -p demo --bin tunws --profile "$profile") || die "cargo build -p demo failed"
        tunws=$(target_dir)/$profile_dir/tunws
    fi
    # Extra options for both roles, to diagnose a case: AUTOBAHN_TUNWS_ARGS=--trace.
    read -ra extra <<<"${AUTOBAHN_TUNWS_ARGS:-}"
    # permessage-deflate in both roles: only cases 12 and 13 negotiate it.
    server_cmd=("$tunws" --tun tun0 --addr 10.0.0.2/24 --port 9001 --deflate "${extra[@]}")
    client_cmd=("$tunws" client --tun tun0 --addr 10.0.0.2/24 --deflate "${extra[@]}")
    server_host=10.0.0.2
    kernel_host=10.0.0.1
else
    log "building the kernel-TCP harness ($profile_dir)"
    require_tools cargo
    (cd "$repo" && as_user cargo build -q -p ws --example kernel_echo --example kernel_client --profile "$profile") ||
        die "cargo build -p ws --examples failed"
    server_cmd=("$(target_dir)/$profile_dir/examples/kernel_echo" 127.0.0.1:9001)
    client_cmd=("$(target_dir)/$profile_dir/examples/kernel_client")
    server_host=127.0.0.1
    kernel_host=127.0.0.1
fi

# ---------------------------------------------------------------------------------------------
# The namespace: everything runs inside it, so nothing touches the root namespace's network.

ns=tw-ab-$$
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Anything else still running in our namespace was started by this script (a client killed
    # by a timeout leaves nothing, but be sure): stop it by PID before the namespace goes.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + 5))
    while [[ -n $(ip netns pids "$ns" 2>/dev/null) && $SECONDS -lt $deadline ]]; do sleep 0.1; done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Foreground only: a backgrounded shell function is a subshell, and $! would not be the process.
in_ns() { ip netns exec "$ns" "$@"; }

ip netns add "$ns" || die "could not create network namespace $ns"
in_ns ip link set lo up
if [[ $testee == tunws ]]; then
    in_ns ip tuntap add dev tun0 mode tun
    in_ns ip addr add 10.0.0.1/24 dev tun0
    in_ns ip link set tun0 mtu "${AUTOBAHN_MTU:-1500}" up
fi

# Cases 1-10 take about 30 s per role and the deflate sample about as long again; the longest
# single case (9.x, 16 MiB) a few seconds. With --full a role takes about ten minutes on a quiet
# machine and a case up to 25 s (12.5.15: 1000 messages of 128 KiB of PDF in 256-byte frames);
# the limits leave room for a loaded one (the whole of 12 and 13 took 1188-1711 s per role at a
# load average of 8).
if [[ $full == 1 ]]; then
    role_timeout=${AUTOBAHN_ROLE_TIMEOUT:-2400}
    case_timeout=${AUTOBAHN_CASE_TIMEOUT:-180}
else
    role_timeout=${AUTOBAHN_ROLE_TIMEOUT:-600}
    case_timeout=${AUTOBAHN_CASE_TIMEOUT:-20}
fi

json_list() { # "a,b" -> ["a","b"]
    local out="" item
    IFS=, read -ra items <<<"$1"
    for item in "${items[@]}"; do [[ -n $item ]] && out+="${out:+,}\"$item\""; done
    echo "[$out]"
}

# write_spec TEMPLATE URL OUTDIR > spec.json
write_spec() {
    sed -e "s|@URL@|$2|" -e "s|@OUTDIR@|$3|" -e "s|@CASES@|$(json_list "$cases")|" \
        -e "s|@EXCLUDE@|$(json_list "$exclude")|" "$specs/$1"
}

# wait_for_log FILE PATTERN PID SECONDS: until the line shows up, the process dies, or time runs out.
wait_for_log() {
    local deadline=$((SECONDS + $4))
    while ! grep -q "$2" "$1" 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "$(basename "$1" .log) exited before '$2'"; }
        [[ $SECONDS -lt $deadline ]] || { cat "$1" >&2; die "no '$2' from $(basename "$1" .log) after $4 s"; }
        sleep 0.1
    done
}

# CPU seconds (user + system) used so far by process $1, read before it exits; and by the
# children this shell has waited for (cutime + cstime of the shell itself). Each role logs where
# its time went: wstest (Python 2) or the testee.
hz=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
children_cpu() { awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.1f", ($14 + $15) / hz }' "/proc/$$/stat"; }
cpu_wstest=0
cpu_testee=0

# Server role: wstest connects to our /echo once per case.
run_server() {
    local dir=$reports/server
    rm -rf "$dir" && mkdir -p "$dir"
    ip netns exec "$ns" "${server_cmd[@]}" >"$dir/testee.log" 2>&1 &
    local testee_pid=$!
    pids+=("$testee_pid")
    wait_for_log "$dir/testee.log" "listening on" "$testee_pid" 10
    write_spec fuzzingclient.json "ws://$server_host:9001/echo" "$dir" >"$dir/spec.json"
    log "server role: wstest fuzzingclient -> ws://$server_host:9001/echo (log: $dir/wstest.log)"
    local before
    before=$(children_cpu)
    in_ns timeout "$role_timeout" "$wstest" -m fuzzingclient -s "$dir/spec.json" \
        >"$dir/wstest.log" 2>&1 || log "server role: wstest exited with status $? (see $dir/wstest.log)"
    cpu_wstest=$(python3 -c "print(round($(children_cpu) - $before, 1))")
    cpu_testee=$(cpu_of "$testee_pid")
    kill "$testee_pid" 2>/dev/null || true
    wait "$testee_pid" 2>/dev/null || true
}

# Client role: wstest serves the cases; our client connects once per case and echoes.
run_client() {
    local dir=$reports/client
    rm -rf "$dir" && mkdir -p "$dir"
    write_spec fuzzingserver.json "ws://$kernel_host:9001" "$dir" >"$dir/spec.json"
    ip netns exec "$ns" "$wstest" -m fuzzingserver -s "$dir/spec.json" --webport=0 >"$dir/wstest.log" 2>&1 &
    local wstest_pid=$!
    pids+=("$wstest_pid")
    wait_for_log "$dir/wstest.log" "Ok, will run" "$wstest_pid" 20
    local deadline=$((SECONDS + 10))
    until in_ns ss -Hltn "sport = :9001" | grep -q LISTEN; do
        [[ $SECONDS -lt $deadline ]] || die "wstest fuzzingserver does not listen on 9001"
        sleep 0.1
    done
    local base=ws://$kernel_host:9001 count
    in_ns timeout 30 "${client_cmd[@]}" "$base/getCaseCount" >"$dir/getCaseCount.out" 2>"$dir/getCaseCount.log" || true
    count=$(grep -oE '^[0-9]+$' "$dir/getCaseCount.out" | tail -n1 || true)
    [[ -n $count ]] || { cat "$dir/getCaseCount.log" >&2; die "client role: no case count from $base/getCaseCount"; }
    log "client role: $count cases from wstest fuzzingserver on $base (logs: $dir/case-N.log)"
    # Exit statuses are not verdicts (the client exits 1 when it rightly fails a connection);
    # wstest judges each case from the wire.
    local i role_deadline=$((SECONDS + role_timeout)) before
    before=$(children_cpu)
    for ((i = 1; i <= count; i++)); do
        if [[ $SECONDS -ge $role_deadline ]]; then
            log "client role: stopped at case $i of $count after $role_timeout s (AUTOBAHN_ROLE_TIMEOUT)"
            break
        fi
        in_ns timeout "$case_timeout" "${client_cmd[@]}" --echo \
            "$base/runCase?case=$i&agent=tunws" >"$dir/case-$i.log" 2>&1 || echo "exit status $?" >>"$dir/case-$i.log"
    done
    cpu_testee=$(python3 -c "print(round($(children_cpu) - $before, 1))")
    in_ns timeout 30 "${client_cmd[@]}" "$base/updateReports?agent=tunws" >"$dir/updateReports.log" 2>&1 ||
        log "client role: updateReports exited with status $? (see $dir/updateReports.log)"
    local deadline=$((SECONDS + 30))
    until [[ -f $dir/index.json ]]; do
        [[ $SECONDS -lt $deadline ]] || { log "client role: wstest wrote no index.json"; break; }
        sleep 0.2
    done
    cpu_wstest=$(cpu_of "$wstest_pid")
    kill "$wstest_pid" 2>/dev/null || true
    wait "$wstest_pid" 2>/dev/null || true
}

summary_args=(--cases "$cases" --exclude "$exclude")
[[ $update == 1 ]] && summary_args+=(--update)
for role in "${roles[@]}"; do
    t0=$SECONDS
    "run_$role"
    log "$role role took $((SECONDS - t0)) s; CPU: wstest $cpu_wstest s, testee $cpu_testee s"
    summary_args+=(--role "$role" "$reports/$role" "$specs/expected-$role.json")
done
echo
python3 "$specs/summarise.py" "${summary_args[@]}"
