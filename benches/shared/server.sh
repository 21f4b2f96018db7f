# Starting and stopping the server under a bench script: sourced by
# benches/feed.sh and benches/notifications.sh, which set WORK (the run's
# folder, for server.log) and PORT (the one BIND_ADDR names) first.

# Runs "$@" (a server build and its arguments) in the background as PID,
# and returns once it answers /readyz; if it exits first, shows its log and
# ends the script.
start() {
  "$@" >> "$WORK/server.log" 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.01
  done
}

# Stops the server that start started; if it had ended on its own, shows
# its log and ends the script.
stop() {
  kill "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  wait "$PID" 2>/dev/null || true
  PID=
}
