# Sourced by scripts/test and scripts/sanitize: seed_test_costs DIR gives a build directory that has no
# test timings yet (a fresh clone) the suite's known ones, tests/ctest-costs.txt. ctest starts the
# costliest tests first when it knows the costs and in declaration order when it does not; in order, the
# ASan suite's long end-to-end tests met at its end and it took 235 s on 2 jobs where 135 s was enough.
# Once ctest has run in DIR its own measured costs replace the seed. Tests missing from the seed (new
# ones) run last; scripts/update-test-costs refreshes it from a build directory's measured costs.
seed_test_costs() {
  local costs="$1/Testing/Temporary/CTestCostData.txt"
  [[ -f "$costs" ]] && return 0
  mkdir -p "$1/Testing/Temporary"
  cp tests/ctest-costs.txt "$costs"
}
