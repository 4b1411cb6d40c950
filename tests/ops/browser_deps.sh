#!/usr/bin/env bash
# What the review page's browser test (tests/ops/test_review_browser.py) needs, installed only
# where it is missing, one tool at a time: `make browser-deps` runs this before `make test`.
#
#   chromium      Debian package `chromium`
#   chromedriver  Debian package `chromium-driver`
#   npm           Debian package `npm`, but only where no `node` is installed: an image that
#                 ships its own Node.js (outside Debian's packages) conflicts with Debian's npm,
#                 and asking apt for both at once fails the whole install ("held broken packages")
#
# Tools already on the machine are never replaced or reinstalled. Nothing here fails `make test`:
# a tool that cannot be had (not root, no apt, no network, a package conflict) is reported, and
# the browser test is then skipped with the reason. Usage: browser_deps.sh PYTHON
set -u
python=${1:?usage: browser_deps.sh PYTHON}
here=$(cd "$(dirname "$0")" && pwd)

have() { command -v "$1" >/dev/null 2>&1; }
say() { echo "browser-deps: $*"; }

apt_updated=no
apt_install() { # $1: the package; installs it alone and says so if that fails
    if [ "$(id -u)" != 0 ] || ! have apt-get; then
        say "$1 is missing and cannot be installed here (needs root and apt-get); the browser test will be skipped"
        return 1
    fi
    if [ "$apt_updated" = no ]; then
        apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed; trying the cached package lists"
        apt_updated=yes
    fi
    say "installing Debian package $1"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" \
        >/tmp/browser-deps-apt.log 2>&1; then
        say "apt-get install $1 failed (log: /tmp/browser-deps-apt.log); the browser test will be skipped"
        tail -n 3 /tmp/browser-deps-apt.log | sed 's/^/    /'
        return 1
    fi
}

have chromium || have chromium-browser || apt_install chromium
have chromedriver || apt_install chromium-driver
if ! have npm; then
    if have node; then
        say "node is installed without npm; not installing Debian's npm over it (it would conflict);" \
            "the page's assets cannot be fetched and the browser test will be skipped"
    else
        apt_install npm
    fi
fi
if have npm; then
    "$python" "$here/browser_assets.py" \
        || say "fetching the page's JS/CSS from npm failed; the browser test will be skipped"
fi
exit 0
