#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), starting from the
# seeds in fuzz/seeds/<target> and the corpus it grows in fuzz/corpus/<target>.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#   fuzz/run.sh [seconds per target] [target...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(personal_id agency_code dossier_code requests population_json portal_json text)
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t, ${seconds}s"
    seeds=()
    if [ -d "seeds/$t" ]; then seeds=("seeds/$t"); fi
    set +e
    cargo +nightly fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 > "corpus/$t.log" 2>&1
    status=$?
    set -e
    grep -E "^(INFO: seed corpus|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|==[0-9]+==ERROR|thread .* panicked)" "corpus/$t.log" || true
    if [ $status -ne 0 ]; then
        echo "!! $t failed (exit $status): see fuzz/corpus/$t.log and fuzz/artifacts/$t"
        exit 1
    fi
done
