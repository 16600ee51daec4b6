#!/usr/bin/env bash
# Reruns every cargo-fuzz target for a fixed time each and reports executions, coverage and
# crashes, one line per target:
#   ws/fuzz:    frame, connection, handshake   (the no_std engine's parsers)
#   stack/fuzz: packets                        (IP packets into the stack, the server glue and the /trace decoders)
#               vnet                           (virtio-net frames of the offloading TUN, both ways)
#   sio/fuzz:   sio_codec                      (Engine.IO and Socket.IO packets, polling payloads)
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default 180 s per target, every target
#   scripts/fuzz.sh 10                        smoke pass (what scripts/test.sh runs)
#
# Installs the nightly toolchain and cargo-fuzz when missing (libFuzzer needs nightly). Each
# target's corpus grows in <dir>/corpus/<target>; a crash leaves its input in
# <dir>/artifacts/<target>/ and the script prints the command that replays it. Run as a normal
# user (under sudo, builds run as the invoking user). Exits non-zero if any target crashed or
# failed to build.
set -euo pipefail
script=fuzz.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
seconds=${1:-180}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive whole number, not '$seconds' (usage: $0 [SECONDS] [TARGET...])"
shift $(($# > 0 ? 1 : 0))

# target → directory of its cargo-fuzz package
declare -A dir_of=([frame]=ws/fuzz [connection]=ws/fuzz [handshake]=ws/fuzz [packets]=stack/fuzz [vnet]=stack/fuzz [sio_codec]=sio/fuzz)
all=(frame connection handshake packets vnet sio_codec)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ -n ${dir_of[$t]:-} ]] || die "unknown target '$t'; targets: ${all[*]}"
done

cd "$repo"
require_tools cargo rustup
if ! as_user rustup toolchain list | grep -q '^nightly'; then
    note "installing the nightly toolchain (libFuzzer needs -Z sanitizer flags)"
    as_user rustup toolchain install nightly --profile minimal || die "rustup toolchain install nightly failed"
fi
if ! as_user cargo fuzz --version >/dev/null 2>&1; then
    note "installing cargo-fuzz"
    as_user cargo install cargo-fuzz --locked || die "cargo install cargo-fuzz failed"
fi

failed=0
summary=()
for t in "${targets[@]}"; do
    dir=${dir_of[$t]}
    log=$(mktemp)
    note "fuzzing $t ($dir) for $seconds s"
    mkdir -p "$dir/corpus/$t"
    rc=0
    (cd "$dir" && as_user cargo +nightly fuzz run "$t" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1) \
        >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$( (grep -oE 'cov: [0-9]+' "$log" || true) | tail -1 | cut -d' ' -f2)
    corpus=$(find "$dir/corpus/$t" -type f | wc -l)
    if [[ $rc -eq 0 ]]; then
        result=ok
    else
        failed=1
        artifact=$(grep -oE "artifacts/$t/[a-z]+-[0-9a-f]+" "$log" | tail -1 || true)
        if [[ -n $artifact ]]; then
            # The panic message and the input itself, so a crash seen only in a CI log (whose
            # machine is gone) can be replayed: base64 -d > crash-input.
            result="CRASH: replay with  (cd $dir && cargo +nightly fuzz run $t $artifact)"
            result+=$'\n'"$(grep -A4 -m1 'panicked at' "$log" || grep -m1 -B2 -A6 'ERROR: ' "$log" || true)"
            result+=$'\n'"input (base64): $(base64 -w0 "$dir/$artifact" 2>/dev/null || echo unreadable)"
        else
            result="FAILED (exit $rc), last lines:"$'\n'"$(tail -20 "$log")"
        fi
    fi
    summary+=("$t: ${execs:-0} execs (${rate:-0}/s), cov ${cov:-?}, corpus $corpus files: $result")
    rm -f "$log"
done

echo
for line in "${summary[@]}"; do note "$line"; done
[[ $failed -eq 0 ]] || die "a fuzz target crashed or did not build (see above)"
note "no crashes in ${#targets[@]} target(s), $seconds s each"
