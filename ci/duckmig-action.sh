#!/bin/sh
# The steps of the GitHub Action (action.yml): install duckmig unless it is there, lint the pending
# migrations and round-trip them (up, down, up in a transaction that is rolled back), each finding and
# problem as a workflow annotation. The exit code is the first failing step's.
set -u
if [ -n "${DUCKMIG_INSTALL:-}" ]; then
  python -m pip install --quiet "$DUCKMIG_INSTALL" || exit 2
fi
command -v duckmig >/dev/null 2>&1 || { echo "::error title=duckmig::duckmig is not installed"; exit 2; }
status=0
duckmig lint --format github ${DUCKMIG_LINT_ARGS:-} || status=$?
verified=$(duckmig verify --roundtrip --json)
code=$?
printf '%s\n' "$verified" | python -c '
import json, sys
report = json.load(sys.stdin)
for p in report["problems"]:
    text = (p.get("version") or "") + ": " + (p.get("detail") or p.get("state") or "")
    print("::error title=duckmig verify::" + text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
print("duckmig verify --roundtrip: %d round-tripped, %d problems" % (len(report["roundtrip"]), len(report["problems"])))
' || code=${code:-1}
[ "$status" -ne 0 ] || status=$code
exit $status
