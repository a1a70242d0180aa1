#!/bin/sh
# docker-compose's RabbitMQ: writes the definitions the node imports at boot (rabbitmq.conf's
# definitions.local.path), made of the platform's user and definitions.json's topology, then runs
# the image's own entry point ("$@").
#
# A node that imports definitions at boot creates no default user (RabbitMQ's access-control
# guide, "Default Virtual Host and User"), and definitions.json holds no credentials: the user comes
# from RABBITMQ_USER / RABBITMQ_PASSWORD (.env) and is written beside the topology, in one file.
set -eu

topology="${RABBITMQ_TOPOLOGY_FILE:-/etc/bunri/topology.json}"
definitions="${RABBITMQ_DEFINITIONS_FILE:-/etc/rabbitmq/definitions.json}"

for value in "${RABBITMQ_USER:-}" "${RABBITMQ_PASSWORD:-}"; do
    case "$value" in
        "" | *[!A-Za-z0-9._~-]*)
            # They are spliced into JSON here and into the services' AMQP URLs.
            echo "RABBITMQ_USER and RABBITMQ_PASSWORD must be set, with letters, digits and ._~- only" >&2
            exit 1
            ;;
    esac
done

umask 077
{
    printf '{\n  "users": [{"name": "%s", "password": "%s", "tags": "administrator"}],\n' \
        "$RABBITMQ_USER" "$RABBITMQ_PASSWORD"
    printf '  "permissions": [{"user": "%s", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],\n' \
        "$RABBITMQ_USER"
    # The topology's members, without its opening brace.
    sed '1s/^[[:space:]]*{//' "$topology"
} > "$definitions"
if [ "$(id -u)" = 0 ] && id rabbitmq > /dev/null 2>&1; then
    # The image's entry point drops to the rabbitmq user before the server reads the file.
    chown rabbitmq:rabbitmq "$definitions"
fi

exec "$@"
