variable "name" {
  description = "Launch template name and the nodes' Name tag."
  type        = string
}

variable "deployment" {
  description = "Deployment name (the bunri:deployment tag; IAM conditions match it)."
  type        = string
}

variable "role" {
  description = "Node role: api, worker-storage, worker-ai, worker-character, broker or data (the bunri:role tag)."
  type        = string

  validation {
    condition     = contains(["api", "worker-storage", "worker-ai", "worker-character", "broker", "data"], var.role)
    error_message = "The role must be one of api, worker-storage, worker-ai, worker-character, broker, data."
  }
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "cpu_credits" {
  description = "T3 credit mode: unlimited (AWS's default: bursts past the 20% baseline bill extra vCPU hours) or standard (throttled to the baseline)."
  type        = string
  default     = "unlimited"
}

variable "ami_id" {
  description = "AMI to launch (null: the newest Ubuntu 24.04 LTS from Canonical)."
  type        = string
  default     = null
}

variable "ami_owner" {
  description = "Owner of the looked-up AMI (Canonical)."
  type        = string
  default     = "099720109477"
}

variable "ami_name_pattern" {
  description = "Name pattern of the looked-up AMI."
  type        = string
  default     = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
}

variable "security_group_ids" {
  type = list(string)
}

variable "instance_profile_name" {
  type = string
}

variable "user_data" {
  description = "Rendered cloud-init user data (plain text; gzipped here)."
  type        = string
}

variable "root_volume_size_gib" {
  type    = number
  default = 20
}

variable "detailed_monitoring" {
  description = "One-minute EC2 metrics (billed per metric); the CloudWatch agent sends memory and disk anyway."
  type        = bool
  default     = false
}

variable "tags" {
  type    = map(string)
  default = {}
}
