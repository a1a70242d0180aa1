variable "role" {
  description = "api, worker-storage, worker-ai, worker-character, broker or data."
  type        = string

  validation {
    condition     = contains(["api", "worker-storage", "worker-ai", "worker-character", "broker", "data"], var.role)
    error_message = "The role must be one of api, worker-storage, worker-ai, worker-character, broker, data."
  }
}

variable "deployment" {
  type = string
}

variable "region" {
  type = string
}

variable "vpc_cidr_block" {
  description = "Trusted proxies for the gateway; PostgreSQL's allowed clients."
  type        = string
}

variable "parameter_paths" {
  description = "SSM paths read at boot into /etc/bunri/bunri.env, in order (later ones win)."
  type        = list(string)
}

variable "log_group_name" {
  type = string
}

variable "source_repository_url" {
  description = "Git URL the application nodes clone Bunri from."
  type        = string
  default     = ""
}

variable "source_ref" {
  description = "Branch or tag to install."
  type        = string
  default     = "main"
}

variable "gateway_port" {
  type    = number
  default = 80
}

variable "journal_mount" {
  description = "Where a worker node mounts its journal volume."
  type        = string
  default     = "/var/lib/bunri/journal"
}

variable "journal_volume_tag" {
  type    = string
  default = ""
}

variable "autoscaling_group_name" {
  type    = string
  default = ""
}

variable "drain_hook_name" {
  type    = string
  default = "drain"
}

variable "drain_timeout_seconds" {
  type    = number
  default = 900
}

variable "heartbeat_max_age_seconds" {
  description = "A worker whose heartbeat is older than this is restarted."
  type        = number
  default     = 120
}

variable "queue_metric_namespace" {
  type    = string
  default = ""
}

variable "rabbitmq_config" {
  description = "infra/rabbitmq/rabbitmq.conf (broker role)."
  type        = string
  default     = ""
}

variable "rabbitmq_definitions" {
  description = "infra/rabbitmq/definitions.json (broker role)."
  type        = string
  default     = ""
}

variable "rabbitmq_enabled_plugins" {
  description = "infra/rabbitmq/enabled_plugins (broker role)."
  type        = string
  default     = ""
}

variable "postgres_max_connections" {
  type    = number
  default = 200
}
