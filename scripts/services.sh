#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) are up for the integration
# tests: leaves running ones alone, starts installed ones, installs missing ones with apt when it can.
# Says what it did. Never fails the test run by itself: tests that need a missing service say so.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
    return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

ensure_postgres() {
    if port_open 5432; then echo "services: PostgreSQL already running on 5432" >&2; return; fi
    if ! command -v pg_ctlcluster >/dev/null; then
        echo "services: PostgreSQL not installed; installing with apt" >&2
        as_root apt-get update -q >/dev/null 2>&1 || true
        as_root apt-get install -y -q postgresql >/dev/null 2>&1 || { echo "services: could not install PostgreSQL" >&2; return; }
    fi
    echo "services: starting PostgreSQL" >&2
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
    wait_port 5432 && echo "services: PostgreSQL up" >&2 || echo "services: PostgreSQL did not come up" >&2
}

ensure_rabbitmq() {
    if port_open 5672; then echo "services: RabbitMQ already running on 5672" >&2; return; fi
    if ! command -v rabbitmq-server >/dev/null; then
        echo "services: RabbitMQ not installed; installing with apt" >&2
        as_root apt-get update -q >/dev/null 2>&1 || true
        as_root apt-get install -y -q rabbitmq-server >/dev/null 2>&1 || { echo "services: could not install RabbitMQ" >&2; return; }
    fi
    echo "services: starting RabbitMQ" >&2
    as_root rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_port 5672 && echo "services: RabbitMQ up" >&2 || echo "services: RabbitMQ did not come up" >&2
}

ensure_postgres
ensure_rabbitmq
exit 0
