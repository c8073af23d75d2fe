#!/usr/bin/env bash
# The whole test suite, with every service the tests need, so that nothing is skipped.
#
#   ./scripts/test.sh
#
# On a fresh machine it installs what is missing (Debian's chromium for the admin panel's browser
# test, Debian's postgresql for the idempotency store; needs root or sudo and the Debian package
# mirror), starts a throw-away PostgreSQL cluster on a free local port unless
# PSPCONNECT_TEST_POSTGRES_URL is set (and stops it on exit), then runs vet, a gofmt check,
# `go test -race` over every package, and each fuzz target for a bounded run (PSPCONNECT_FUZZTIME,
# default 50000 executions, a few seconds).
# `go test ./...` alone also works and skips, with the reason, the tests whose service is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
		echo "test.sh: need root to run: $*" >&2
		return 1
	fi
}

apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		as_root apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Chromium drives the mock PSP's admin panel in examples/mockpsp.
if ! command -v chromium >/dev/null 2>&1; then
	echo "test.sh: installing chromium (Debian package) for the browser test"
	apt_install chromium
fi
export PSPCONNECT_REQUIRE_BROWSER=1

# ---- PostgreSQL (httpserver/idempotency/pgstore) ------------------------------------------------
# Without PSPCONNECT_TEST_POSTGRES_URL, start a throw-away cluster: initdb in a temporary directory,
# trust authentication, listening on 127.0.0.1 only, on a free port, stopped and deleted on exit.
# PostgreSQL refuses to run as root, so under root (CI containers) it runs as the "postgres" user
# that the Debian package creates.
pg_dir=""
pg_bin=""
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
stop_postgres() {
	if [ -n "$pg_dir" ] && [ -f "$pg_dir/data/postmaster.pid" ]; then
		as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	if [ -n "$pg_dir" ]; then rm -rf "$pg_dir"; fi
}
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
start_postgres() {
	pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
		echo "test.sh: installing postgresql (Debian package) for the idempotency store tests"
		apt_install postgresql
		pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	fi
	pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/pspconnect-pg.XXXXXX")
	trap stop_postgres EXIT
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pg_dir"; fi
	as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync -E UTF8 >"$pg_dir/initdb.log" 2>&1 || {
		cat "$pg_dir/initdb.log" >&2
		return 1
	}
	local port attempt
	for attempt in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		if port_in_use "$port"; then continue; fi
		if as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
			-o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null; then
			export PSPCONNECT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			echo "test.sh: throw-away PostgreSQL on 127.0.0.1:$port (data in $pg_dir)"
			return 0
		fi
		echo "test.sh: PostgreSQL did not start on port $port (attempt $attempt), trying another" >&2
	done
	cat "$pg_dir/server.log" >&2 || true
	return 1
}
if [ -z "${PSPCONNECT_TEST_POSTGRES_URL:-}" ]; then
	start_postgres
fi
export PSPCONNECT_REQUIRE_POSTGRES=1
# ---- end of PostgreSQL ---------------------------------------------------------------------------

echo "test.sh: gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "test.sh: these files need gofmt:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "test.sh: go vet"
go vet ./...

# ---- Fuzzing: each target for a short, bounded run (the seed corpus is in httpserver/testdata/fuzz
# and also runs with every `go test`). A failure writes the input to testdata/fuzz for replay. The
# budget is a number of executions (a few seconds each here) rather than a duration: with a duration,
# Go 1.26's fuzz coordinator sometimes fails a clean run with "context deadline exceeded" at the end
# (golang/go#75804). PSPCONNECT_FUZZTIME takes either form ("100000x", "30s"). ----------------------
fuzztime="${PSPCONNECT_FUZZTIME:-50000x}"
for spec in httpserver:FuzzParseQuery httpserver:FuzzWriteBodies httpserver:FuzzAuthHeader \
	httpserver:FuzzAppendJSONString models:FuzzUnquote; do
	pkg=${spec%%:*} target=${spec#*:}
	echo "test.sh: fuzz $target ($pkg) for $fuzztime"
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$pkg"
done

# The pgstore test that stops PostgreSQL mid-call and starts it again, alone, on the throw-away
# cluster (stopping it while other tests use it would fail them).
if [ -n "$pg_dir" ]; then
	echo "test.sh: pgstore with PostgreSQL stopped mid-call"
	PSPCONNECT_TEST_POSTGRES_PGDATA="$pg_dir/data" go test -count=1 \
		-run '^TestAnswerStoredWhenPostgreSQLComesBackAfterStoppingMidCall$' ./httpserver/idempotency/pgstore
fi

# The whole suite last, so that its summary closes the output.
echo "test.sh: go test -race"
go test -race -count=1 ./...
