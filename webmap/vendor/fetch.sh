#!/usr/bin/env bash
# Re-fetch the vendored front-end assets from the npm registry (pinned
# versions), copy only the files the map page loads at run time, and check
# them against SHA256SUMS.  Needs npm, tar, sha256sum.  Run from anywhere:
#   bash webmap/vendor/fetch.sh            # fetch, copy, verify
#   bash webmap/vendor/fetch.sh --check    # verify only, no network
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# package@version  target-dir  files (relative to the package root, copied
# into target-dir with the "dist/" prefix stripped so that images/ sits next
# to the CSS, as the CSS's url(images/...) expects)
specs=(
  "leaflet@1.9.4|leaflet-1.9.4|LICENSE dist/leaflet.js dist/leaflet.css dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png"
  "leaflet-draw@1.0.4|leaflet-draw-1.0.4|dist/leaflet.draw.js dist/leaflet.draw.css dist/images/spritesheet.png dist/images/spritesheet-2x.png dist/images/spritesheet.svg"
  "leaflet.markercluster@1.5.3|leaflet.markercluster-1.5.3|MIT-LICENCE.txt dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css"
)
# Note: the leaflet-draw tarball ships no licence file; leaflet-draw-1.0.4/LICENSE
# is kept in the repository (MIT text of the upstream Leaflet/Leaflet.draw
# repository) and is not touched by this script.

if [[ "${1:-}" != "--check" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  for spec in "${specs[@]}"; do
    IFS='|' read -r pkg dir files <<<"$spec"
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)  # npm checks the registry's integrity hash
    tgz="$(ls "$tmp"/*.tgz)"
    mkdir -p "$tmp/x" && tar xzf "$tgz" -C "$tmp/x"
    for f in $files; do
      dest="$here/$dir/${f#dist/}"
      mkdir -p "$(dirname "$dest")"
      cp "$tmp/x/package/$f" "$dest"
    done
    rm -rf "$tmp/x" "$tgz"
  done
fi

cd "$here" && sha256sum --quiet -c SHA256SUMS && echo "vendor assets OK"
