#!/usr/bin/env bash
# `make test`: installs what the tests need, runs every check and mocha suite, and ends with the
# total alone on the last line: "N passed, N failed". Each non-mocha check counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
summary_file=$(mktemp)
trap 'rm -f "$summary_file"' EXIT

step() { # step NAME COMMAND… — one check, counted as one test
  local name=$1; shift
  printf '\n==> %s\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); printf '    ok: %s (%ss)\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failures+=("$name"); printf '    FAILED: %s\n' "$name"
  fi
}

finish() {
  printf '\n'
  # Each failure on a line of its own; the failed mocha tests, indented, under their count.
  local f
  for f in "${failures[@]}"; do
    if [[ $f == "  "* ]]; then printf '%s\n' "$f"; else printf 'failed: %s\n' "$f"; fi
  done
  printf '%d passed, %d failed\n' "$passed" "$failed"
  [ "$failed" -eq 0 ]
  exit $?
}

step "install dependencies (npm ci when package-lock.json changed)" make --no-print-directory deps
if [ ! -d node_modules ]; then finish; fi
step "buf lint proto/" make --no-print-directory lint-proto
step "eslint (typescript-eslint strict, type-checked)" make --no-print-directory lint-code
step "prettier --check" make --no-print-directory format-check
step "Markdown: every relative link and anchor resolves" make --no-print-directory links
step "generated gRPC types are up to date" make --no-print-directory proto-check
step "typecheck and compile dist/ (tsc strict, once; the dist test runs what it compiled)" make --no-print-directory build-checked
step "k8s/ matches the cdk8s synthesis" make --no-print-directory k8s-check
step "provision real backends, the test cluster and a browser (cached in ~/.cache/switchboard)" bash test/env/provision.sh

printf '\n==> mocha: unit, integration, contract and end-to-end suites (real backends start on demand; logs in %s)\n' \
  "${SWITCHBOARD_TESTENV_DIR:-$HOME/.cache/switchboard/testenv}/logs"
SWITCHBOARD_TEST_SUMMARY="$summary_file" npx mocha --reporter ./test/support/summary-reporter.cjs \
  'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/contract/**/*.test.ts' 'test/e2e/**/*.test.ts' 'test/k8s/**/*.test.ts' 'test/cluster/**/*.test.ts'
mocha_rc=$?
if [ -s "$summary_file" ]; then
  read -r p f s < <(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(s.passes,s.failures,s.pending)' "$summary_file")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$s" -gt 0 ]; then failed=$((failed + s)); failures+=("$s pending (skipped) mocha tests: nothing may be skipped"); fi
  if [ "$f" -gt 0 ]; then
    failures+=("$f mocha tests:")
    while IFS= read -r line; do failures+=("  $line"); done < <(node -e 'for (const t of JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).failed ?? []) console.log(t)' "$summary_file")
  fi
  if [ "$mocha_rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); failures+=("mocha exited $mocha_rc"); fi
else
  failed=$((failed + 1)); failures+=("mocha did not run to the end (exit $mocha_rc)")
fi
# The cluster was stopped by the suites' root hook: nothing of it may remain on the machine.
step "the test cluster left no process, container, mount, network namespace, bridge or iptables rule behind" npx tsx test/env/cluster-debris.ts
finish
