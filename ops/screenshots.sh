#!/bin/sh
# ops/screenshots.sh: regenerates the pages' screenshots in docs/img/ (the
# dashboard and a referral page at desktop and phone width) by running the
# browser test (tests/browser/run.sh: demo data with seed 7, Debian's
# chromium) and keeping the first program's shots. Build first (ops/test.sh
# or cmake); needs ops/install-deps.sh's chromium.
#   ops/screenshots.sh [BUILD_DIR]   (default build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
out=$build/screenshots
rm -rf "$out"
tests/browser/run.sh "$build" "$out"
mkdir -p docs/img
for shot in dashboard-double_sided-desktop dashboard-double_sided-phone \
    referral-double_sided-desktop referral-double_sided-phone login-desktop; do
    cp "$out/$shot.png" "docs/img/$(echo "$shot" | sed 's/-double_sided//').png"
done
echo "screenshots: $(ls docs/img | tr '\n' ' ')"
