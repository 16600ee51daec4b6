#!/usr/bin/env bash
# Runs every test of the project: installs what the tests need, then
#   1. the workspace's tests (unit, in-memory stack, and the netns integration tests in tests/,
#      which create network namespaces and TUN devices and so run as root; the browser test
#      drives Debian's Chromium through playwright-core),
#   2. the doc tests,
#   3. the bare-metal builds of ws and sio (thumbv7em-none-eabihf, no_std),
#   4. scripts/autobahn.sh --release --full (the Autobahn|Testsuite: cases 1-10 and all of the
#      permessage-deflate cases 12 and 13, both roles), when it is present,
#   5. a short pass of every fuzz target (scripts/fuzz.sh 10), when it is present,
#   6. the course labs (scripts/labs.sh), as root and as the user nobody.
#
#   sudo ./scripts/test.sh
#
# Idempotent: installed packages are not installed again. Builds run as the user who ran sudo, so
# target/ stays theirs; only the test binaries run as root. Exits non-zero when anything failed,
# after running everything, and ends with one summary line.
set -euo pipefail
script=test.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
require_root "$@"
cd "$repo"
started=$SECONDS

# ---- what the tests need --------------------------------------------------------------------
apt_packages=(iproute2 iputils-ping nftables curl chromium chromium-driver tshark jq gcc libc6-dev
    netcat-openbsd xxd python3 python3-matplotlib)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    require_tools apt-get
    note "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Update the package lists only when they are absent or too old to install from.
    if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then apt-get update -q; fi
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } ||
        die "apt-get install ${missing[*]} failed"
fi
require_tools ip nft curl ping jq cargo rustup node npm nc xxd python3 unshare
# The labs run as a user without sudo too (scripts/labs.sh --as nobody), who must be able to open
# /dev/net/tun: distributions make it 0666 (udev), minimal images and containers may not.
chmod 0666 /dev/net/tun || note "cannot make /dev/net/tun 0666: the labs as nobody will fail"
as_user rustup target list --installed | grep -qx thumbv7em-none-eabihf ||
    as_user rustup target add thumbv7em-none-eabihf || die "rustup target add thumbv7em-none-eabihf failed"
# Makes DIR/.venv with the pinned packages of DIR/requirements.txt, again when the pins change.
venv_pinned() {
    local dir=$1 venv=$1/.venv
    if ! cmp -s "$dir/requirements.txt" "$venv/installed-requirements.txt"; then
        { as_user python3 -m venv "$venv" &&
            as_user "$venv/bin/pip" install -q --disable-pip-version-check -r "$dir/requirements.txt" &&
            cp "$dir/requirements.txt" "$venv/installed-requirements.txt"; } ||
            die "pip install -r $dir/requirements.txt into $venv failed"
    fi
}
# playwright-core only: the browser is Debian's /usr/bin/chromium, never a downloaded build.
npm_ci_pinned tests/browser playwright-core
# socket.io-client (and ws) and python-socketio's client for tests/tests/socketio.rs and lab 5.
npm_ci_pinned tests/socketio socket.io-client
venv_pinned tests/socketio
# Node's ws and Python websockets for tests/tests/interop.rs (permessage-deflate interop).
npm_ci_pinned tests/interop ws
venv_pinned tests/interop

# ---- steps ----------------------------------------------------------------------------------
passed=0
failed=0
failures=()
step() {
    local name=$1 t0=$SECONDS
    shift
    echo
    echo "==== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "==== $name: ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "==== $name: FAILED ($((SECONDS - t0)) s)"
    fi
}

# Deletes namespaces left by a test process that was killed before its destructors ran: the
# harness names them tw-<test>-<pid>-<n>; only those whose process is gone are touched.
reap_stale_namespaces() {
    local ns pid
    for ns in $(ip netns list | awk '{ print $1 }'); do
        [[ $ns =~ ^tw-[A-Za-z0-9_]+-([0-9]+)-[0-9]+$ ]] || continue
        pid=${BASH_REMATCH[1]}
        if ! kill -0 "$pid" 2>/dev/null; then
            ip netns del "$ns" && note "deleted stale namespace $ns"
        fi
    done
}

# Builds every test binary as the invoking user, then runs each as root from its package's
# directory, as `cargo test` would. tunws itself is built first: the netns tests run it.
workspace_tests() {
    local list bin dir rc=0 results
    results=$(mktemp)
    reap_stale_namespaces
    as_user cargo build -p demo --bin tunws || return 1
    list=$(as_user cargo test --workspace --no-run --message-format=json-render-diagnostics) || return 1
    while IFS=$'\t' read -r bin dir; do
        echo "---- $(basename "$bin")"
        # The timeout only guards against a hung test; each test has its own I/O timeouts.
        # --include-ignored: the netns tests are ignored in a plain `cargo test` (they need
        # root, which this step has); no other test of the workspace is ignored.
        (cd "$dir" && timeout 900 "$bin" --include-ignored) 2>&1 | tee -a "$results" || rc=1
    done < <(jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test)
                     | [.executable, (.manifest_path | sub("/Cargo.toml$"; ""))] | @tsv' <<<"$list")
    # libtest's lines read "test result: ok. 5 passed; 0 failed; ...".
    reap_stale_namespaces
    cargo_totals=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$results")
    rm -f "$results"
    echo "cargo tests: $cargo_totals"
    return $rc
}
cargo_totals="not run"

step "cargo test --workspace (as root)" workspace_tests
step "doc tests" as_user cargo test --workspace --doc
step "ws for thumbv7em-none-eabihf (no_std)" \
    as_user cargo build -p ws --no-default-features --target thumbv7em-none-eabihf
step "ws for thumbv7em-none-eabihf (no_std), with the deflate compressor" \
    as_user cargo build -p ws --no-default-features --features compress --target thumbv7em-none-eabihf
step "sio for thumbv7em-none-eabihf (no_std + alloc)" \
    as_user cargo build -p sio --target thumbv7em-none-eabihf
if [[ -x scripts/autobahn.sh ]]; then
    # --release: cases 12 and 13 move about 10 GB each way per role through tunws's deflate
    # code, for which a debug build needs 16 times the CPU (docs/CONFORMANCE.md).
    step "Autobahn|Testsuite (scripts/autobahn.sh --release --full)" scripts/autobahn.sh --release --full
fi
if [[ -x scripts/fuzz.sh ]]; then
    step "fuzzing smoke pass (scripts/fuzz.sh 10)" scripts/fuzz.sh 10
fi
if [[ -x scripts/labs.sh ]]; then
    step "course labs as root (scripts/labs.sh)" scripts/labs.sh
    step "course labs as nobody (scripts/labs.sh --as nobody)" scripts/labs.sh --as nobody
fi

echo
echo "test.sh finished in $((SECONDS - started)) s; cargo tests: $cargo_totals"
for f in "${failures[@]}"; do echo "failed step: $f"; done
echo "summary: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
