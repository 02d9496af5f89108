# Sourced by packaging/linux/install.sh for --service: writes the systemd unit for
# `portwatch watch` from portwatch.service (system: as root) or portwatch-user.service (user).
# Honours DESTDIR (staged installs) and SYSTEMD_UNIT_DIR (the system unit's folder).

install_service() {
  local scope=$1 action=$2 program=$3 textfile=$4 unit_dir template unit args rw home
  if [ "$scope" = auto ]; then
    if [ "$(id -u)" -eq 0 ]; then scope=system; else scope=user; fi
  fi
  if [ "$scope" = system ]; then
    unit_dir=$destdir${SYSTEMD_UNIT_DIR:-/etc/systemd/system}
    template=$here/systemd/portwatch.service
  else
    unit_dir=$destdir${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
    template=$here/systemd/portwatch-user.service
  fi
  unit=$unit_dir/portwatch.service
  local ctl="systemctl"
  [ "$scope" = user ] && ctl="systemctl --user"
  if [ "$action" = uninstall ]; then
    rm -f "$unit"
    echo "removed $unit (stop a running one with: $ctl disable --now portwatch)"
    return 0
  fi
  [ -n "$program" ] || program=$(command -v portwatch || true)
  case $program in
    /*) ;;
    "") echo "install.sh: portwatch is not on PATH; say where it is with --exec /path/to/portwatch" >&2
        exit 2 ;;
    *) echo "install.sh: --exec needs an absolute path for a service, not $program" >&2; exit 2 ;;
  esac
  # Unit files give %, $, spaces and quotes meanings of their own: keep paths plain.
  for path in "$program" "$textfile"; do
    case $path in
      *[!A-Za-z0-9_/.+,=:@-]*)
        echo "install.sh: for a service, paths must be plain (letters, digits, _ / . + , = : @ -): $path" >&2
        exit 2 ;;
    esac
  done
  [ -z "$destdir" ] && [ ! -x "$program" ] && echo "note: $program is not an executable file (yet)" >&2
  args="" rw=""
  if [ -n "$textfile" ]; then
    case $textfile in /*) ;; *) echo "install.sh: --textfile needs an absolute path" >&2; exit 2 ;; esac
    args="--textfile $textfile"
    rw="ReadWritePaths=$textfile"
    [ -z "$destdir" ] && [ ! -d "$textfile" ] && echo "note: $textfile does not exist yet; the service fails until it does" >&2
  fi
  # A program (or the interpreter its #! line names, e.g. a venv's python) in a home folder
  # must stay readable there.
  home=yes
  local interpreter=""
  if [ -f "$program" ] && [ "$(head -c 2 "$program" 2>/dev/null)" = "#!" ]; then
    interpreter=$(head -n 1 "$program" | sed 's/^#![[:space:]]*//; s/[[:space:]].*//')
    interpreter=$(readlink -f "$interpreter" 2>/dev/null || printf '%s' "$interpreter")
  fi
  case "$program $interpreter" in *"/home/"*|*"/root/"*|/root*) home=read-only ;; esac
  install -d "$unit_dir"
  sed -e "s|@EXEC@|$program|" -e "s|@ARGS@|$args|" -e "s|^@READWRITE@\$|$rw|" \
      -e "s|^ProtectHome=yes\$|ProtectHome=$home|" "$template" >"$unit.tmp"
  chmod 644 "$unit.tmp"
  mv -f "$unit.tmp" "$unit"
  echo "installed $unit"
  if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then
    $ctl daemon-reload || true
    echo "start it now and at every boot with: $ctl enable --now portwatch"
  else
    echo "systemd is not running here; on a systemd machine: $ctl enable --now portwatch"
  fi
}
