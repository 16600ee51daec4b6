#!/usr/bin/env bash
# Runs the course labs in docs/labs/ and checks that every command still prints what the lab
# says. Each lab runs in a fresh network namespace of its own, its steps in order in one shell:
#
#   ```sh lab-run          a step: commands run as written (set -euo pipefail), in one shell
#   ```text lab-expect     what the step before it must print (stdout and stderr together):
#                          each line an extended regex that must match a line of the output,
#                          the lines in this order (other output may come between them)
#
#   scripts/labs.sh [N...]          labs N... (by number: 1 = 01-*.md), default every lab
#   scripts/labs.sh --file LAB.md   one lab file (a copy you are editing)
#   scripts/labs.sh --userns ...    use an unprivileged user namespace even as root
#   scripts/labs.sh --verbose ...   also print what every step printed
#   sudo scripts/labs.sh --as USER ...  as root: run them as USER (e.g. nobody), the way a
#                                   student without sudo does, from a copy USER can read
#
# As root each lab gets a namespace `labs-<pid>-<n>` (deleted afterwards, also on failure); as
# any other user it runs in a user + network namespace (`unshare -rn`), where you are root of
# that namespace only and may create the TUN device without sudo. `tunws` is on the labs' PATH
# (TUNWS=/path/to/tunws to choose the binary, else target/debug/tunws built by cargo); $LABS
# names docs/labs/ (a lab's own scripts live in docs/labs/NN-name/); NODE_PATH holds the pinned
# socket.io-client of tests/socketio (npm ci when a lab asks for it and it is missing).
# Exits non-zero at the first step that fails, naming it and showing what it printed.
set -euo pipefail
script=labs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Longest a whole lab may run before it counts as hung.
LAB_TIMEOUT=${LAB_TIMEOUT:-300}

# ---- inside the namespace: run the steps of one lab -----------------------------------------
# Called as `labs.sh --inside WORK`: WORK holds the steps (NN.sh, NN.expect, NN.where) and gets
# NN.out, the output of each step, and `failed`, the message about the first failing step.
run_inside() {
    local work=$1 step out
    ip link set lo up
    mkdir -p "$work/lab"
    cd "$work/lab"
    export PATH="$work/bin:$PATH"
    # Whatever a step left running in the background (tunws, a capture) ends with the lab.
    trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
    trap 'exit 143' TERM
    for step in "$work"/[0-9][0-9].sh; do
        step=${step%.sh}
        out=$step.out
        echo "${step##*/}" >"$work/current"
        # One shell for every step, like a student's terminal: variables and background jobs
        # carry over. errexit ends the whole lab at the first failing command.
        # shellcheck disable=SC1090
        source "$step.sh" >"$out" 2>&1 </dev/null
        if [[ -s $step.expect ]] && ! missing=$(first_unmatched "$step.expect" "$out"); then
            echo "expected a line matching  $missing  (the expected lines must appear in order)" >"$work/failed"
            return 1
        fi
    done
    echo done >"$work/current"
}

# Prints the first pattern of file $1 (extended regexes, grep -E) that no line of file $2
# matches in order, and fails; or succeeds silently when every pattern matched.
first_unmatched() {
    local from=1 pattern n
    while IFS= read -r pattern; do
        [[ -n $pattern ]] || continue
        n=$(tail -n +"$from" "$2" | grep -E -n -m1 -e "$pattern" | cut -d: -f1) || true
        if [[ -z $n ]]; then
            echo "$pattern"
            return 1
        fi
        from=$((from + n))
    done <"$1"
}

if [[ ${1:-} == --inside ]]; then
    set -euo pipefail
    run_inside "$2"
    exit 0
fi

