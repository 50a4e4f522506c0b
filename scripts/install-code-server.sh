#!/usr/bin/env bash
# Installs code-server (a real VS Code that runs on Node 20 and serves the workbench over HTTP) and
# Chromium, for the extension-host and UI tests. @vscode/test-electron cannot download VS Code
# here, so code-server stands in for it. Safe to run again: skipped when the stamp matches.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.100.3
dir=.tools/code-server
stamp=$dir/.installed-version

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -x /usr/bin/chromium ] && command -v rg >/dev/null; then
  echo "install-code-server: code-server $version already installed"
  exit 0
fi

# ripgrep replaces the rg binary VS Code would download; libkrb5-dev lets kerberos build; Chromium
# drives the web workbench.
packages=()
command -v rg >/dev/null || packages+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || packages+=(libkrb5-dev)
[ -x /usr/bin/chromium ] || packages+=(chromium)
bash scripts/apt-install.sh ${packages[@]+"${packages[@]}"}

npm_quiet=(--no-audit --no-fund --loglevel=error)
mkdir -p "$dir"
rm -f "$stamp"
# Its own package.json, so npm installs here and not into the project.
[ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"

# Install scripts would download things (ripgrep, Node headers); each needed step is done below.
echo "install-code-server: npm install code-server@$version"
(cd "$dir" && npm install --ignore-scripts "${npm_quiet[@]}" "code-server@$version" >/dev/null)

echo "install-code-server: npm rebuild argon2"
(cd "$dir" && npm rebuild "${npm_quiet[@]}" argon2 >/dev/null)

vscode=$dir/node_modules/code-server/lib/vscode
echo "install-code-server: npm install in lib/vscode"
(cd "$vscode" && npm install --omit=dev --ignore-scripts "${npm_quiet[@]}" >/dev/null)

echo "install-code-server: linking Debian's rg"
mkdir -p "$vscode/node_modules/@vscode/ripgrep/bin"
ln -sfn "$(command -v rg)" "$vscode/node_modules/@vscode/ripgrep/bin/rg"

echo "install-code-server: npm rebuild in lib/vscode (native modules)"
(cd "$vscode" && npm_config_yes=true npm rebuild "${npm_quiet[@]}" >/dev/null)

# What code-server's own postinstall does besides npm install.
echo "install-code-server: postinstall links"
ln -sfn node_modules "$vscode/node_modules.asar"
ln -sfn code-linux.sh "$vscode/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$vscode/bin/helpers/browser.sh"

echo "install-code-server: npm install in lib/vscode/extensions"
(cd "$vscode/extensions" && npm install --omit=dev "${npm_quiet[@]}" >/dev/null)

# --config: keep code-server from writing a default config under ~/.config.
installed=$("$dir/node_modules/.bin/code-server" --config /dev/null --version | grep 'with Code')
echo "install-code-server: installed code-server $installed"
echo "$version" > "$stamp"
