#!/usr/bin/env bash
# Runs the tunws chat demo: builds it, creates the TUN device tun0 (owned by you) with the kernel
# side at 10.0.0.1/24, and starts tunws on 10.0.0.2:8080. Open http://10.0.0.2:8080/ in a browser.
#
#   sudo ./scripts/demo.sh [TUNWS OPTIONS]     e.g. --trace, --pcap /tmp/tunws.pcap, --port 8081
#   sudo ./scripts/demo.sh --down              delete tun0
#   sudo ip netns exec NAME ./scripts/demo.sh  the same inside a network namespace
#
# Idempotent: an existing tun0 is reused. Ctrl-C stops tunws (it closes every WebSocket with 1001);
# tun0 stays, owned by you, so the next run starts at once; `--down` removes it.
set -euo pipefail
script=demo.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dev=tun0
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
require_root "$@"
require_tools ip cargo

if [[ ${1:-} == --down ]]; then
    if ip link show "$dev" >/dev/null 2>&1; then ip link del "$dev" && note "deleted $dev"; else note "no $dev"; fi
    exit 0
fi

# The device and the addresses are this script's job; the port may be changed.
port=8080
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --port) port=${args[i + 1]:-} ;;
        --port=*) port=${args[i]#--port=} ;;
        --tun | --tun=* | --addr | --addr=* | client)
            die "demo.sh always uses $dev and 10.0.0.2; run target/release/tunws directly for other setups" ;;
    esac
done

user=$(invoking_user)
note "building tunws (release) as $user"
(cd "$repo" && as_user cargo build --release -p demo --bin tunws) ||
    die "cargo build --release -p demo failed (see above)"
bin=$(target_dir)/release/tunws

tun_up "$dev" "$user"

# tunws opens the existing device by name; as the device's owner it needs no privileges at all.
owner=$(cat "/sys/class/net/$dev/owner" 2>/dev/null || echo -1)
run_as=()
if [[ $user != root && $owner == "$(id -u "$user")" ]]; then run_as=(runuser -u "$user" --); fi

note "open http://10.0.0.2:$port/"
exec "${run_as[@]}" "$bin" --tun "$dev" --addr 10.0.0.2/24 "$@"
