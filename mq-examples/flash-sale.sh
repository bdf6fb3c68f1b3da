#!/usr/bin/env bash
# Flash-sale load test: builds and starts FlashSaleServer, hits /buy with ApacheBench (ab -c 100 -n 10000),
# prints ab's figures and /stats, and checks the invariants (never oversold, every request answered).
# Usage: bash mq-examples/flash-sale.sh [stock=300] [capacity=64] [requests=10000] [concurrency=100]
# Environment: PORT (18080), WAIT_SECONDS for the server to answer (600: a first build downloads
# Maven's plugins and dependencies), SERVER_LOG (/tmp/flash-sale-server.log).
# Any failure (build error, port in use, server dead or not up in time, load test error) prints the
# end of the server's log and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
STOCK=${1:-300}; CAPACITY=${2:-64}; REQUESTS=${3:-10000}; CONCURRENCY=${4:-100}
PORT=${PORT:-18080}; WAIT_SECONDS=${WAIT_SECONDS:-600}; LOG=${SERVER_LOG:-/tmp/flash-sale-server.log}
SERVER=
: > "$LOG" # a log left by an earlier run would only mislead

fail() {
  echo "flash-sale: $*" >&2
  if [ -s "$LOG" ]; then
    echo "---- last 40 lines of the server log ($LOG) ----" >&2
    tail -n 40 "$LOG" >&2
    echo "---- end of the server log ----" >&2
  fi
  exit 1
}

install_package() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || fail "'$1' is missing: install $2 (or your system's equivalent) and run again"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "'$1' is missing and installing $2 needs root: install it and run again"
    sudo=sudo
  fi
  echo "Installing $2 (for '$1')..."
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null; } || fail "could not install $2"
}

install_package ab apache2-utils
install_package curl curl
command -v mvn >/dev/null 2>&1 || fail "Maven (mvn) is missing"

# Something already listening there would answer our requests instead of the server we start.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  fail "port $PORT is already in use (a server left from an earlier run?); stop it or run with PORT=<free port>"
fi

# One Maven call builds mq-core and mq-examples from this checkout (-am, so nothing has to be installed
# in ~/.m2 first) and runs the server in the same JVM; exec:java is skipped in the other modules.
# 'package' is needed: without a lifecycle phase Maven resolves mq-core from the local repository.
echo "Building and starting FlashSaleServer on port $PORT (log: $LOG)..."
mvn -q -B -pl mq-examples -am package exec:java -DskipTests -Ddemo.mainClass=io.relaymq.examples.FlashSaleServer \
  -Dexec.args="$PORT $STOCK $CAPACITY" > "$LOG" 2>&1 &
SERVER=$!
stop_server() { if [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; then wait "$SERVER" 2>/dev/null || true; fi; }
trap stop_server EXIT

waited=0
until curl -fs "http://127.0.0.1:$PORT/stats" >/dev/null 2>&1; do
  kill -0 "$SERVER" 2>/dev/null || { wait "$SERVER" && rc=0 || rc=$?; fail "the server (mvn exec:java) exited with status $rc before it answered"; }
  [ "$waited" -lt "$WAIT_SECONDS" ] || fail "the server did not answer on port $PORT within $WAIT_SECONDS s"
  sleep 1
  waited=$((waited + 1))
done
echo "Server up after ${waited} s."

AB_OUT=$(mktemp)
trap 'stop_server; rm -f "$AB_OUT"' EXIT
if ! ab -q -c "$CONCURRENCY" -n "$REQUESTS" "http://127.0.0.1:$PORT/buy?user=ab" > "$AB_OUT" 2>&1; then
  cat "$AB_OUT" >&2
  fail "ab failed (its output is above)"
fi
grep -E "Concurrency Level|Complete requests|Failed requests|Non-2xx|Requests per second|Time per request|50%|99%|100%" "$AB_OUT" || true
STATS=$(curl -fsS "http://127.0.0.1:$PORT/stats") || fail "the server did not answer /stats after the load test"
echo "stats: $STATS"

field() { # the integer field $1 of the JSON object in $STATS
  local v
  v=$(printf '%s' "$STATS" | sed -nE "s/.*\"$1\":([0-9]+).*/\1/p")
  [ -n "$v" ] || fail "no field '$1' in /stats: $STATS"
  echo "$v"
}
INITIAL=$(field initialStock); BOUGHT=$(field bought); SOLD_OUT=$(field soldOut); REJECTED=$(field rejected); TOTAL=$(field total)
[ "$BOUGHT" -le "$INITIAL" ] || fail "oversold! bought $BOUGHT of $INITIAL"
[ $((BOUGHT + SOLD_OUT + REJECTED)) -eq "$TOTAL" ] && [ "$TOTAL" -eq "$REQUESTS" ] ||
  fail "unanswered or miscounted requests: bought $BOUGHT + sold out $SOLD_OUT + too busy $REJECTED, total $TOTAL, sent $REQUESTS"
echo "invariants hold: bought $BOUGHT of $INITIAL, sold out $SOLD_OUT, too busy $REJECTED, all $REQUESTS answered"