# ---- outside: choose the labs, prepare, run each in its namespace ---------------------------
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
userns=false
verbose=false
as_user_name=""
pass_on=()
files=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --userns) userns=true ;;
        --verbose) verbose=true; pass_on+=(--verbose) ;;
        --as) [[ $# -ge 2 ]] || die "--as needs a user name"; as_user_name=$2; shift ;;
        --file) [[ $# -ge 2 && -f $2 ]] || die "--file needs a lab file (got '${2:-}')"; files+=("$(realpath "$2")"); shift ;;
        [0-9]*)
            lab=$(compgen -G "$repo/docs/labs/$(printf '%02d' "$((10#$1))")-*.md" | head -1) ||
                die "no lab $1 in docs/labs/ (labs are docs/labs/NN-name.md)"
            files+=("$lab") ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
# The tunws the labs run: $TUNWS, else a fresh debug build.
if [[ -n ${TUNWS:-} ]]; then
    [[ -x $TUNWS ]] || die "TUNWS=$TUNWS is not an executable"
    tunws=$(realpath "$TUNWS")
else
    require_tools cargo
    (cd "$repo" && as_user cargo build -q -p demo --bin tunws) || die "cargo build -p demo --bin tunws failed"
    tunws=$(target_dir)/debug/tunws
fi

# The official Socket.IO client, for the labs that use it (lab 5), pinned by
# tests/socketio/package-lock.json: labs run offline in their namespace, so it is installed
# here, before, and reached through NODE_PATH (the labs' scripts `require` it).
node_modules=$repo/tests/socketio/node_modules
lab_texts=("${files[@]}")
[[ ${#lab_texts[@]} -gt 0 ]] || lab_texts=("$repo"/docs/labs/[0-9][0-9]-*.md)
if grep -q 'socket\.io-client' "${lab_texts[@]}"; then
    require_tools node npm jq
    npm_ci_pinned "$repo/tests/socketio" socket.io-client
fi

# --as USER: the same run as another user, from a copy of the labs, this script and tunws that
# the user can read wherever the repository lives (a checkout under /root is closed to others).
if [[ -n $as_user_name ]]; then
    require_root "$@"
    id "$as_user_name" >/dev/null 2>&1 || die "no user $as_user_name"
    stage=$(mktemp -d -t labs-as-XXXXXX)
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/scripts" "$stage/docs/labs" "$stage/lab-files" "$stage/tests/socketio"
    cp "$repo/scripts/labs.sh" "$repo/scripts/lib.sh" "$stage/scripts/"
    cp "$tunws" "$stage/tunws"
    # The labs' own scripts (docs/labs/NN-name/) and the Socket.IO client, when installed.
    for dir in "$repo"/docs/labs/*/; do
        if [[ -d $dir ]]; then cp -r "$dir" "$stage/docs/labs/"; fi
    done
    if [[ -d $node_modules ]]; then
        cp -r "$node_modules" "$repo"/tests/socketio/package*.json "$stage/tests/socketio/"
    fi
    staged=()
    if [[ ${#files[@]} -gt 0 ]]; then
        for file in "${files[@]}"; do cp "$file" "$stage/lab-files/"; staged+=(--file "$stage/lab-files/${file##*/}"); done
    else
        cp "$repo"/docs/labs/[0-9][0-9]-*.md "$stage/docs/labs/"
    fi
    chmod -R a+rX "$stage"
    rc=0
    (cd "$stage" && runuser -u "$as_user_name" -- env -u LABS -u NODE_PATH TUNWS="$stage/tunws" PATH="$PATH" \
        bash "$stage/scripts/labs.sh" "${pass_on[@]}" "${staged[@]}") || rc=$?
    exit $rc
fi

if [[ ${#files[@]} -eq 0 ]]; then
    mapfile -t files < <(compgen -G "$repo/docs/labs/[0-9][0-9]-*.md" | sort)
    [[ ${#files[@]} -gt 0 ]] || die "no labs found in $repo/docs/labs/"
fi
[[ $(id -u) -eq 0 ]] || userns=true
require_tools ip awk timeout
if $userns; then
    require_tools unshare
    unshare -rn true 2>/dev/null ||
        die "cannot create an unprivileged user namespace (unshare -rn): the kernel or its policy forbids it (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu); run as root instead"
    [[ -r /dev/net/tun && -w /dev/net/tun ]] ||
        die "/dev/net/tun is not open to you ($(stat -c %A /dev/net/tun 2>/dev/null || echo missing)): distributions make it 0666 (udev); an administrator can run  chmod 0666 /dev/net/tun"
fi

# What the labs' shells get besides tunws on PATH (see the header).
export LABS=${LABS:-$repo/docs/labs}
if [[ -d $node_modules ]]; then export NODE_PATH=$node_modules${NODE_PATH:+:$NODE_PATH}; fi

top=$(mktemp -d -t labs-XXXXXX)
namespaces=()
cleanup() {
    local ns pid
    for ns in "${namespaces[@]}"; do
        ip netns list | grep -qw "^$ns" || continue
        for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$ns" || note "could not delete namespace $ns"
    done
    rm -rf "$top"
}
trap cleanup EXIT

# Splits lab file $1 into $2/NN.sh, NN.expect (the expect block after each run block) and
# NN.where (file:line of the run block), numbering the run blocks from 01.
split_steps() {
    awk -v dir="$2" -v name="$1" '
        /^```sh lab-run[ \t]*$/ { n++; f = sprintf("%s/%02d", dir, n); body = f ".sh"
                                  print name ":" NR > (f ".where"); printf "" > body; printf "" > (f ".expect"); next }
        /^```text lab-expect[ \t]*$/ { if (!n) { print name ":" NR ": lab-expect before any lab-run" > "/dev/stderr"; exit 1 }
                                       body = sprintf("%s/%02d.expect", dir, n); next }
        /^```/ && body { body = ""; next }
        body { print > body }' "$1"
}

passed=0
index=0
for file in "${files[@]}"; do
    index=$((index + 1))
    name=${file##*/}
    work=$top/$index
    mkdir -p "$work/bin"
    ln -s "$tunws" "$work/bin/tunws"
    split_steps "$file" "$work"
    steps=$(compgen -G "$work/[0-9][0-9].sh" | wc -l)
    [[ $steps -gt 0 ]] || die "$name has no \`\`\`sh lab-run blocks"
    t0=$SECONDS
    if $userns; then
        launcher=(unshare -rn)
    else
        ns=labs-$$-$index
        namespaces+=("$ns")
        ip netns add "$ns" || die "could not create namespace $ns"
        launcher=(ip netns exec "$ns")
    fi
    rc=0
    timeout "$LAB_TIMEOUT" "${launcher[@]}" bash "$repo/scripts/labs.sh" --inside "$work" || rc=$?
    current=$(cat "$work/current" 2>/dev/null || echo 01)
    # A failure after the last step (the lab's shell itself): blame the last step.
    [[ $current != done || $rc -eq 0 ]] || current=$(printf '%02d' "$steps")
    if [[ $rc -ne 0 || $current != done ]]; then
        where=$(cat "$work/$current.where" 2>/dev/null || echo "$name")
        if [[ -s $work/failed ]]; then
            why=$(cat "$work/failed")
        elif [[ $rc -eq 124 ]]; then
            why="did not finish within ${LAB_TIMEOUT} s (LAB_TIMEOUT)"
        else
            why="a command failed (exit status $rc)"
        fi
        {
            echo "$script: FAILED: $name step $((10#$current)) ($where): $why"
            echo "$script: the step was:"
            sed 's/^/    /' "$work/$current.sh" 2>/dev/null
            echo "$script: it printed:"
            sed 's/^/    | /' "$work/$current.out" 2>/dev/null
        } >&2
        echo "labs: $passed passed, 1 failed"
        exit 1
    fi
    if $verbose; then
        for out in "$work"/[0-9][0-9].out; do
            echo "---- $name step $((10#$(basename "$out" .out))) ($(cat "${out%.out}.where"))"
            cat "$out"
        done
    fi
    passed=$((passed + 1))
    note "$name: $steps steps ok ($((SECONDS - t0)) s, $($userns && echo "user namespace" || echo "namespace $ns"))"
    if ! $userns; then
        ip netns del "$ns"
        unset 'namespaces[-1]'
    fi
done
echo "labs: $passed passed, 0 failed"
