#!/usr/bin/env bash
# Runs pspconnect's benchmark set and prints one table of the results, with the ratio of each
# library route to the hand-written net/http + encoding/json baseline measured in the same run, and
# the targets checked (ok / MISSED):
#
#   ./bench/run.sh                 # the whole set, about ten minutes on 2 cores
#   BENCH_QUICK=1 ./bench/run.sh   # a shorter run without the 1,000,000-transaction sync
#
# The raw `go test -bench` output is kept in a temporary file whose path is printed at the end, so
# the numbers can be compared with benchstat or checked by hand. Set BENCH_COUNT (default 3) for
# the number of runs of the short benchmarks (the table shows the median).
set -euo pipefail
cd "$(dirname "$0")/.."

count="${BENCH_COUNT:-3}"
quick="${BENCH_QUICK:-}"
raw="$(mktemp -t pspconnect-bench.XXXXXX)"

bench() { # bench <package> <pattern> <benchtime> [count]
	echo "run.sh: $1 -bench '$2' -benchtime $3 -count ${4:-1}" >&2
	go test -run '^$' -bench "$2" -benchmem -benchtime "$3" -count "${4:-1}" "$1" | tee -a "$raw" | grep -E '^(Benchmark|ok|FAIL|---)' >&2
}

# Library against the hand-written baseline: list routes (in process and over loopback HTTP), the
# auth path (401), the validation path (400) and the write path (POST /payouts).
bench ./bench/ '^(BenchmarkList|BenchmarkListHTTP|BenchmarkUnauthorized|BenchmarkBadParameter|BenchmarkPayout)$' 0.5s "$count"
# The write path with both handlers taking turns in one run (the ratio its target is checked on).
bench ./bench/ 'PayoutTurns' 100000x "$count"

# The list route over loopback HTTP from 1,000,000 transactions at a random updatedAtFrom, against
# the precomputed-bytes handler (the cost of net/http alone), the encoding/json baseline and the
# goccy/go-json and sonic peers, one client and 64; then memory per stored transaction. The ratios
# are measured inside each run (every handler gets the same requests, in turns of 64 in a row for
# one client; alternating-… ratios send them one request each in turn); the table shows their range
# over the runs.
bench ./bench/ 'ListLoopback' 2000x "$count"
bench ./bench/ 'ListConcurrent' 60x "$count"
bench ./bench/ 'MemoryPerTransaction' 1x
if [ -z "$quick" ]; then
	bench ./bench/ 'SyncScaling' 1x "$count"
fi

# The PostgreSQL feed, when a server is given (./scripts/test.sh starts one): the list route against
# the same query with its bytes written as they are, and the 1,000,000 sync through the Poller.
if [ -n "${PSPCONNECT_TEST_POSTGRES_URL:-}" ]; then
	bench ./feed/pgfeed/ 'PostgresList' 1500x "$count"
	if [ -z "$quick" ]; then
		bench ./feed/pgfeed/ 'PostgresSync/rows=1M' 1x
	fi
fi

# Full syncs by connectortest.Poller over loopback HTTP: 100,000 transactions (3 syncs) and
# 1,000,000 (1 sync; named explicitly, or it is skipped).
bench ./bench/ 'PollerSync/transactions=100k' 3x
if [ -z "$quick" ]; then
	bench ./bench/ 'PollerSync/transactions=1M' 1x
fi

# The memory feed against the pagination.Collection it replaces: one page in process, and a full sync
# of 100,000 transactions (and 1,000,000 unless quick) over loopback HTTP.
bench ./bench/ 'MemoryFeedPage' 0.5s "$count"
bench ./bench/ 'MemoryFeedSync/transactions=100k' 1x "$count"
if [ -z "$quick" ]; then
	bench ./bench/ 'MemoryFeedSync/transactions=1M' 1x
fi

# The pieces: pagination, the Poller, the handler's encoding, the cursor template.
if [ -z "$quick" ]; then
	bench ./pagination/ 'CollectionPageScale' 0.5s
	bench ./pagination/ 'CollectionLoad|CursorCacheManyTenants' 1x
fi
bench ./pagination/ 'FetchByCursorWalk' 0.5s
bench ./connectortest/ 'DecodePage|Stream' 0.5s
bench ./httpserver/ 'EncodePage|ListRoute' 0.5s
bench ./examples/cursorpsp/ 'CursorSync' 1x

echo >&2
go run ./bench/benchtable <"$raw"
echo "raw go test output: $raw"
