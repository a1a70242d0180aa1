variable "name" {
  description = "Auto scaling group and launch template name."
  type        = string
}

variable "deployment" {
  type = string
}

variable "role" {
  description = "worker-storage, worker-ai or worker-character."
  type        = string

  validation {
    condition     = contains(["worker-storage", "worker-ai", "worker-character"], var.role)
    error_message = "The role must be worker-storage, worker-ai or worker-character."
  }
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "cpu_credits" {
  type    = string
  default = "unlimited"
}

variable "ami_id" {
  type    = string
  default = null
}

variable "security_group_ids" {
  type = list(string)
}

variable "instance_profile_name" {
  type = string
}

variable "user_data" {
  type = string
}

variable "root_volume_size_gib" {
  type    = number
  default = 20
}

variable "subnet_ids" {
  description = "Private subnets, one per zone."
  type        = list(string)
}

variable "availability_zones" {
  description = "Zones of subnet_ids (journal volumes are created in each)."
  type        = list(string)
}

variable "min_size" {
  type    = number
  default = 1

  validation {
    condition     = var.min_size >= 1
    error_message = "Keep at least one worker: the backlog-per-node metric needs a node to divide by and the queues need a consumer."
  }
}

variable "max_size" {
  type    = number
  default = 4
}

variable "queue_names" {
  description = "The RabbitMQ queues this role consumes (their ready messages are summed)."
  type        = list(string)
}

variable "queue_metric_namespace" {
  type = string
}

variable "queue_metric_name" {
  type    = string
  default = "MessagesReady"
}

variable "backlog_per_instance_target" {
  description = "Ready messages per node the group aims at: what one node clears in an acceptable wait."
  type        = number
}

variable "instance_warmup_seconds" {
  description = "Seconds from launch until a node consumes (install, model load)."
  type        = number
  default     = 600
}

variable "journal_volume_size_gib" {
  type    = number
  default = 4
}

variable "journal_volume_tag" {
  description = "Value of the bunri:journal tag that marks this role's journal volumes."
  type        = string
}

variable "drain_hook_name" {
  type    = string
  default = "drain"
}

variable "drain_timeout_seconds" {
  description = "How long a terminating node may drain before it is terminated anyway."
  type        = number
  default     = 900
}

variable "tags" {
  type    = map(string)
  default = {}
}
