#!/bin/sh
# `duckmig export --check` of each notebook named: exit code 3 where a cell's version file is missing or
# differs from the cell; notebooks without a %%migration cell are skipped.
status=0
for notebook in "$@"; do
  grep -q '%%migration' "$notebook" || continue
  duckmig export --check "$notebook" || status=$?
done
exit $status
