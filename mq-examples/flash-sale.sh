#!/usr/bin/env bash
# Flash-sale load test: starts FlashSaleServer, hits /buy with ApacheBench (ab -c 100 -n 10000),
# prints ab's figures and /stats, and checks the invariants (never oversold, every request answered).
# Usage: bash mq-examples/flash-sale.sh [stock=300] [capacity=64] [requests=10000] [concurrency=100]
set -euo pipefail
cd "$(dirname "$0")/.."
STOCK=${1:-300}; CAPACITY=${2:-64}; REQUESTS=${3:-10000}; CONCURRENCY=${4:-100}; PORT=${PORT:-18080}

if ! command -v ab >/dev/null 2>&1; then
  echo "Installing ApacheBench (apache2-utils)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq apache2-utils >/dev/null
fi

mvn -q -B -pl mq-examples -am package -DskipTests
mvn -q -B -pl mq-examples exec:java -Ddemo.mainClass=io.relaymq.examples.FlashSaleServer \
  -Dexec.args="$PORT $STOCK $CAPACITY" > /tmp/flash-sale-server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$PORT/stats" >/dev/null 2>&1 && break
  sleep 1
done

ab -q -c "$CONCURRENCY" -n "$REQUESTS" "http://127.0.0.1:$PORT/buy?user=ab" | \
  grep -E "Concurrency Level|Complete requests|Failed requests|Non-2xx|Requests per second|Time per request|50%|99%|100%" || true
STATS=$(curl -fs "http://127.0.0.1:$PORT/stats")
echo "stats: $STATS"
python3 - "$STATS" "$REQUESTS" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); n = int(sys.argv[2])
assert s["bought"] <= s["initialStock"], "oversold!"
assert s["bought"] + s["soldOut"] + s["rejected"] == s["total"] == n, "unanswered or miscounted requests"
print(f"invariants hold: bought {s['bought']} of {s['initialStock']}, sold out {s['soldOut']}, "
      f"too busy {s['rejected']}, all {n} answered")
PY
