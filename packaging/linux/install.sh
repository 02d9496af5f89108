#!/usr/bin/env bash
# Desktop integration for an installed portwatch: the menu entry, the AppStream metainfo (software
# centres) and the app icons, under a prefix. It does not install portwatch itself (pip, the
# wheel or the bundle do that); the menu entry runs `portwatch` from PATH unless --exec says
# otherwise.
#
#   packaging/linux/install.sh                      into ~/.local (your user only)
#   PREFIX=/usr/local sudo -E packaging/linux/install.sh   for every user
#   packaging/linux/install.sh --exec "$PWD/dist/portwatch/portwatch"   a bundle or a venv
#                                                   (one program path, no arguments)
#   packaging/linux/install.sh --uninstall          removes what it installed
#   DESTDIR=/tmp/stage PREFIX=/usr ...              staged, for distribution packages
#   packaging/linux/install.sh --service [--textfile DIR] [--exec PATH]
#                                                   only the systemd unit for `portwatch watch`:
#                                                   as root /etc/systemd/system/portwatch.service
#                                                   (hardened, see packaging/linux/systemd/),
#                                                   as a user ~/.config/systemd/user/portwatch.service;
#                                                   --textfile DIR also feeds node_exporter
#   packaging/linux/install.sh --service --uninstall  removes the unit
#
# Installs:
#   $PREFIX/share/applications/io.github.portwatch.portwatch.desktop
#   $PREFIX/share/metainfo/io.github.portwatch.portwatch.metainfo.xml
#   $PREFIX/share/icons/hicolor/{16x16,...,256x256,scalable}/apps/io.github.portwatch.portwatch*.{png,svg}
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
app_id=io.github.portwatch.portwatch
prefix=${PREFIX:-$HOME/.local}
destdir=${DESTDIR:-}
exec_cmd=""
action=install
service=""
textfile=""

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --exec) exec_cmd=$2; shift 2 ;;
    --exec=*) exec_cmd=${1#*=}; shift ;;
    --uninstall) action=uninstall; shift ;;
    --service) service=auto; shift ;;
    --service=system|--service=user) service=${1#*=}; shift ;;
    --textfile) textfile=$2; shift 2 ;;
    --textfile=*) textfile=${1#*=}; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done

if [ -n "$service" ]; then
  # shellcheck source=packaging/linux/systemd/install-service.sh
  . "$here/systemd/install-service.sh"
  install_service "$service" "$action" "$exec_cmd" "$textfile"
  exit 0
fi
[ -z "$textfile" ] || { echo "install.sh: --textfile goes with --service" >&2; exit 2; }

share=$destdir$prefix/share
apps=$share/applications
metainfo=$share/metainfo
hicolor=$share/icons/hicolor

refresh_caches() {
  [ -n "$destdir" ] && return 0  # a staged install: the package's scripts do this
  if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$apps" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null && [ -f "$hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t -f "$hicolor" 2>/dev/null || true
  fi
}

if [ "$action" = uninstall ]; then
  rm -f "$apps/$app_id.desktop" "$metainfo/$app_id.metainfo.xml"
  find "$hicolor" -path "*/apps/$app_id*" -type f -delete 2>/dev/null || true
  refresh_caches
  echo "removed portwatch's desktop entry, metainfo and icons from $share"
  exit 0
fi

install -d "$apps" "$metainfo"
desktop=$apps/$app_id.desktop
if [ -n "$exec_cmd" ]; then
  [ -x "$exec_cmd" ] || echo "note: $exec_cmd is not an executable file (yet)" >&2
  # One program path, quoted as the Desktop Entry spec says when it holds anything unusual:
  # in double quotes with \ " ` $ escaped, then every backslash doubled (the string level).
  case $exec_cmd in
    *[!A-Za-z0-9_/.+,=:@-]*)
      quoted="\"$(printf '%s' "$exec_cmd" | sed 's/[\\"`$]/\\&/g')\""
      quoted=$(printf '%s' "$quoted" | sed 's/\\/\\\\/g') ;;
    *) quoted=$exec_cmd ;;
  esac
  quoted=${quoted//%/%%}
  # awk reads the line from the environment, so nothing interprets its backslashes
  EXEC_LINE="Exec=$quoted" awk '/^Exec=/ { print ENVIRON["EXEC_LINE"]; next } { print }' \
    "$here/$app_id.desktop" >"$desktop.tmp"
  chmod 644 "$desktop.tmp"
  mv -f "$desktop.tmp" "$desktop"
else
  install -m 644 "$here/$app_id.desktop" "$desktop"
  if [ -z "$destdir" ] && ! command -v portwatch >/dev/null; then
    echo "note: 'portwatch' is not on PATH, so the menu entry cannot start it yet;" \
         "install portwatch, or run again with --exec /path/to/portwatch" >&2
  fi
fi
install -m 644 "$here/$app_id.metainfo.xml" "$metainfo/$app_id.metainfo.xml"

count=0
for dir in "$repo"/resources/icons/hicolor/*/apps; do
  size=$(basename "$(dirname "$dir")")
  install -d "$hicolor/$size/apps"
  for icon in "$dir"/"$app_id"*; do
    install -m 644 "$icon" "$hicolor/$size/apps/"
    count=$((count + 1))
  done
done
refresh_caches
echo "installed portwatch's desktop entry, metainfo and $count icons under $share"
