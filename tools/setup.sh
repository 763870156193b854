#!/bin/sh
# Installs what is missing (Debian packages from apt, Python packages into .venv), then runs
# the workstation ("run") or the whole test suite ("test"). Both `make run` and `make test`
# come through here; it also works where make is not installed: `sh tools/setup.sh run`.
set -eu
cd "$(dirname "$0")/.."
what="${1:-run}"
shift || true

# Qt's runtime libraries (headless too), the Python venv module, and for the tests a real
# Mosquitto and PostgreSQL that the fixtures start on their own ports.
APT_RUN="libgl1 libegl1 libglib2.0-0 libfontconfig1 fonts-dejavu-core libxkbcommon0 libnss3 \
libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2 libdbus-1-3 libgbm1 \
libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 \
libxkbcommon-x11-0"
APT_TEST="mosquitto postgresql iproute2"

need_apt() {
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
    done
    python3 -c "import ensurepip, venv" 2>/dev/null || missing="$missing python3-venv"
    [ -z "$missing" ] && return 0
    echo "Installing Debian packages:$missing"
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

if command -v dpkg-query >/dev/null 2>&1; then
    if [ "$what" = test ]; then need_apt $APT_RUN $APT_TEST; else need_apt $APT_RUN; fi
else
    echo "Not a Debian/Ubuntu system: make sure Qt's runtime libraries (and for the tests"
    echo "mosquitto and postgresql) are installed; see README.md."
fi

# The Python side: one venv beside the code, reinstalled when the pins change.
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi

case "$what" in
    run)
        exec .venv/bin/python main.py "$@" ;;
    test)
        export QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1
        export QTWEBENGINE_CHROMIUM_FLAGS="--disable-gpu --disable-background-networking --disable-component-update"
        .venv/bin/ruff check .
        .venv/bin/ruff format --check .
        .venv/bin/lint-imports
        .venv/bin/mypy
        exec .venv/bin/python -m pytest "$@" ;;
    *)
        echo "usage: tools/setup.sh run|test [args]" >&2; exit 2 ;;
esac
