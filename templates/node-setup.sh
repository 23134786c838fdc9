#!/bin/sh
# Prepares one server for stekctl: the key directory (root, 0700) and the managed file the
# server config includes. Run it once per node, as root; running it again changes nothing
# that is already in place, and it never prints key bytes.
#
#   node-setup.sh nginx   [KEY_DIR]     default KEY_DIR /etc/nginx/tickets
#   node-setup.sh apache  [KEY_DIR]     default KEY_DIR /etc/apache2/tickets
#   node-setup.sh haproxy [KEY_DIR] [EXISTING_TICKETS_KEYS]
#                                       default KEY_DIR /etc/haproxy/tickets
#
# KEY_DIR must match the pool's (or node's) `keyDir` in the inventory.
#
# nginx, Apache: the managed file is KEY_DIR/tickets.conf, created empty. Until the first
# `stekctl rotate`, the server keeps using a random key of its own, as it does today.
#
# HAProxy: the managed file is KEY_DIR/tickets.keys, and HAProxy refuses to start unless it
# holds at least three keys. An existing KEY_DIR/tickets.keys is kept as it is: stekctl adopts
# its keys at the first rotation, so tickets issued under them keep resuming. If your bind
# line points at a tickets file elsewhere, name it as EXISTING_TICKETS_KEYS: it is copied into
# KEY_DIR so that moving the bind line to the new path keeps the same keys. Otherwise three
# random keys of KEY_SIZE bytes (80, or 48; it must equal the pool's keySize) are written.
set -eu

die() {
  echo "node-setup: $*" >&2
  exit 1
}

# Three random keys, one base64 line each: HAProxy's minimum.
random_keys() {
  for i in 1 2 3; do
    head -c "$key_size" /dev/urandom | base64 -w0
    echo
  done
}

# Prints the number of base64 lines of 48 or 80 bytes in $1.
count_keys() {
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in "" | "#"*) continue ;; esac
    size=$(printf %s "$line" | base64 -d 2>/dev/null | wc -c)
    case "$size" in 48 | 80) n=$((n + 1)) ;; esac
  done <"$1"
  echo "$n"
}

kind=${1:-}
case "$kind" in
  nginx) dir=${2:-/etc/nginx/tickets} managed=tickets.conf ;;
  apache) dir=${2:-/etc/apache2/tickets} managed=tickets.conf ;;
  haproxy) dir=${2:-/etc/haproxy/tickets} managed=tickets.keys ;;
  *) die "usage: $0 nginx|apache|haproxy [KEY_DIR] [EXISTING_TICKETS_KEYS (haproxy)]" ;;
esac
existing=${3:-}
key_size=${KEY_SIZE:-80}

case "$dir" in
  /*) ;;
  *) die "KEY_DIR must be an absolute path: $dir" ;;
esac
[ "$(id -u)" -eq 0 ] || die "run as root: the key directory belongs to root"
[ -z "$existing" ] || [ "$kind" = haproxy ] || die "EXISTING_TICKETS_KEYS applies to haproxy only"
case "$key_size" in 48 | 80) ;; *) die "KEY_SIZE must be 48 or 80, not $key_size" ;; esac

# Everything created below is readable by root only.
umask 077
file="$dir/$managed"

if [ -n "$existing" ] && [ ! -f "$file" ]; then
  [ -f "$existing" ] || die "no such file: $existing"
  [ "$(count_keys "$existing")" -ge 3 ] || die "$existing holds fewer than 3 keys of 48 or 80 bytes"
fi

if [ -d "$dir" ]; then
  echo "key directory $dir exists"
else
  mkdir -p "$dir"
  echo "created key directory $dir"
fi
chown root:root "$dir"
chmod 0700 "$dir"

case "$kind" in
  nginx | apache)
    if [ -f "$file" ]; then
      echo "managed file $file exists; left as it is"
    else
      : >"$file"
      echo "created empty managed file $file"
    fi
    ;;
  haproxy)
    if [ -f "$file" ]; then
      echo "managed file $file exists with $(count_keys "$file") key(s): stekctl adopts them at the first rotation"
    elif [ -n "$existing" ]; then
      cp "$existing" "$file.tmp"
      mv -f "$file.tmp" "$file"
      echo "copied the $(count_keys "$file") key(s) of $existing to $file: stekctl adopts them at the first rotation"
    else
      random_keys >"$file.tmp"
      mv -f "$file.tmp" "$file"
      echo "created $file with 3 random $key_size-byte keys (HAProxy needs at least 3)"
    fi
    ;;
esac
chown root:root "$file"
chmod 0600 "$file"

fs=$(stat -f -c %T "$dir" 2>/dev/null || echo unknown)
if [ "$fs" != tmpfs ]; then
  echo "note: $dir is on $fs; on tmpfs the keys never reach a disk (see the README, Security)"
fi

echo
echo "Next, if not done yet:"
case "$kind" in
  nginx)
    echo "  1. in http {} of nginx.conf (or conf.d/stekctl-tickets.conf on Debian):"
    echo "       include $file;"
    echo "  2. nginx -t && systemctl reload nginx"
    ;;
  apache)
    echo "  1. in every TLS <VirtualHost> of the pool:"
    echo "       Include $file"
    echo "  2. apache2ctl -t && systemctl reload apache2"
    ;;
  haproxy)
    echo "  1. on every TLS bind line of the pool's frontends:"
    echo "       bind ... ssl crt ... tls-ticket-keys $file"
    echo "     and no 'no-tls-tickets' in ssl-default-bind-options or on the bind line"
    echo "  2. haproxy -c -f /etc/haproxy/haproxy.cfg && systemctl reload haproxy"
    ;;
esac
echo "  3. from the control host: stekctl status -i INVENTORY (the node shows 'included')"
