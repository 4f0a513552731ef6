#!/usr/bin/env bash
# Installs and starts ActiveMQ Classic (Debian's package) with the connectors jobwire's STOMP
# tests use, and waits until it answers a STOMP CONNECT:
#   stomp://127.0.0.1:61613       plain STOMP
#   stomp+ssl://127.0.0.1:61614   STOMP over TLS, client certificate required (a throwaway CA)
# Idempotent and non-interactive: safe to run when ActiveMQ is already installed and running.
# The test CA's client files (ca.pem, client.pem, client-key.pem) land in $TLS_DIR/client.
set -euo pipefail

INSTANCE_DIR=/etc/activemq/instances-available/main
CONFIG=$INSTANCE_DIR/activemq.xml
ENABLED=/etc/activemq/instances-enabled/main
BASE=/var/lib/activemq/main
TLS_DIR=/etc/activemq/jobwire-tls
STORE_PASS=jobwire-test
WAIT_SECONDS=${ACTIVEMQ_WAIT_SECONDS:-90}

say() { echo "activemq.sh: $*"; }
die() { echo "activemq.sh: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs a package and writes /etc/activemq)"

# Answers 0 when 127.0.0.1:$1 replies CONNECTED to a STOMP CONNECT within 5 s.
stomp_ready() {
  timeout 5 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
    printf "CONNECT\naccept-version:1.2,1.1\nhost:localhost\n\n\0" >&3
    IFS= read -r line <&3 || exit 1
    printf "DISCONNECT\n\n\0" >&3
    [ "${line%$'"'"'\r'"'"'}" = CONNECTED ]' 2>/dev/null
}

# 1. The package (only `apt-get update` when it is missing: the lists may be stale or absent).
if dpkg-query -W -f='${Status}' activemq 2>/dev/null | grep -q 'install ok installed'; then
  say "package activemq already installed ($(dpkg-query -W -f='${Version}' activemq))"
else
  say "installing Debian package activemq"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq activemq >/dev/null || die "apt-get install -y activemq failed"
  say "installed activemq $(dpkg-query -W -f='${Version}' activemq)"
fi

# 2. The instance config. Debian ships instances-available/main/activemq.xml; if a future
#    package does not, start from the example the package documents.
mkdir -p "$INSTANCE_DIR"
if [ ! -f "$CONFIG" ]; then
  example=$(find /usr/share/doc/activemq /usr/share/activemq -name 'activemq*.xml*' 2>/dev/null | head -n 1 || true)
  [ -n "$example" ] || die "$CONFIG is missing and the package ships no example activemq.xml to copy"
  case "$example" in
    *.gz) zcat "$example" >"$CONFIG" ;;
    *) cp "$example" "$CONFIG" ;;
  esac
  say "created $CONFIG from $example"
fi
grep -q '<transportConnectors>' "$CONFIG" || die "$CONFIG has no <transportConnectors> element to add connectors to"

# 3. A throwaway CA, a broker keystore and a truststore for the TLS connector (made once).
if [ ! -f "$TLS_DIR/broker.p12" ] || [ ! -f "$TLS_DIR/trust.p12" ] || [ ! -f "$TLS_DIR/client/client.pem" ]; then
  command -v openssl >/dev/null || die "openssl is needed to make the test CA"
  command -v keytool >/dev/null || die "keytool (a JDK, installed with activemq) is needed for the truststore"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR/client"
  work=$(mktemp -d)
  (
    cd "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=jobwire test CA' \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout server-key.pem -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj '/CN=jobwire test client' -keyout client-key.pem -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out client.pem 2>/dev/null
    openssl pkcs12 -export -name broker -inkey server-key.pem -in server.pem -certfile ca.pem \
      -passout "pass:$STORE_PASS" -out "$TLS_DIR/broker.p12"
    keytool -importcert -noprompt -alias jobwire-test-ca -file ca.pem -storetype PKCS12 \
      -keystore "$TLS_DIR/trust.p12" -storepass "$STORE_PASS" >/dev/null 2>&1
    cp ca.pem client.pem client-key.pem "$TLS_DIR/client/"
  ) || { rm -rf "$work"; die "could not make the test CA and keystores"; }
  rm -rf "$work"
  chown -R activemq:activemq "$TLS_DIR"
  chmod 0755 "$TLS_DIR" "$TLS_DIR/client"
  chmod 0644 "$TLS_DIR/client/"*
  say "made a throwaway CA, broker keystore and truststore in $TLS_DIR"
