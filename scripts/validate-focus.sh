#!/usr/bin/env bash
# Validates FOCUS 1.2 cost and usage exports (CSV or Parquet) with the FinOps Foundation's
# focus-validator 2.2.1 and the rules it ships (model-1.2.0.1.json), offline. The validator runs
# from a virtual environment installed once into .tools/focus-venv (Python 3.12, pinned versions).
#   scripts/validate-focus.sh [--criteria LIST|none|ALL] [--strict] FILE... [--expect-failure BROKEN...]
# Prints one line per file (rules checked, passed, failed, skipped) and keeps the validator's full
# report in .run/focus-validator/. Exit 0 when every FILE has no failed rule and every BROKEN file
# (each one given after --expect-failure) has at least one.
#
# The validator always exits 0, even when rules fail: the verdict is read from its console report
# ("Total: N | Pass: P | Fail: F | Skipped: S" and one "<icon> RULE: PASS|FAIL|SKIPPED" line per
# rule), which must agree with itself or the file counts as an error.
#
# --criteria: the applicability criteria the dataset claims (what the provider supports); rules
# that depend on an unclaimed criterion are skipped. The default is gpubill's set, below.
# --strict: also count the failures of KNOWN_DEFECTS (below), which no correct file can avoid.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

venv="$TOOLS_DIR/focus-venv"
# focus-validator 2.2.1 accepts any pyarrow, and the newest refuses the NumPy 1.26 that
# focus-validator pins; duckdb and polars run the checks, so they are pinned too.
pins="focus-validator==2.2.1 pyarrow==19.0.1 duckdb==1.5.6 polars==1.44.2"
marker="$venv/.pinned"

# What gpubill supports, as FOCUS 1.2 applicability criteria. Not claimed: AVAILABILITY_ZONE,
# CAPACITY_RESERVATION (the validator cannot pass it, see KNOWN_DEFECTS), MULTIPLE_SUB_ACCOUNT_TYPES,
# MULTIPLE_BILLING_ACCOUNT_TYPES, SUB_ACCOUNT, PRICING_BILLING_CURRENCY_DIFFERENCES (EUR only),
# VIRTUAL_CURRENCY, REGION, TAGGING.
default_criteria="ACCOUNT_NAMING_SUPPORTED,BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED"
default_criteria+=",COMMITMENT_DISCOUNT_SUPPORTED,MULTIPLE_PRICING_CATEGORIES_SUPPORTED"
default_criteria+=",NEGOTIATED_PRICING_SUPPORTED,PUBLIC_PRICE_LIST_SUPPORTED"
default_criteria+=",RESOURCE_TYPE_ASSIGNMENT_SUPPORTED,UNIT_PRICING_SUPPORTED,USAGE_MEASUREMENT_SUPPORTED"

# Rules that fail for every file, however correct, with focus-validator 2.2.1 and model-1.2.0.1.
# Their failures are reported but not counted (unless --strict), and so is a composite rule whose
# failed children are all such rules.
# - InvoiceId-C-004-C ("MUST be null") and InvoiceId-C-005-C ("MUST NOT be null") have no condition;
#   they are the two branches of the OR InvoiceId-C-003-C, but each is also scored on its own, so
#   a file with InvoiceId on every row fails C-004-C and one with none fails C-005-C. A file
#   with some rows of each still fails: C-003-C and InvoiceId-C-000-O fail too, and are counted.
# - CommitmentDiscountStatus-C-004-C: condition inverted in the model ("MUST NOT be null when
#   CommitmentDiscountId IS null"), the exact opposite of C-003-C (FOCUS_Spec issue #2393).
# - CapacityReservationStatus-C-003-C and -C-004-C: the validator drops a condition written as a
#   bare {"AND": [...]}, so each applies to every row and they contradict (focus_validator #142).
KNOWN_DEFECTS="InvoiceId-C-004-C InvoiceId-C-005-C CommitmentDiscountStatus-C-004-C"
KNOWN_DEFECTS+=" CapacityReservationStatus-C-003-C CapacityReservationStatus-C-004-C"

usage() {
  die "usage: $0 [--criteria LIST|none|ALL] [--strict] FILE.csv... [--expect-failure BROKEN.csv...]"
}

