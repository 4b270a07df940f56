# Shared by the scripts in this folder (sourced, not run): where things are, the release binaries
# of each build, the Python venv, moto_server, and the helpers that print steps and check counts.
#
# Environment (all optional):
#   PYTHON                   interpreter used to create the venv (default: python3)
#   SEALBOX_SHARED_VECTORS   full vector sets (default: ../shared/vectors, relative to the repo root)
#   CARGO_TARGET_DIR         honoured when locating the release binary
#   SEALBOX_WORK             a folder the scripts share (binaries, the interop sets); scripts/test
#                            sets it for the whole run. Without it each script makes its own and
#                            removes it on exit.
# shellcheck shell=bash

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

# The two crypto backends. The default build uses DEFAULT_BACKEND; the other one is built and
# tested on its own (`--no-default-features --features $ALT_BACKEND,kms`: tests, vectors, interop).
# When the default changes, swap these two names: nothing else in the scripts names a backend.
DEFAULT_BACKEND=aws-lc
ALT_BACKEND=rustcrypto

PYTHON=${PYTHON:-python3}
VENV=$ROOT/.venv
REQUIREMENTS=$ROOT/scripts/requirements.txt
SHARED=${SEALBOX_SHARED_VECTORS:-../shared/vectors}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# The awses-encrypt manifest sealbox writes interop sets from, and the keys the Python ESDK
# encrypts with: the full framework set when it is there, else the committed copy.
FRAMEWORK=tests/vectors/framework
[[ -d $SHARED/framework ]] && FRAMEWORK=$SHARED/framework
ENCRYPT_MANIFEST=$FRAMEWORK/0003-awses-message-encryption.v2.json
KEYS_MANIFEST=$FRAMEWORK/0002-keys.v3.json
[[ -f $KEYS_MANIFEST ]] || KEYS_MANIFEST=tests/vectors/framework-keys.v3.json
MIN_INTEROP_DECRYPT=2288 # raw-key framed tests of the framework encrypt manifest

# Every build here is a whole one: incremental state would only take disk (gigabytes of it).
export CARGO_INCREMENTAL=0

# Some sandboxes here ship /dev/null as a regular file: what one command writes "to /dev/null" the
# next reads back from it. Cargo feeds its rustc probe from /dev/null, so a build script's warnings
# left there failed CI ("unknown start of token" in <anon>). Put the real device back; where that
# is not allowed, empty the file before every cargo command.
if [[ ! -c /dev/null ]]; then
    if rm -f /dev/null && mknod -m 666 /dev/null c 1 3 && [[ -c /dev/null ]]; then
        echo "/dev/null was a regular file: replaced with the character device"
    else
        : >/dev/null
        cargo() {
            [[ -c /dev/null ]] || : >/dev/null
            command cargo "$@"
        }
        echo "/dev/null is a regular file and cannot be replaced: emptied before every cargo command"
    fi
fi

# Cleanup actions, run in reverse order on exit (`on_exit CMD...`).
_on_exit=()
on_exit() {
    _on_exit=("$(printf '%q ' "$@")" "${_on_exit[@]}")
}
_run_on_exit() {
    local action
    for action in "${_on_exit[@]}"; do
        eval "$action" || true
    done
}
trap _run_on_exit EXIT

if [[ -z ${SEALBOX_WORK:-} ]]; then
    SEALBOX_WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealbox-test.XXXXXX")
    on_exit rm -rf "$SEALBOX_WORK"
fi
export SEALBOX_WORK
mkdir -p "$SEALBOX_WORK"
# This script's scratch space (logs), inside the shared folder.
tmp=$(mktemp -d "$SEALBOX_WORK/$(basename "$0").XXXXXX")

banner() {
    printf '\n\033[1m==== %s: %s ====\033[0m\n' "$(basename "$0")" "$*"
    # The free disk at each step, so that a full disk shows where it filled.
    mkdir -p "$TARGET_DIR"
    echo "disk: $(df -Ph "$TARGET_DIR" | awk 'NR == 2 { print $4 " free of " $2 }')"
}

fail() {
    printf '\033[31mFAILED: %s\033[0m\n' "$*" >&2
    exit 1
}

# "N passed, N failed[, N skipped]" -> N passed (last such line of a log)
passed_in() {
    local n
    n=$(grep -Eo '[0-9]+ passed' "$1" | tail -n 1 | grep -Eo '[0-9]+' || true)
    [[ -n $n ]] || fail "no 'N passed' summary in the output above"
    echo "$n"
}

# run LOG CMD...: echo the command, run it with its output in LOG; print the last lines of LOG,
# or all of it and stop if the command fails.
run() {
    local log=$1 rc=0
    shift
    echo "\$ $*"
    "$@" >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$log"
        fail "exit status $rc: $*"
    fi
    tail -n 5 "$log"
}