fi

# 4. Connectors, the TLS context and garbage collection of empty test queues (each added once,
#    marked with a jobwire comment so a rerun sees it).
changed=no
if ! grep -q 'stomp://127.0.0.1:61613' "$CONFIG"; then
  sed -i 's#<transportConnectors>#<transportConnectors>\n            <transportConnector name="stomp" uri="stomp://127.0.0.1:61613"/>#' "$CONFIG"
  say "added the STOMP connector stomp://127.0.0.1:61613"
  changed=yes
fi
if ! grep -q 'stomp+ssl://127.0.0.1:61614' "$CONFIG"; then
  sed -i 's#<transportConnectors>#<transportConnectors>\n            <transportConnector name="stomp+ssl" uri="stomp+ssl://127.0.0.1:61614?needClientAuth=true"/>#' "$CONFIG"
  say "added the STOMP+TLS connector stomp+ssl://127.0.0.1:61614 (client certificate required)"
  changed=yes
fi
if ! grep -q '<!-- jobwire: tls -->' "$CONFIG"; then
  sed -i "s#</persistenceAdapter>#</persistenceAdapter>\n\n        <!-- jobwire: tls -->\n        <sslContext>\n            <sslContext keyStore=\"file:$TLS_DIR/broker.p12\" keyStorePassword=\"$STORE_PASS\" keyStoreType=\"PKCS12\" trustStore=\"file:$TLS_DIR/trust.p12\" trustStorePassword=\"$STORE_PASS\" trustStoreType=\"PKCS12\"/>\n        </sslContext>#" "$CONFIG"
  say "added the sslContext (keystore and truststore of the test CA)"
  changed=yes
fi
if ! grep -q '<!-- jobwire: gc -->' "$CONFIG"; then
  # Tests make a queue per test; the broker drops the empty, unused ones after a few minutes.
  sed -i 's#dataDirectory="${activemq.base}/data">#dataDirectory="${activemq.base}/data" schedulePeriodForDestinationPurge="60000">#' "$CONFIG"
  sed -i 's#</persistenceAdapter>#</persistenceAdapter>\n\n        <!-- jobwire: gc -->\n        <destinationPolicy>\n            <policyMap>\n                <policyEntries>\n                    <policyEntry queue=">" gcInactiveDestinations="true" inactiveTimoutBeforeGC="300000"/>\n                </policyEntries>\n            </policyMap>\n        </destinationPolicy>#' "$CONFIG"
  say "added garbage collection of inactive queues"
  changed=yes
fi

# 5. Enable the instance; the start script wants its base folder to exist.
if [ ! -e "$ENABLED" ]; then
  ln -s ../instances-available/main "$ENABLED"
  say "enabled the instance: $ENABLED"
fi
mkdir -p "$BASE"
chown activemq:activemq "$BASE"

# 6. Start it (restart when the config changed under a running broker), then wait for STOMP.
if stomp_ready 61613; then
  if [ "$changed" = yes ]; then
    say "config changed: restarting ActiveMQ"
    /etc/init.d/activemq stop || true
    /etc/init.d/activemq start || die "/etc/init.d/activemq start failed"
  else
    say "ActiveMQ is already running and answers STOMP on 127.0.0.1:61613"
    exit 0
  fi
else
  say "starting ActiveMQ"
  /etc/init.d/activemq start || die "/etc/init.d/activemq start failed"
fi

deadline=$((SECONDS + WAIT_SECONDS))
until stomp_ready 61613; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log=$(ls -t "$BASE"/data/*.log 2>/dev/null | head -n 1 || true)
    [ -n "$log" ] && tail -n 40 "$log" >&2
    die "ActiveMQ does not answer a STOMP CONNECT on 127.0.0.1:61613 after ${WAIT_SECONDS}s (see why: /etc/init.d/activemq console main)"
  fi
  sleep 1
done
say "ActiveMQ answers STOMP on 127.0.0.1:61613 (TLS on 127.0.0.1:61614)"
