# Sourced by the scripts: which build directories they use. Warnings-as-errors builds (CODER_WERROR=ON,
# as .ci/run sets it) have their own, build-ci/ and the ci-* presets (build-ci-asan/, build-ci-tsan/), so
# that switching between .ci/run and the other scripts never reconfigures and rebuilds everything.
# BUILD_DIR overrides the release build's directory either way.
#   build_dir       the release build (scripts/build, test, demo, bench-report, soak, load, compare-hyperfine)
#   preset_prefix   "" or "ci-", put before a sanitizer preset's name (scripts/sanitize, scripts/fuzz)
if [[ "${CODER_WERROR:-OFF}" == ON ]]; then
  build_dir=${BUILD_DIR:-build-ci}
  preset_prefix=ci-
else
  build_dir=${BUILD_DIR:-build}
  preset_prefix=
fi
