#!/usr/bin/env bash
# Set up everything Neuro needs on a fresh machine: a virtual environment in .venv with the
# project and its extras installed (editable). Safe to run again: it only adds what is missing.
# More extras on request, comma-separated: NEURO_EXTRAS=ray scripts/setup.sh (the Ray backend).
set -euo pipefail
cd "$(dirname "$0")/.."

# The sandboxes need bubblewrap and Docker (Debian packages), and a kernel that is not root
# needs uidmap (newuidmap/newgidmap) to run its sandboxes as a subordinate uid of its user;
# the shell's tests drive a real terminal (tmux), and `neuro completion` is tested in bash,
# zsh and fish. Install them when we can (root with apt); otherwise the tests that need them
# say why they skip.
missing=""
for tool in bwrap:bubblewrap dockerd:docker.io newuidmap:uidmap tmux:tmux zsh:zsh fish:fish; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing$missing (Debian packages)"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
            || echo "setup: could not install$missing; the tests that need them will skip" >&2
    else
        echo "setup:$missing missing and not root; the tests that need them will skip" >&2
    fi
fi

# A root kernel runs its process sandboxes as this system user, never as root: what a neuro
# writes into a granted folder is then this user's, and a setuid bit it sets gives nothing.
# (Without it, Neuro picks a fixed uid that no passwd entry uses.)
if [ "$(id -u)" = 0 ] && ! getent passwd neuro-sandbox >/dev/null 2>&1; then
    if command -v useradd >/dev/null 2>&1; then
        echo "setup: creating the system user neuro-sandbox (process sandboxes run as it)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin neuro-sandbox \
            || echo "setup: could not create the user neuro-sandbox; sandboxes use a spare uid" >&2
    fi
fi

# The tests also run a kernel as an ordinary user (tests/sandbox/test_nonroot_uid.py): this
# one, with a subordinate uid and gid range of its own (its sandboxes run as one of those
# ids). A range is added only where the user has none, after every range already handed out.
subrange_end() { awk -F: 'BEGIN { end = 100000 } NF == 3 && $2 + $3 > end { end = $2 + $3 } END { print end }' /etc/subuid /etc/subgid 2>/dev/null; }
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null 2>&1; then
    if ! getent passwd neuro-test >/dev/null 2>&1; then
        echo "setup: creating the test user neuro-test (the tests run a kernel that is not root as it)"
        useradd --create-home --user-group --shell /usr/sbin/nologin neuro-test \
            || echo "setup: could not create the user neuro-test; the non-root kernel tests will skip" >&2
    fi
    if getent passwd neuro-test >/dev/null 2>&1; then
        touch /etc/subuid /etc/subgid
        start=$(subrange_end)
        add=""
        grep -q "^neuro-test:" /etc/subuid || add="$add --add-subuids $start-$((start + 65535))"
        grep -q "^neuro-test:" /etc/subgid || add="$add --add-subgids $start-$((start + 65535))"
        if [ -n "$add" ]; then
            echo "setup: giving neuro-test subordinate ids:$add"
            # shellcheck disable=SC2086 # $add is the options, word-split on purpose
            usermod $add neuro-test || echo "setup: could not give neuro-test subordinate ids; those tests will skip" >&2
        fi
    fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Neuro needs Python 3.11 or newer; $PY is $("$PY" -V 2>&1). Set PYTHON=/path/to/python3.11." >&2
    exit 2
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PY" -V)"
    "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

# -- progress: a long step says what it is doing --------------------------------------------------
# `with_progress LABEL CMD...` runs CMD. On a terminal its own output shows (pip's progress bar);
# otherwise (setup.sh > setup.log) CMD's output goes to a temporary file and every
# $SETUP_PROGRESS_EVERY seconds (5) a line says how long it has run, the last thing it printed
# and how big .venv has grown, so installing torch is not 40 silent seconds. If CMD fails, its
# output is printed in full. Returns CMD's exit code.
with_progress() {
    local label=$1 out pid start rc=0 tick=0
    shift
    if [ -t 1 ]; then
        "$@"
        return
    fi
    out=$(mktemp)
    start=$SECONDS
    echo "setup: $label"
    "$@" >"$out" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        tick=$((tick + 1))
        if [ $((tick % ${SETUP_PROGRESS_EVERY:-5})) = 0 ] && kill -0 "$pid" 2>/dev/null; then
            echo "setup: $label: $((SECONDS - start)) s so far; $(progress_note "$out")"
        fi
    done
    wait "$pid" || rc=$?
    if [ "$rc" = 0 ]; then
        echo "setup: $label: done in $((SECONDS - start)) s"
    else
        cat "$out" >&2
        echo "setup: $label: failed (exit $rc) after $((SECONDS - start)) s" >&2
    fi
    rm -f "$out"
    return "$rc"
}
progress_note() {  # the last line CMD printed (pip's "Downloading ..."/"Installing ..."), and .venv's size
    local last size
    last=$(tr '\r' '\n' <"$1" | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-110 || true)
    size=$(du -sm .venv 2>/dev/null | cut -f1 || true)
    echo "${last:-(nothing printed yet)}; .venv ${size:-?} MB"
}
# -- end progress

# torch first, pinned: 2.13.0 is the CPU build this machine ships; the project's own range
# admits it, so the editable install below pulls nothing more (no multi-GB CUDA wheels).
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
    with_progress "installing torch==2.13.0 (CPU build)" \
        .venv/bin/python -m pip --disable-pip-version-check install "torch==2.13.0"
fi

stamp=.venv/.neuro-installed
extras="learning,shell,dev,docker${NEURO_EXTRAS:+,$NEURO_EXTRAS}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ -n "${NEURO_EXTRAS:-}" ]; then
    echo "setup: installing neuro and its extras (editable)"
    pip install -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c 'import neuro' 
    touch "$stamp"
fi
# Byte-compile the project as a regular (non-editable) install would: where
# PYTHONDONTWRITEBYTECODE is set, nothing else writes the .pyc files, and every start would
# compile the kernel from source (50 ms). Only changed files are compiled again.
.venv/bin/python -m compileall -q -j 0 neuro kernel sandbox shell neuros dream policies bench >/dev/null
bash scripts/docker.sh || echo "setup: Docker sandbox not ready; docker tests will skip" >&2
echo "setup: ready (.venv/bin/neuro)"
