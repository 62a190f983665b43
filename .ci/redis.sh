# shellcheck shell=bash
# A throwaway redis-server for the redisstore tests. Source this file, then:
#
#   source .ci/redis.sh
#   redis_start            # installs redis-server if missing (apt, as root), starts it on a
#                          # free loopback port, exports DESKIE_TEST_REDIS=127.0.0.1:PORT
#   (cd redisstore && go test -race ./...)
#   redis_stop             # kills it (by the PID it recorded) and removes its directory
#
# .ci/run: `source .ci/redis.sh; redis_start; trap redis_stop EXIT` before the redisstore
# step. Persistence is off (--save "" --appendonly no): nothing is written to disk but a
# log. Both functions return non-zero with a message on stderr instead of exiting, so they
# behave under `set -euo pipefail` and in an interactive shell alike.

REDIS_PID=""
REDIS_DIR=""

_redis_say() { printf 'redis: %s\n' "$*" >&2; }

# _redis_install installs redis-server (and redis-cli) with apt when missing.
_redis_install() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      _redis_say "redis-server is not installed and this user is not root: install it (apt-get install -y redis-server) and run again"
      return 1
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || { _redis_say "redis-server is not installed and apt-get is not available: install redis-server 6.2 or newer"; return 1; }
  _redis_say "installing redis-server with apt-get"
  $sudo apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null ||
    { _redis_say "apt-get install redis-server failed"; return 1; }
  # The package starts a system-wide service on 6379; it is not ours and not used.
}

# _redis_free_port prints a loopback port nobody listens on now.
_redis_free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port i
  for i in $(seq 1 100); do
    port=$((20000 + (RANDOM % 40000)))
    # a refused connection means nobody listens there
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  _redis_say "no free port found"
  return 1
}

# redis_start starts a private redis-server and exports DESKIE_TEST_REDIS.
redis_start() {
  if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
    _redis_say "already running (pid $REDIS_PID) at $DESKIE_TEST_REDIS"
    return 0
  fi
  _redis_install || return 1
  REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/deskie-redis.XXXXXX") || return 1
  local attempt port i
  for attempt in 1 2 3 4 5; do
    port=$(_redis_free_port) || return 1
    # --daemonize writes the PID file once the server runs; the port may have been
    # taken since it was picked, so a start that does not answer is tried again.
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
      --dir "$REDIS_DIR" >/dev/null 2>&1 || continue
    for i in $(seq 1 100); do # up to 10 s
      if [ -s "$REDIS_DIR/redis.pid" ] && redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        REDIS_PID=$(cat "$REDIS_DIR/redis.pid")
        export DESKIE_TEST_REDIS="127.0.0.1:$port"
        _redis_say "redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') (pid $REDIS_PID) at $DESKIE_TEST_REDIS"
        return 0
      fi
      sleep 0.1
    done
    if [ -s "$REDIS_DIR/redis.pid" ]; then
      kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
      rm -f "$REDIS_DIR/redis.pid"
    fi
    _redis_say "attempt $attempt on port $port did not answer; log: $(tail -n 3 "$REDIS_DIR/redis.log" 2>/dev/null)"
  done
  _redis_say "redis-server did not start"
  return 1
}

# redis_stop stops the server redis_start started (by its PID) and removes its files.
redis_stop() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do # up to 5 s
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$REDIS_PID" 2>/dev/null; then
      kill -9 "$REDIS_PID" 2>/dev/null || true
    fi
  fi
  [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
  REDIS_PID=""
  REDIS_DIR=""
  unset DESKIE_TEST_REDIS
}