# The venv with scripts/requirements.txt (the Python ESDK, moto), created or updated when the
# requirements changed.
ensure_venv() {
    local stamp=$VENV/.sealbox-requirements
    if [[ ! -x $VENV/bin/python ]] || ! cmp -s "$REQUIREMENTS" "$stamp"; then
        echo "creating $VENV from $REQUIREMENTS"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQUIREMENTS"
        cp "$REQUIREMENTS" "$stamp"
        echo "installed: $(grep -v '^#' "$REQUIREMENTS" | tr '\n' ' ')"
    fi
}

# The reference aws-encryption-cli (scripts/requirements-cli.txt) in a venv of its own, created or
# updated when its requirements changed; prints the program's path.
CLI_VENV=$ROOT/.venv-cli
CLI_REQUIREMENTS=$ROOT/scripts/requirements-cli.txt
ensure_cli_venv() {
    local stamp=$CLI_VENV/.sealbox-requirements
    if [[ ! -x $CLI_VENV/bin/aws-encryption-cli ]] || ! cmp -s "$CLI_REQUIREMENTS" "$stamp"; then
        echo "creating $CLI_VENV from $CLI_REQUIREMENTS" >&2
        "$PYTHON" -m venv "$CLI_VENV"
        "$CLI_VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$CLI_REQUIREMENTS" >&2
        cp "$CLI_REQUIREMENTS" "$stamp"
    fi
    echo "$CLI_VENV/bin/aws-encryption-cli"
}

# Number of tests a manifest holds that need only raw keys (legacy manifest: every test case).
raw_tests_in() {
    "$PYTHON" - "$1" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
if "test_cases" in doc:
    print(len(doc["test_cases"]))
else:
    tests = doc["tests"].values()
    print(sum(1 for t in tests if (all(mk.get("type") == "raw" for mk in t.get("master-keys", [])) and t.get("master-keys"))
              or t.get("decryptKeyDescription", {}).get("type") == "raw-ecdh"))
EOF
}

# vectors_decrypt BIN MANIFEST: must exit 0 and pass at least every raw-key test.
vectors_decrypt() {
    local bin=$1 manifest=$2 log=$tmp/decrypt.log want got
    run "$log" "$bin" vectors decrypt "$manifest"
    want=$(raw_tests_in "$manifest")
    got=$(passed_in "$log")
    ((got >= want)) || fail "$manifest: $got passed, expected at least $want (every raw-key test)"
}

# The builds of the CLI: default (DEFAULT_BACKEND, KMS), the other backend, and aws-lc's FIPS
# module; and the backend name `sealbox bench --backend` must accept from each.
build_features() {
    case $1 in
    default) echo "" ;;
    "$ALT_BACKEND") echo "--no-default-features --features $ALT_BACKEND,kms" ;;
    fips) echo "--no-default-features --features fips" ;;
    *) fail "unknown build $1 (default, $ALT_BACKEND or fips)" ;;
    esac
}
build_backend() {
    case $1 in
    default) echo "$DEFAULT_BACKEND" ;;
    fips) echo aws-lc-fips ;;
    *) echo "$1" ;;
    esac
}

# sealbox_bin BUILD: the path of that build's release binary in the shared folder, built first
# when it is not there (the target dir holds one `sealbox` at a time, so each is copied out).
sealbox_bin() {
    local build=$1 bin=$SEALBOX_WORK/bin/$1/sealbox features
    if [[ ! -x $bin ]]; then
        features=$(build_features "$build")
        # shellcheck disable=SC2086 # the features are words
        cargo build --release -p sealbox-cli $features >&2
        mkdir -p "$(dirname "$bin")"
        cp "$TARGET_DIR/release/sealbox" "$bin"
        "$bin" bench --quick --backend "$(build_backend "$build")" >/dev/null ||
            fail "the $build build is not on the $(build_backend "$build") backend"
        echo "built $bin ($(build_backend "$build"))" >&2
    fi
    echo "$bin"
}

# start_moto: moto_server (from the venv) on a free loopback port, stopped on exit, with the
# standard AWS configuration of both SDKs pointed at it; KMS_KEY_ARN is a fresh symmetric key.
start_moto() {
    ensure_venv
    local port pid
    port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$tmp/moto.log" 2>&1 &
    pid=$!
    on_exit wait "$pid"
    on_exit kill "$pid"
    for _ in $(seq 1 600); do
        if (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            break
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/moto.log"; fail "moto_server exited"; }
        sleep 0.1
    done
    (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$tmp/moto.log"; fail "moto_server did not start"; }
    # The credentials are dummies.
    export AWS_ENDPOINT_URL=http://127.0.0.1:$port
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    # No profile files: nothing on this machine can redirect the SDKs away from the local server.
    export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=$tmp/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$tmp/no-aws-credentials
    echo "moto_server (pid $pid) at $AWS_ENDPOINT_URL"
    KMS_KEY_ARN=$("$VENV/bin/python" scripts/interop_kms.py create-key)
    export KMS_KEY_ARN
    echo "key: $KMS_KEY_ARN"
}
