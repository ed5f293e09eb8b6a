#!/usr/bin/env bash
# The main job on a demo data directory: installs what is missing, builds the release preset,
# creates sessions, enqueues work, plays a container that finished one message and crashed
# holding another, runs one sweep and shows the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
hs=build/release/src/hostsweep
data=${1:-demo-data}
rm -rf "$data"

echo "== sessions"
alice=$($hs session create --data-dir "$data" --agent-group support --id alice)
bob=$($hs session create --data-dir "$data" --agent-group support --id bob)
echo "$alice $bob"

echo "== enqueue"
$hs enqueue --data-dir "$data" --session "$alice" --id hello --content '{"text":"hello"}'
$hs enqueue --data-dir "$data" --session "$alice" --id report --content '{"text":"weekly report"}'
$hs enqueue --data-dir "$data" --session "$bob" --id later --content '{"text":"tomorrow"}' \
  --process-after "$(date -u -d tomorrow +%Y-%m-%dT09:00:00Z)"
$hs enqueue --data-dir "$data" --session "$bob" --id context --content '{"text":"fyi"}' --trigger 0

echo "== a container of alice's completed 'hello' and died while holding 'report'"
sqlite3 "$data/sessions/support/alice/outbound.db" \
  "INSERT INTO processing_ack VALUES ('hello', 'completed', datetime('now'));
   INSERT INTO processing_ack VALUES ('report', 'processing', datetime('now', '-2 minutes'));"

echo "== explain alice (no side effect)"
$hs explain --data-dir "$data" --session "$alice"

echo "== sweep --once"
$hs sweep --once --data-dir "$data"

echo "== status"
$hs status --data-dir "$data"
