#!/usr/bin/env bash
# Network namespaces for trying tunws without touching the host's network: the namespace gets
# lo up and a TUN device tun0 (owned by you) with the kernel side at 10.0.0.1/24 and fd00::1/64.
#
#   sudo ./scripts/netns.sh up NAME      create (idempotent)
#   sudo ./scripts/netns.sh down NAME    delete (idempotent)
#
# Then, for example:  sudo ip netns exec NAME ./scripts/demo.sh
#                     sudo ip netns exec NAME curl http://10.0.0.2:8080/
set -euo pipefail
script=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
[[ $# -eq 2 && ($1 == up || $1 == down) ]] || { usage >&2; exit 2; }
require_root "$@"
require_tools ip
action=$1 ns=$2

case $action in
    up)
        ip netns list | grep -qw "^$ns" || ip netns add "$ns" || die "could not create namespace $ns"
        ip -n "$ns" link set lo up
        # tun_up runs its ip commands inside the namespace through this wrapper.
        ip() { command ip -n "$ns" "$@"; }
        tun_up tun0 "$(invoking_user)"
        unset -f ip
        note "namespace $ns ready: sudo ip netns exec $ns ./scripts/demo.sh"
        ;;
    down)
        if ip netns list | grep -qw "^$ns"; then ip netns del "$ns" && note "deleted namespace $ns"; else note "no namespace $ns"; fi
        ;;
esac