# find_python: prints a Python 3.12 interpreter (focus-validator needs >= 3.12): $FOCUS_PYTHON,
# else the newest ~/.pyenv/versions/3.12*/bin/python3, else python3.12 on PATH.
find_python() {
  local candidates=() c
  [ -n "${FOCUS_PYTHON:-}" ] && candidates+=("$FOCUS_PYTHON")
  while IFS= read -r c; do candidates+=("$c"); done < <(
    for c in "$HOME"/.pyenv/versions/3.12*/bin/python3; do
      if [ -x "$c" ]; then printf '%s\n' "$c"; fi
    done | sort -V -r)
  c="$(command -v python3.12 2>/dev/null)" && candidates+=("$c")
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' 2>/dev/null; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

install_validator() {
  local py version
  py="$(find_python)" || die "focus-validator needs Python >= 3.12 and none was found: looked at" \
    "\$FOCUS_PYTHON, ~/.pyenv/versions/3.12*/bin/python3 and python3.12 on PATH" \
    "(with pyenv: pyenv install 3.12)"
  version="$("$py" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')"
  if [ -x "$venv/bin/focus-validator" ] && [ "$(cat "$marker" 2>/dev/null)" = "$pins python=$version" ]; then
    return 0
  fi
  log "installing $pins into $venv (Python $version, $py)"
  "$py" -m venv --clear "$venv"
  # shellcheck disable=SC2086  # $pins is a list of requirement specifiers
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $pins >&2
  printf '%s\n' "$pins python=$version" >"$marker"
}

# summarize REPORT RC STRICT: reads the validator's console report and prints one line of fields
# separated by \x1f (not a tab, whose empty fields read would merge): verdict (pass|fail|error),
# total, passed, failed, skipped, tolerated rule ids and counted failed rule ids (comma-separated);
# on stderr, the validator's account of each counted failure.
summarize() {
  KNOWN_DEFECTS="$KNOWN_DEFECTS" "$venv/bin/python" - "$@" <<'PY'
import os, re, sys

report, rc, strict = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "yes"
known = set(os.environ["KNOWN_DEFECTS"].split())
text = open(report, encoding="utf-8", errors="replace").read()
lines = text.splitlines()

total = re.search(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)$", text, re.M)
status = {}
for line in lines:
    m = re.match(r"^\S+ (\S+): (PASS|FAIL|SKIPPED)\b", line)
    if m:
        status[m.group(1)] = m.group(2)
counts = [sum(1 for s in status.values() if s == k) for k in ("PASS", "FAIL", "SKIPPED")]
if rc != 0 or not total or [int(g) for g in total.groups()] != [len(status)] + counts:
    why = f"validator exit status {rc}" if rc else "report unreadable or inconsistent"
    print("\x1f".join(["error", why, "", "", "", "", ""]))
    sys.exit(0)

# The "--- Failures ---" section: "- RULE: violations=N; message", then indented details.
messages, details, current = {}, {}, None
in_failures = False
for line in lines:
    if line == "--- Failures ---":
        in_failures = True
        continue
    if not in_failures:
        continue
    m = re.match(r"^- (\S+): violations=[^;]*; (.*)$", line)
    if m:
        current = m.group(1)
        messages[current], details[current] = m.group(2), [line]
    elif current and line.startswith("  "):
        details[current].append(line)

failed = [r for r, s in status.items() if s == "FAIL"]
tolerated = set()
if not strict:
    tolerated = {r for r in failed if r in known}
    # A composite is tolerated when every child it reports as failed is tolerated.
    changed = True
    while changed:
        changed = False
        for r in failed:
            if r in tolerated:
                continue
            m = re.search(r": AND failed - failed child rules: \[([^\]]*)\]", messages.get(r, ""))
            children = [c.strip() for c in m.group(1).split(",") if c.strip()] if m else []
            if children and all(c in tolerated for c in children):
                tolerated.add(r)
                changed = True
counted = [r for r in failed if r not in tolerated]
for r in counted:
    print("\n".join(details.get(r, [f"- {r}: FAIL (no details in the report)"])), file=sys.stderr)
print("\x1f".join(["fail" if counted else "pass", str(len(status)), str(counts[0]),
                 str(len(counted)), str(counts[2]), ",".join(sorted(tolerated)), ",".join(counted)]))
PY
}

files=()
broken=()
criteria="$default_criteria"
strict=no
expect_failure=no
while [ $# -gt 0 ]; do
  case "$1" in
    --expect-failure) expect_failure=yes ;;
    --criteria) [ $# -ge 2 ] || usage; criteria="$2"; shift ;;
    --criteria=*) criteria="${1#--criteria=}" ;;
    --strict) strict=yes ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) usage ;;
    *)
      [ -f "$1" ] || die "no such file: $1"
      case "$1" in
        *.csv|*.parquet) ;;
        *) die "$1: focus-validator reads *.csv and *.parquet files only" ;;
      esac
      if [ "$expect_failure" = yes ]; then broken+=("$1"); else files+=("$1"); fi ;;
  esac
  shift
