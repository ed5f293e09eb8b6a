#!/usr/bin/env bash
# The main job on a demo data directory: installs what is missing, builds the release preset,
# creates three sessions whose fake containers behave differently (one works, one crashes
# holding its message, one hangs holding it), runs the real daemon until every message is
# done, shows what the live daemon says of them, stops it with SIGTERM and shows the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
bin=$PWD/build/release/src
hs=$bin/hostsweep
data=${1:-demo-data}
rm -rf "$data"

echo "== three sessions; their containers are hostsweep-fake-agent, scripted per start"
for s in alice bob carol; do $hs session create --data-dir "$data" --agent-group demo --id $s >/dev/null; done
printf 'normal\n' > "$data/sessions/demo/alice/.fake-agent"
printf 'crash-after-claim\nnormal\n' > "$data/sessions/demo/bob/.fake-agent"      # dies mid-message, then works
printf 'hang-after-claim\nnormal\n' > "$data/sessions/demo/carol/.fake-agent"     # hangs mid-message, then works
for s in alice bob carol; do
  $hs enqueue --data-dir "$data" --session $s --content "{\"text\":\"hello $s\"}" >/dev/null
done
$hs enqueue --data-dir "$data" --session alice --content '{"text":"every 2 s"}' --recurrence '*/2 * * * * *' >/dev/null

echo "== hostsweep run (short windows so the demo takes seconds)"
$hs run --data-dir "$data" \
  --agent-command "$bin/hostsweep-fake-agent --session-dir {session_dir} --poll-interval 100ms --work-time 200ms --heartbeat-interval 100ms" \
  --claim-tolerance 2s --startup-grace 2s --backoff-base 1s --kill-grace 1s --sweep-interval 30s \
  2> >(grep -v '^fake-agent' >&2) &
daemon=$!

completed() { sqlite3 -cmd ".timeout 5000" "$data/sessions/demo/$1/inbound.db" "SELECT count(*) FROM messages_in WHERE status = 'completed'"; }
for _ in $(seq 1 300); do  # at most 30 s
  [ "$(completed alice)" -ge 3 ] && [ "$(completed bob)" -ge 1 ] && [ "$(completed carol)" -ge 1 ] && break
  sleep 0.1
done
echo "== status from the live daemon (its control socket): each session's phase, container, next deadline"
$hs status --data-dir "$data"
kill -TERM $daemon
wait $daemon

echo "== status from the files, the daemon gone: bob's and carol's messages completed after one retry; alice's recurring one runs on"
$hs status --data-dir "$data"
