"""RabbitMQ: the topology (one source of truth), task messages in Celery's protocol, confirmed
publishing from async services, and the outbox for when the broker cannot be reached."""