done
[ $(( ${#files[@]} + ${#broken[@]} )) -gt 0 ] || usage

install_validator
# It opens focus_validator/rules/currency_codes.csv relative to the working directory, and writes
# its log into it unless told otherwise: run it from site-packages, logging warnings to stderr.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
[ -f "$site/focus_validator/rules/currency_codes.csv" ] || die "focus_validator not found in $site"
reports="$RUN_DIR/focus-validator"
rm -rf "$reports"
mkdir -p "$reports"
logging_config="$reports/logging.yaml"
cat >"$logging_config" <<'YAML'
version: 1
disable_existing_loggers: false
formatters:
  plain: {format: "%(levelname)s %(name)s: %(message)s"}
handlers:
  stderr: {class: logging.StreamHandler, stream: ext://sys.stderr, formatter: plain, level: WARNING}
root: {level: WARNING, handlers: [stderr]}
YAML
criteria_args=()
case "$criteria" in
  ""|none) ;;
  *) criteria_args=(--applicability-criteria "$criteria") ;;
esac

status=0
passed=0
failed=0
n=0
# check FILE EXPECTED: EXPECTED is pass (no failed rule) or fail (at least one).
check() {
  local file="$1" expected="$2" abs name report errors rc verdict total ok bad skipped tolerated counted
  n=$((n + 1))
  abs="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
  name="$(basename "$file")"
  report="$reports/$n-$name.txt"
  errors="$reports/$n-$name.stderr"
  rc=0
  (cd "$site" && LOGGING_CONFIG="$logging_config" PYTHONIOENCODING=utf-8 \
    "$venv/bin/focus-validator" --data-file "$abs" --validate-version 1.2 --block-download \
    --show-violations "${criteria_args[@]}") >"$report" 2>"$errors" || rc=$?
  verdict=""
  IFS=$'\x1f' read -r verdict total ok bad skipped tolerated counted < <(
    summarize "$report" "$rc" "$strict" 2>"$report.failures") || true
  case "$verdict" in
    pass|fail|error) ;;
    *) verdict=error total="could not read the report" ;;
  esac
  if [ -s "$errors" ]; then
    # Warnings say what the loader did not understand (a date column it dropped, ...).
    sed 's/^/    /' "$errors" | tail -n 20 >&2
  else
    rm -f "$errors"
  fi
  if [ "$verdict" = error ]; then
    printf 'ERROR %s: %s; report %s\n' "$file" "$total" "$report"
    status=1
    failed=$((failed + 1))
    return
  fi
  [ -s "$report.failures" ] || rm -f "$report.failures"
  local line="$total rules: $ok passed, $bad failed, $skipped skipped"
  if [ -n "$tolerated" ]; then line+=" (not counted, known validator defects: ${tolerated//,/, })"; fi
  if [ "$expected" = pass ]; then
    if [ "$verdict" = pass ]; then
      printf 'PASS %s: %s\n' "$file" "$line"
      passed=$((passed + 1))
    else
      printf 'FAIL %s: %s; failed: %s; report %s\n' "$file" "$line" "${counted//,/, }" "$report"
      [ ! -f "$report.failures" ] || sed 's/^/    /' "$report.failures" >&2
      status=1
      failed=$((failed + 1))
    fi
  else
    if [ "$verdict" = fail ]; then
      printf 'PASS %s (rejected as expected): %s; failed: %s\n' "$file" "$line" "${counted//,/, }"
      passed=$((passed + 1))
    else
      printf 'FAIL %s: expected to fail, but %s; report %s\n' "$file" "$line" "$report"
      status=1
      failed=$((failed + 1))
    fi
  fi
}

log "focus-validator 2.2.1, FOCUS 1.2, applicability criteria: ${criteria:-none}"
for f in "${files[@]}"; do check "$f" pass; done
for f in "${broken[@]}"; do check "$f" fail; done
echo "focus: $passed passed, $failed failed"
exit "$status"
