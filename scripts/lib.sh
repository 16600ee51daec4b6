# Helpers shared by scripts/*.sh; sourced, not run. The sourcing script sets `script` (its name,
# used in messages) and `set -euo pipefail` before sourcing.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "$script: error: $*" >&2; exit 1; }
note() { echo "$script: $*"; }

# sudo resets PATH, which hides a rustup toolchain in ~/.cargo/bin: look there too.
for home in "${HOME:-}" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
    if [[ -n $home && -x $home/.cargo/bin/cargo ]]; then PATH=$home/.cargo/bin:$PATH; fi
done
export PATH

# Creating TUN devices and namespaces needs CAP_NET_ADMIN.
require_root() {
    [[ $(id -u) -eq 0 ]] || die "needs root (CAP_NET_ADMIN for TUN devices and network namespaces); run:  sudo $0 $*"
}

# Stops with the list of missing commands and what installs each.
require_tools() {
    local missing=() t
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    [[ ${#missing[@]} -eq 0 ]] && return
    local hints=()
    for t in "${missing[@]}"; do
        case $t in
            ip) hints+=("ip: apt-get install iproute2") ;;
            nft) hints+=("nft: apt-get install nftables") ;;
            ping) hints+=("ping: apt-get install iputils-ping") ;;
            cargo | rustup) hints+=("$t: install Rust with rustup, https://rustup.rs") ;;
            node | npm) hints+=("$t: apt-get install nodejs npm (node 20 or later)") ;;
            *) hints+=("$t: apt-get install $t") ;;
        esac
    done
    die "missing tools: ${missing[*]}$(printf '\n  %s' "${hints[@]}")"
}

# The user who ran sudo (root when there is none, as under CI).
invoking_user() {
    if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then echo "$SUDO_USER"; else echo root; fi
}

# Runs a command as the invoking user, so cargo and npm leave no root-owned files in the tree.
as_user() {
    local user
    user=$(invoking_user)
    if [[ $user == root ]]; then
        "$@"
    else
        local home
        home=$(getent passwd "$user" | cut -d: -f6)
        runuser -u "$user" -- env HOME="$home" PATH="$PATH" ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR="$CARGO_TARGET_DIR"} "$@"
    fi
}

# The directory cargo builds into (honours CARGO_TARGET_DIR).
target_dir() { echo "${CARGO_TARGET_DIR:-$repo/target}"; }

# Creates TUN device $1 owned by user $2 unless it exists, gives the kernel side 10.0.0.1/24 and
# fd00::1/64, and sets the link up. Safe to run again on a configured device.
tun_up() {
    local dev=$1 user=$2
    if ! ip link show "$dev" >/dev/null 2>&1; then
        ip tuntap add dev "$dev" mode tun user "$user" || die "could not create TUN device $dev"
        note "created $dev (owned by $user)"
    fi
    ip addr replace 10.0.0.1/24 dev "$dev"
    ip -6 addr replace fd00::1/64 dev "$dev" nodad 2>/dev/null ||
        note "no IPv6 address on $dev (IPv6 disabled here?)"
    # The kernel queues packets for tunws in the device's tx queue (500 by default); a burst of
    # many connections overflows it and each drop costs a retransmission (docs/BENCHMARKS.md).
    ip link set "$dev" txqueuelen 10000 up
}

# Installs the npm packages of directory $1 from its package-lock.json (`npm ci`, as the invoking
# user) unless package $2 is installed there at the locked version already.
npm_ci_pinned() {
    local dir=$1 package=$2 locked installed
    locked=$(jq -r ".packages[\"node_modules/$package\"].version" "$dir/package-lock.json")
    installed=$(jq -r .version "$dir/node_modules/$package/package.json" 2>/dev/null || echo none)
    [[ $installed == "$locked" ]] && return
    (cd "$dir" && as_user npm ci --no-audit --no-fund) || die "npm ci in $dir failed"
}
