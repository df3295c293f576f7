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

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv with pip" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  # pip puts it in the user's or the interpreter's scripts folder, which may not be on PATH.
  PATH="$(python3 -m site --user-base)/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
  command -v uv >/dev/null 2>&1 || { echo "bootstrap: uv was installed but is not on PATH" >&2; exit 1; }
fi

# The README's `uv run ...` commands must work in a new shell too, not only under make (which
# adds ~/.local/bin to its own PATH): put uv where a login shell looks, even one started with
# an empty environment (env -i, no HOME).
if ! env -i bash -lc 'command -v uv' >/dev/null 2>&1; then
  uv_bin=$(command -v uv)
  if [ "$(id -u)" -eq 0 ]; then
    ln -sf "$uv_bin" /usr/local/bin/uv
    [ -x "$(dirname "$uv_bin")/uvx" ] && ln -sf "$(dirname "$uv_bin")/uvx" /usr/local/bin/uvx
    echo "bootstrap: linked uv into /usr/local/bin" >&2
  elif ! grep -qs 'hitting-coach: uv' "$HOME/.profile"; then
    printf '\n# hitting-coach: uv\nexport PATH="%s:$PATH"\n' "$(dirname "$uv_bin")" >>"$HOME/.profile"
    echo "bootstrap: added $(dirname "$uv_bin") to PATH in ~/.profile (open a new shell)" >&2
  fi
fi
