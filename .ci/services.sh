#!/usr/bin/env bash
# Makes sure the brokers the test suite talks to are up: RabbitMQ and NATS (with JetStream) are
# installed on this machine kind and normally started before CI; start them if they are not.
# ActiveMQ Classic is not pre-installed: activemq.sh installs and starts it. podman.sh installs
# podman (for the container executor) and builds its local test image.
set -euo pipefail
cd "$(dirname "$0")"

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do port_open "$port" && { echo "services.sh: $name is up on $port"; return 0; }; sleep 1; done
  echo "services.sh: ERROR: $name did not come up on 127.0.0.1:$port" >&2
  return 1
}

if ! port_open 5672; then
  echo "services.sh: starting RabbitMQ"
  rabbitmq-server -detached
fi
wait_port RabbitMQ 5672

if ! port_open 4222; then
  echo "services.sh: starting NATS with JetStream"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
wait_port NATS 4222

./activemq.sh
./podman.sh
