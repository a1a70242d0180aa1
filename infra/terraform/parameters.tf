# Settings the nodes read from SSM Parameter Store at every boot (/etc/bunri/bunri.env). Terraform
# writes what it knows: addresses, the bucket, and the passwords of the services it runs (generated
# here, so they are in the state: keep the state encrypted, see versions.tf). Secrets only a person
# has (the token signing key, OAuth client secrets, the LLM key, location-api's Kakao Local REST
# key as api/BUNRI_KAKAO_REST_API_KEY) are put by hand under the same paths, so that they never
# enter the state; see the README.

resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "random_password" "redis" {
  length  = 32
  special = false
}

resource "random_password" "rabbitmq_app" {
  length  = 32
  special = false
}

resource "random_password" "rabbitmq_monitor" {
  length  = 32
  special = false
}

locals {
  plain_parameters = {
    "common/BUNRI_ENVIRONMENT"              = "production"
    "common/BUNRI_LOG_JSON"                 = "true"
    "common/BUNRI_S3_REGION"                = var.region
    "api/BUNRI_S3_BUCKET"                   = module.bucket.name
    "api/BUNRI_PUBLIC_BASE_URL"             = local.gateway_url
    "api/BUNRI_AUTH_JWKS_URL"               = "http://127.0.0.1:8001/.well-known/jwks.json"
    "worker-storage/BUNRI_S3_BUCKET"        = module.bucket.name
    "worker-ai/BUNRI_AI_WORKER_CONCURRENCY" = tostring(var.ai_worker_concurrency)
    "broker/RABBITMQ_APP_USER"              = "bunri"
    "broker/RABBITMQ_MONITOR_USER"          = "monitor"
  }

  # Names are static so that for_each never depends on a secret; values are looked up by name.
  secret_parameter_names = toset([
    "common/BUNRI_DATABASE_URL",
    "common/BUNRI_REDIS_URL",
    "common/BUNRI_BROKER_URL",
    "broker/RABBITMQ_APP_PASSWORD",
    "broker/RABBITMQ_MONITOR_PASSWORD",
    "data/POSTGRES_BUNRI_PASSWORD",
    "data/REDIS_PASSWORD",
  ])
  secret_parameter_values = {
    "common/BUNRI_DATABASE_URL"        = "postgresql+asyncpg://bunri:${random_password.postgres.result}@${local.data_private_ip}:5432/bunri"
    "common/BUNRI_REDIS_URL"           = "redis://:${random_password.redis.result}@${local.data_private_ip}:6379/0"
    "common/BUNRI_BROKER_URL"          = "amqp://bunri:${random_password.rabbitmq_app.result}@${local.broker_private_ip}:5672//"
    "broker/RABBITMQ_APP_PASSWORD"     = random_password.rabbitmq_app.result
    "broker/RABBITMQ_MONITOR_PASSWORD" = random_password.rabbitmq_monitor.result
    "data/POSTGRES_BUNRI_PASSWORD"     = random_password.postgres.result
    "data/REDIS_PASSWORD"              = random_password.redis.result
  }
}

resource "aws_ssm_parameter" "plain" {
  for_each = local.plain_parameters

  name  = "${local.parameter_prefix}/${each.key}"
  type  = "String"
  value = each.value
}

resource "aws_ssm_parameter" "secret" {
  for_each = local.secret_parameter_names

  name  = "${local.parameter_prefix}/${each.key}"
  type  = "SecureString"
  value = local.secret_parameter_values[each.key]
}
