#!/usr/bin/env bash
# Regenerates the README's screenshots, resources/screenshots/main-window.png (light) and
# main-window-dark.png (dark), from the real program on a virtual screen (never drawn by hand):
#
#   packaging/screenshots.sh                  # both
#   packaging/screenshots.sh --scheme dark OUT.png   # one, in the light or dark colour scheme
#
# 1. Starts loopback listeners before portwatch, so they are part of its first scan: a web
#    server (python3 -m http.server on 127.0.0.1:8000) and plain python3 sockets on 5432/tcp,
#    6379/tcp and 5353/udp.
# 2. Runs /work/shared/tools/screenshot.sh (../shared/tools/screenshot.sh from the repository
#    root; it brings Xvfb, a D-Bus session, a notification daemon and a tray host) with this
#    script's --drive mode as the program: that starts portwatch with empty settings and
#    history, waits for its first scan, then opens a listener on 127.0.0.1:3141 (so the new-port
#    alert, the notification and the highlight show), selects the first row of the table (the
#    details pane fills), opens the Alerts list (Ctrl+Shift+A) and waits for the picture. The
#    colour scheme is the `color_scheme` setting in the settings file it starts with.
# 3. Trims the black screen edge with ImageMagick and writes OUT (default the README's file).
# Every listener it started is stopped by its PID. Other listeners on this machine appear too:
# run it on a quiet machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
self=$repo/packaging/screenshots.sh

start_listener() {  # PROTO HOST PORT -> its PID in $listener_pid; it stays until ended by PID
  python3 - "$@" >/dev/null 2>&1 <<'PY' &
import socket, sys, time
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
if proto == "tcp":
    s.listen()
while True:
    time.sleep(3600)
PY
  listener_pid=$!
}

port_free() { python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$1" 2>/dev/null; }

if [ "${1:-}" = "--drive" ]; then
  # Inside screenshot.sh's session (DISPLAY, D-Bus, dunst, trayer are there).
  shift
  pids=()
  cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
  trap 'cleanup; exit 0' TERM INT
  trap cleanup EXIT
  "$@" & pids+=($!)
  wid=$(timeout 20 xdotool search --sync --onlyvisible --name '^portwatch' | head -1) || true
  sleep 4  # the first scan becomes the baseline
  if port_free 3141; then
    start_listener tcp 127.0.0.1 3141
    pids+=("$listener_pid")
    sleep 5  # a few polls: the listener is confirmed and raises its alert
    if [ -n "$wid" ]; then
      # The table has the keyboard focus: select its first row (the highest risk) so the
      # details pane fills.
      xdotool windowfocus --sync "$wid" 2>/dev/null || true
      xdotool key --window "$wid" ctrl+Home; sleep 1
      xdotool key --window "$wid" ctrl+shift+a; sleep 1  # the Alerts list, with its alert
    fi
  else
    echo "screenshots: 127.0.0.1:3141 is in use; the picture shows no new listener" >&2
  fi
  wait "${pids[0]}"
  exit 0
fi

if [ $# -eq 0 ]; then
  "$self" --scheme light "$repo/resources/screenshots/main-window.png"
  exec "$self" --scheme dark "$repo/resources/screenshots/main-window-dark.png"
fi
scheme=light
if [ "${1:-}" = "--scheme" ]; then scheme=$2; shift 2; fi
out=${1:-$repo/resources/screenshots/main-window.png}
tool=$repo/../shared/tools/screenshot.sh
[ -x "$tool" ] || [ -f "$tool" ] || tool=/work/shared/tools/screenshot.sh
[ -f "$tool" ] || { echo "screenshots: shared/tools/screenshot.sh not found beside the repository" >&2; exit 1; }
app=$repo/.venv/bin/portwatch
[ -x "$app" ] || { echo "screenshots: $app is missing: run make run or make test first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/portwatch-shots.XXXXXX")
started=()
finish() { for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap finish EXIT
if port_free 8000; then
  (cd "$work" && exec python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1) &
  started+=($!)
else
  echo "screenshots: 127.0.0.1:8000 is in use; no web server of ours in the picture" >&2
fi
# Plain python3 listeners on ports with a story in the catalog (PostgreSQL, Redis, mDNS): the
# rows show what the registry and the curated notes say about such ports.
for spec in tcp:5432 tcp:6379 udp:5353; do
  if [ "${spec%%:*}" = udp ] || port_free "${spec#*:}"; then
    start_listener "${spec%%:*}" 127.0.0.1 "${spec#*:}"
    started+=("$listener_pid")
  fi
done
sleep 1

mkdir -p "$work/config" "$work/data" "$(dirname "$out")"
export PORTWATCH_CONFIG_DIR=$work/config PORTWATCH_DATA_DIR=$work/data
echo "color_scheme: $scheme" >"$work/config/settings.yaml"
# 22 s: the desktop notification of the new listener has gone again (it hid the Alerts list)
(cd "$repo" && bash "$tool" "$work/screen.png" 22 -- bash "$self" --drive "$app")
[ -s "$work/screen.png" ] || { echo "screenshots: no picture was taken" >&2; exit 1; }
# The window sits at the top left of the 1280x800 screen: trim the black below it.
convert "$work/screen.png" -bordercolor black -border 1 -trim +repage -strip "$out"
echo "screenshots: wrote $out ($(identify -format '%wx%h' "$out"))"
