variable "region" {
  description = "AWS region (Seoul by default)."
  type        = string
  default     = "ap-northeast-2"
}

variable "name" {
  description = "Project name: the first part of every resource name and of the SSM path."
  type        = string
  default     = "bunri"
}

variable "environment" {
  description = "Environment name (prod, staging, ...): the second part of names and of the SSM path."
  type        = string
  default     = "prod"
}

variable "vpc_cidr" {
  type    = string
  default = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones used (at least 2)."
  type        = number
  default     = 2
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (about $43/month saved) instead of one per zone."
  type        = bool
  default     = true
}

variable "source_repository_url" {
  description = "Git URL the application nodes install Bunri from (HTTPS; a private repository needs a URL the nodes can read, e.g. a CodeCommit mirror)."
  type        = string
}

variable "source_ref" {
  description = "Branch or tag of source_repository_url to install."
  type        = string
  default     = "main"
}

variable "ami_id" {
  description = "AMI for every node (null: the newest Ubuntu 24.04 LTS from Canonical). Pin one for repeatable launches."
  type        = string
  default     = null
}

variable "cpu_credits" {
  description = "T3 credit mode of every node: unlimited (AWS's default) or standard."
  type        = string
  default     = "unlimited"

  validation {
    condition     = contains(["unlimited", "standard"], var.cpu_credits)
    error_message = "The cpu_credits mode must be unlimited or standard."
  }
}

variable "api_instance_type" {
  type    = string
  default = "t3.small"
}

variable "storage_worker_instance_type" {
  type    = string
  default = "t3.small"
}

variable "ai_worker_instance_type" {
  type    = string
  default = "t3.small"
}

variable "character_worker_instance_type" {
  type    = string
  default = "t3.small"
}

variable "broker_instance_type" {
  type    = string
  default = "t3.small"
}

variable "data_instance_type" {
  type    = string
  default = "t3.small"
}

variable "api_min_size" {
  type    = number
  default = 1
}

variable "api_max_size" {
  type    = number
  default = 3
}

variable "storage_worker_min_size" {
  type    = number
  default = 1
}

variable "storage_worker_max_size" {
  type    = number
  default = 4
}

variable "ai_worker_min_size" {
  type    = number
  default = 1
}

variable "ai_worker_max_size" {
  type    = number
  default = 3
}

variable "character_worker_min_size" {
  type    = number
  default = 1
}

variable "character_worker_max_size" {
  type    = number
  default = 2
}

variable "storage_backlog_per_instance" {
  description = "Ready scan.image_upload + my.profile_photos + my.account_erasure messages per storage node the group aims at (a node normalises roughly 20 photos a second)."
  type        = number
  default     = 200
}

variable "ai_backlog_per_instance" {
  description = "Ready scan.ai_analysis + chat.batch messages per AI node the group aims at (CLIP on two vCPUs: a few images a second)."
  type        = number
  default     = 20
}

variable "character_backlog_per_instance" {
  description = "Ready character.events + character.rewards messages per character node the group aims at (points are a few rows a message: hundreds a second)."
  type        = number
  default     = 1000
}

variable "ai_worker_concurrency" {
  description = "Prefork children per AI node (BUNRI_AI_WORKER_CONCURRENCY); 2 fits CLIP in a t3.small's 2 GiB."
  type        = number
  default     = 2
}

variable "ai_worker_root_volume_size_gib" {
  description = "Root disk of AI nodes: PyTorch and the model weights."
  type        = number
  default     = 30
}

variable "journal_volume_size_gib" {
  type    = number
  default = 4
}

variable "broker_volume_size_gib" {
  description = "RabbitMQ's state volume; scan.image_upload alone may hold 2 GiB and the broker blocks publishers below 2 GB free."
  type        = number
  default     = 20
}

variable "data_volume_size_gib" {
  description = "PostgreSQL's and Redis's state volume."
  type        = number
  default     = 20
}

variable "postgres_max_connections" {
  type    = number
  default = 200
}

variable "snapshot_retention_count" {
  description = "Daily snapshots kept of the broker and data volumes."
  type        = number
  default     = 7
}

variable "certificate_arn" {
  description = "ACM certificate in this region for HTTPS on the load balancer (null: plain HTTP only, for a first try)."
  type        = string
  default     = null
}

variable "domain_name" {
  description = "Public host name pointing at the load balancer (you create the DNS record); null uses the load balancer's own name."
  type        = string
  default     = null
}

variable "alb_deletion_protection" {
  type    = bool
  default = false
}

variable "bucket_name" {
  description = "Scan-image bucket name (null: <name>-<environment>-scans-<account id>)."
  type        = string
  default     = null
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the scan-image bucket with every image in it."
  type        = bool
  default     = false
}

variable "original_glacier_ir_after_days" {
  description = "Days before an original image moves to Glacier Instant Retrieval (Standard-IA after 30)."
  type        = number
  default     = 120
}

variable "original_expiration_days" {
  description = "Delete original images after this many days (null: keep)."
  type        = number
  default     = null
}

variable "log_retention_days" {
  type    = number
  default = 30
}
