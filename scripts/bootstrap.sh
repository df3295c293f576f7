#!/usr/bin/env bash
# Install what the project needs and is missing: uv (from PyPI), and for the integration tests
# Debian's mosquitto, nginx and chromium. Safe to run again; installs nothing already there.
set -euo pipefail

need_apt=()
if [ "${1:-}" = "--test" ]; then
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]} with apt-get" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

installed_uv=""
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv with pip (python3 -m pip install --user uv)" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  # pip puts it in the user's or the interpreter's scripts folder, which may not be on PATH.
  PATH="$(python3 -m site --user-base)/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
  command -v uv >/dev/null 2>&1 || { echo "bootstrap: uv was installed but is not on PATH" >&2; exit 1; }
  installed_uv=$(command -v uv)
  echo "bootstrap: uv installed at $installed_uv" >&2
fi

# Only a uv this script installed is made reachable from a new login shell (the README's
# `uv run ...` commands), by one line in ~/.profile, said here; a uv already on PATH is the
# user's own and nothing outside the project is touched.
if [ -n "$installed_uv" ] && ! env -i HOME="$HOME" bash -lc 'command -v uv' >/dev/null 2>&1; then
  if ! grep -qs 'hitting-coach: uv' "$HOME/.profile"; then
    printf '\n# hitting-coach: uv\nexport PATH="%s:$PATH"\n' "$(dirname "$installed_uv")" >>"$HOME/.profile"
    echo "bootstrap: added $(dirname "$installed_uv") to PATH in ~/.profile (open a new shell)" >&2
  fi
fi

# The environment's bytecode, compiled once per lock file: where PYTHONDONTWRITEBYTECODE is
# set no .pyc is ever written, and every process would compile pandas, Panel and Bokeh from
# source. Not pyproject's [tool.uv] compile-bytecode: with it every `uv run` compiles the
# whole environment again and says "Bytecode compiled N files" (astral-sh/uv#12202).
cd "$(dirname "$0")/.."
stamp=.venv/.bytecode-compiled
if [ ! -f "$stamp" ] || [ uv.lock -nt "$stamp" ]; then
  uv sync --frozen --compile-bytecode --quiet
  touch "$stamp"
fi
