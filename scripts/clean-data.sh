#!/usr/bin/env bash
# Delete .data/ (run `make clean-data`, which stops every stack first). A
# PostgreSQL cluster kept outside the checkout (see scripts/services.sh) is
# deleted through its .data/STACK/postgres symlink.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ -d "$BOXOFFICE_DATA" ]] || { log "nothing to delete"; exit 0; }
for link in "$BOXOFFICE_DATA"/*/postgres "$BOXOFFICE_DATA"/*/pg-ha; do
  if [[ -L "$link" ]]; then
    target="$(readlink -f "$link")"
    [[ "$target" == /var/tmp/boxoffice-pg/* ]] && rm -rf "$target"
  fi
done
rm -rf "$BOXOFFICE_DATA"
log "deleted $BOXOFFICE_DATA"
