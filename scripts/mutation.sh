#!/usr/bin/env bash
# Mutation run (mutmut) over the folding rules (edgeattn/exporter/fold/) and the atomic writers
# (edgeattn/_io.py): each mutant is the code with one small edit (an operator, a constant, a
# condition), run against the tests that cover it. A mutant no test notices ("survived") is
# behaviour no test pins down. Configuration: [tool.mutmut] in pyproject.toml (which tests run,
# which lines are skipped). Results are cached in mutants/; a rerun only checks what changed.
#
# Prints the score and the surviving mutants (`.venv/bin/mutmut show NAME` shows one) and fails
# when the killed share falls below MUTATION_MIN_SCORE percent.
#
# MUTATION_SELECT: mutant name globs to check. The default (CI's fast tier, a few minutes on two
# cores) is the atomic writers and the SE and channel-attention rules; MUTATION_SELECT=all checks
# every mutant of edgeattn/exporter/fold/ and edgeattn/_io.py (about 2,800; half an hour on two
# loaded cores).
set -euo pipefail
cd "$(dirname "$0")/.."
MIN_SCORE=${MUTATION_MIN_SCORE:-70}
BIN=${VENV_BIN:-.venv/bin}
JOBS=${MUTATION_JOBS:-$(nproc)}
SELECT=${MUTATION_SELECT:-"edgeattn._io.* edgeattn.exporter.fold.se.* edgeattn.exporter.fold.channel_attention.*"}
[ "$SELECT" = all ] && SELECT=""
# shellcheck disable=SC2086  # the globs are separate arguments
"$BIN/mutmut" run --max-children "$JOBS" $SELECT > mutants.log 2>&1 || { tail -n 40 mutants.log; exit 1; }
"$BIN/mutmut" export-cicd-stats > /dev/null
"$BIN/mutmut" results > mutants-survived.txt 2>/dev/null || true
"$BIN/python" - "$MIN_SCORE" <<'PY'
import json
import sys

stats = json.load(open("mutants/mutmut-cicd-stats.json"))
checked = stats["killed"] + stats["survived"] + stats["timeout"] + stats["suspicious"]
score = 100.0 * (stats["killed"] + stats["timeout"]) / max(checked, 1)
survivors = [line.strip() for line in open("mutants-survived.txt") if line.strip().endswith(": survived")]
print(f"mutation score {score:.1f}% ({stats['killed']} killed, {stats['timeout']} timed out, "
      f"{stats['survived']} survived, {stats['no_tests']} not covered by the selected tests; total {stats['total']})")
for line in survivors:
    print("  survived:", line.removesuffix(": survived"))
if score < float(sys.argv[1]):
    sys.exit(f"mutation score {score:.1f}% is below the floor of {sys.argv[1]}%")
PY
