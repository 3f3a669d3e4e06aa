# Sourced by scripts/serve and scripts/test: make .venv (once) and install the
# package into it with the given extras. Safe to run again and again.
ensure_venv() {
    local extras=$1 python=${PYTHON:-python3}
    if [[ ! -x .venv/bin/python ]]; then
        if ! "$python" -m venv .venv 2>/dev/null; then
            # Debian's python3 needs python3-venv for ensurepip.
            rm -rf .venv
            if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
                echo "scripts: installing python3-venv" >&2
                DEBIAN_FRONTEND=noninteractive apt-get update -qq
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            fi
            "$python" -m venv .venv
        fi
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
}
