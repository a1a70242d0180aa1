# The cloud-init user data of one node role, as a #cloud-config document: write_files puts the
# configuration, scripts and systemd units in place, then one bootstrap script (templates/
# bootstrap-*.sh.tftpl) installs and starts everything in the right order. Settings come from SSM
# Parameter Store at every boot (bunri-env.service), never from the user data itself, which holds
# no secret.

locals {
  is_worker = contains(["worker-storage", "worker-ai", "worker-character"], var.role)
  is_app    = contains(["api", "worker-storage", "worker-ai", "worker-character"], var.role)

  # What each application role installs from the workspace and runs. programs is the `bunri`
  # command: migrations and the reaper on API nodes, `bunri worker alive` on worker nodes.
  members = {
    api                = ["libs/bunri", "programs", "services/auth-api", "services/scan-api", "services/chat-api", "services/my-api", "services/character-api", "services/location-api", "services/info-api"]
    "worker-storage"   = ["libs/bunri", "programs", "workers/storage"]
    "worker-ai"        = ["libs/bunri", "programs", "workers/ai"]
    "worker-character" = ["libs/bunri", "programs", "workers/character"]
  }
  workers = {
    "worker-storage"   = { unit = "bunri-storage-worker", service_name = "storage-worker" }
    "worker-ai"        = { unit = "bunri-ai-worker", service_name = "ai-worker" }
    "worker-character" = { unit = "bunri-character-worker", service_name = "character-worker" }
  }
  worker = lookup(local.workers, var.role, { unit = "", service_name = "" })

  venv = "/opt/bunri/venv/bin"
  # Celery's warm shutdown waits for running tasks (the AI worker's hard limit is 180 s).
  worker_service_lines = [
    "Restart=always",
    "RestartSec=5",
    "KillMode=mixed",
    "TimeoutStopSec=300",
  ]
  api_service_lines = ["Restart=always", "RestartSec=5"]
  after_migrations  = ["Wants=bunri-migrate.service", "After=bunri-migrate.service"]

  # systemd units of the application roles: name => (description, type, command, extra lines).
  app_units = {
    api = {
      "bunri-migrate" = {
        description   = "Bunri database migrations (bunri db upgrade)"
        type          = "oneshot"
        exec_start    = "${local.venv}/bunri db upgrade"
        unit_lines    = []
        service_lines = ["RemainAfterExit=yes", "Restart=on-failure", "RestartSec=15"]
      }
      "bunri-auth-api" = {
        description   = "Bunri auth-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-auth-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      "bunri-scan-api" = {
        description   = "Bunri scan-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-scan-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      "bunri-chat-api" = {
        description   = "Bunri chat-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-chat-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      "bunri-my-api" = {
        description   = "Bunri my-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-my-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      "bunri-character-api" = {
        description   = "Bunri character-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-character-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      "bunri-location-api" = {
        description   = "Bunri location-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-location-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      "bunri-info-api" = {
        description   = "Bunri info-api"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-info-api"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      # Dead letters fail their scans; several reapers (one per API node) share the queues safely.
      "bunri-reaper" = {
        description   = "Bunri reaper (dead-letter queues)"
        type          = "simple"
        exec_start    = "${local.venv}/bunri reaper"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
      # The last complete week's reports, each hour; one per API node is safe (each report is
      # written once, by an insert that keeps the first).
      "bunri-weekly-reports" = {
        description   = "Bunri weekly reports"
        type          = "simple"
        exec_start    = "${local.venv}/bunri my weekly-reports --every 3600"
        unit_lines    = local.after_migrations
        service_lines = local.api_service_lines
      }
    }
    "worker-storage" = {
      "bunri-storage-worker" = {
        description   = "Bunri storage worker (Celery, eventlet)"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-storage-worker"
        unit_lines    = local.after_journal_volume
        service_lines = local.worker_service_lines
      }
    }
    "worker-ai" = {
      "bunri-ai-worker" = {
        description   = "Bunri AI worker (Celery, prefork)"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-ai-worker"
        unit_lines    = local.after_journal_volume
        service_lines = local.worker_service_lines
      }
    }
    "worker-character" = {
      "bunri-character-worker" = {
        description   = "Bunri character worker (Celery, prefork)"
        type          = "simple"
        exec_start    = "${local.venv}/bunri-character-worker"
        unit_lines    = local.after_journal_volume
        service_lines = local.worker_service_lines
      }
    }
  }
  after_journal_volume = [
    "Requires=bunri-journal-volume.service",
    "After=bunri-journal-volume.service",
    "RequiresMountsFor=${var.journal_mount}",
  ]
  units = lookup(local.app_units, var.role, {})

  # /etc/bunri/node.env: what this node is and how it is laid out. Every unit reads it before
  # /etc/bunri/bunri.env (the SSM settings). Names without the BUNRI_ prefix are for the node's
  # own scripts, not for the services.
  node_env = merge(
    {
      AWS_DEFAULT_REGION   = var.region
      NODE_ROLE            = var.role
      NODE_DEPLOYMENT      = var.deployment
      NODE_PARAMETER_PATHS = join(" ", var.parameter_paths)
      NODE_ENV_GROUP       = local.is_app ? "bunri" : "root"
    },
    local.is_app ? tomap({
      NODE_SOURCE_REPOSITORY = var.source_repository_url
      NODE_SOURCE_REF        = var.source_ref
      NODE_MEMBERS           = join(" ", lookup(local.members, var.role, []))
      BUNRI_STATE_DIR        = "/var/lib/bunri"
    }) : tomap({}),
    local.is_worker ? tomap({
      NODE_JOURNAL_MOUNT      = var.journal_mount
      NODE_JOURNAL_VOLUME_TAG = var.journal_volume_tag
      NODE_ASG_NAME           = var.autoscaling_group_name
      NODE_DRAIN_HOOK         = var.drain_hook_name
      NODE_WORKER_UNIT        = "${local.worker.unit}.service"
      BUNRI_JOURNAL_PATH      = "${var.journal_mount}/${local.worker.service_name}.sqlite3"
      BUNRI_HEARTBEAT_PATH    = "/var/lib/bunri/heartbeat/${local.worker.service_name}.json"
    }) : tomap({}),
    var.role == "worker-ai" ? tomap({ PIP_EXTRA_INDEX_URL = "https://download.pytorch.org/whl/cpu" }) : tomap({}),
    var.role == "broker" ? tomap({ NODE_QUEUE_METRIC_NAMESPACE = var.queue_metric_namespace }) : tomap({}),
  )

  log_files = concat(
    [
      { file_path = "/var/log/bunri/bunri.log", stream = "bunri" },
      { file_path = "/var/log/cloud-init-output.log", stream = "cloud-init" },
    ],
    var.role == "broker" ? [{ file_path = "/var/log/rabbitmq/rabbit@localhost.log", stream = "rabbitmq" }] : [],
    var.role == "data" ? [
      { file_path = "/var/log/postgresql/postgresql-*-main.log", stream = "postgresql" },
      { file_path = "/var/log/redis/redis-server.log", stream = "redis" },
    ] : [],
  )
  disk_mounts = concat(
    ["/"],
    local.is_worker ? [var.journal_mount] : [],
    contains(["broker", "data"], var.role) ? ["/srv/bunri-state"] : [],
  )
  cloudwatch_agent_config = {
    agent = { run_as_user = "root" }
    metrics = {
      namespace         = "Bunri/Nodes"
      append_dimensions = { InstanceId = "$${aws:InstanceId}" }
      metrics_collected = {
        mem  = { measurement = ["mem_used_percent"] }
        disk = { measurement = ["used_percent"], resources = local.disk_mounts }
      }
    }
    logs = {
      logs_collected = {
        files = {
          collect_list = [
            for log in local.log_files : {
              file_path       = log.file_path
              log_group_name  = var.log_group_name
              log_stream_name = "{instance_id}/${log.stream}"
            }
          ]
        }
      }
    }
  }

  bootstrap_template = {
    api                = "bootstrap-app.sh.tftpl"
    "worker-storage"   = "bootstrap-app.sh.tftpl"
    "worker-ai"        = "bootstrap-app.sh.tftpl"
    "worker-character" = "bootstrap-app.sh.tftpl"
    broker             = "bootstrap-broker.sh.tftpl"
    data               = "bootstrap-data.sh.tftpl"
  }
  bootstrap = templatefile("${path.module}/templates/${local.bootstrap_template[var.role]}", {
    role           = var.role
    region         = var.region
    vpc_cidr_block = var.vpc_cidr_block
    extra_packages = var.role == "api" ? ["nginx"] : []
    units = concat(
      [for name in keys(local.units) : "${name}.service"],
      local.is_worker ? ["bunri-drain.timer", "bunri-worker-liveness.timer"] : [],
    )
  })

  common_files = [
    { path = "/etc/bunri/node.env", permissions = "0644", content = join("", [for name, value in local.node_env : "${name}=\"${value}\"\n"]) },
    { path = "/etc/bunri/cloudwatch-agent.json", permissions = "0644", content = jsonencode(local.cloudwatch_agent_config) },
    { path = "/usr/local/lib/bunri/common.sh", permissions = "0644", content = file("${path.module}/files/common.sh") },
    { path = "/usr/local/lib/bunri/fetch_env.py", permissions = "0755", content = file("${path.module}/files/fetch_env.py") },
    { path = "/usr/local/lib/bunri/imds.py", permissions = "0644", content = file("${path.module}/files/imds.py") },
    { path = "/etc/systemd/system/bunri-env.service", permissions = "0644", content = file("${path.module}/templates/bunri-env.service") },
    { path = "/etc/rsyslog.d/30-bunri.conf", permissions = "0644", content = ":programname, startswith, \"bunri-\" /var/log/bunri/bunri.log\n" },
    { path = "/etc/logrotate.d/bunri", permissions = "0644", content = "/var/log/bunri/*.log {\n  daily\n  rotate 7\n  compress\n  missingok\n  notifempty\n  copytruncate\n}\n" },
    { path = "/usr/local/sbin/bunri-bootstrap", permissions = "0755", content = local.bootstrap },
  ]

  app_files = local.is_app ? concat(
    [{ path = "/usr/local/sbin/bunri-install", permissions = "0755", content = file("${path.module}/files/install.sh") }],
    [
      for name, unit in local.units : {
        path        = "/etc/systemd/system/${name}.service"
        permissions = "0644"
        content = templatefile("${path.module}/templates/bunri-app.service.tftpl", {
          name          = name
          description   = unit.description
          type          = unit.type
          exec_start    = unit.exec_start
          unit_lines    = unit.unit_lines
          service_lines = unit.service_lines
        })
      }
    ],
  ) : []

  api_files = var.role == "api" ? [
    {
      path        = "/etc/nginx/sites-available/bunri"
      permissions = "0644"
      content = templatefile("${path.module}/templates/nginx-gateway.conf.tftpl", {
        vpc_cidr_block = var.vpc_cidr_block
        gateway_port   = var.gateway_port
      })
    },
  ] : []

  worker_files = local.is_worker ? [
    { path = "/usr/local/lib/bunri/journal_volume.py", permissions = "0755", content = file("${path.module}/files/journal_volume.py") },
    { path = "/usr/local/lib/bunri/drain.py", permissions = "0755", content = file("${path.module}/files/drain.py") },
    { path = "/usr/local/sbin/bunri-worker-liveness", permissions = "0755", content = file("${path.module}/files/worker-liveness.sh") },
    { path = "/etc/systemd/system/bunri-journal-volume.service", permissions = "0644", content = file("${path.module}/templates/bunri-journal-volume.service") },
    { path = "/etc/systemd/system/bunri-drain.service", permissions = "0644", content = templatefile("${path.module}/templates/bunri-drain.service.tftpl", { drain_timeout_seconds = var.drain_timeout_seconds }) },
    { path = "/etc/systemd/system/bunri-drain.timer", permissions = "0644", content = file("${path.module}/templates/bunri-drain.timer") },
    {
      path        = "/etc/systemd/system/bunri-worker-liveness.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/bunri-worker-liveness.service.tftpl", {
        worker_unit               = "${local.worker.unit}.service"
        heartbeat_max_age_seconds = var.heartbeat_max_age_seconds
      })
    },
    { path = "/etc/systemd/system/bunri-worker-liveness.timer", permissions = "0644", content = file("${path.module}/templates/bunri-worker-liveness.timer") },
  ] : []

  broker_files = var.role == "broker" ? [
    # rabbitmq.conf, definitions.json and enabled_plugins are infra/rabbitmq's, unchanged: one
    # source of truth with docker-compose.
    { path = "/etc/rabbitmq/rabbitmq.conf", permissions = "0644", content = var.rabbitmq_config },
    { path = "/etc/rabbitmq/definitions.json", permissions = "0644", content = var.rabbitmq_definitions },
    { path = "/etc/rabbitmq/enabled_plugins", permissions = "0644", content = var.rabbitmq_enabled_plugins },
    # A node name that does not change with the instance's host name, so that a replacement
    # instance finds its database on the state volume.
    { path = "/etc/rabbitmq/rabbitmq-env.conf", permissions = "0644", content = "NODENAME=rabbit@localhost\n" },
    { path = "/usr/local/lib/bunri/queue_metrics.py", permissions = "0755", content = file("${path.module}/files/queue_metrics.py") },
    { path = "/etc/systemd/system/bunri-queue-metrics.service", permissions = "0644", content = file("${path.module}/templates/bunri-queue-metrics.service") },
    { path = "/etc/systemd/system/bunri-queue-metrics.timer", permissions = "0644", content = file("${path.module}/templates/bunri-queue-metrics.timer") },
  ] : []

  data_files = var.role == "data" ? [
    { path = "/etc/bunri/postgresql.conf", permissions = "0644", content = templatefile("${path.module}/templates/postgresql.conf.tftpl", { max_connections = var.postgres_max_connections }) },
    { path = "/etc/bunri/redis.conf", permissions = "0644", content = file("${path.module}/templates/redis.conf") },
  ] : []

  cloud_config = {
    write_files = [
      for entry in concat(local.common_files, local.app_files, local.api_files, local.worker_files, local.broker_files, local.data_files) : {
        path        = entry.path
        permissions = entry.permissions
        content     = entry.content
      }
    ]
    runcmd = [["/usr/local/sbin/bunri-bootstrap"]]
  }
}
