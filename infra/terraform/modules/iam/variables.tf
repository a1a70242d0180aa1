variable "name" {
  description = "Deployment name: prefix of role names, value of the bunri:deployment tag."
  type        = string
}

variable "region" {
  type = string
}

variable "bucket_arn" {
  description = "The image bucket; S3 permissions are limited to its scans/ and profiles/ keys."
  type        = string
}

variable "parameter_prefix" {
  description = "SSM Parameter Store path holding the nodes' settings, e.g. /bunri/prod."
  type        = string
}

variable "worker_asg_names" {
  description = "Auto scaling group name of each worker role (worker-storage, worker-ai, worker-character)."
  type        = map(string)
}

variable "journal_volume_tags" {
  description = "Value of the bunri:journal tag on each worker role's journal volumes."
  type        = map(string)
}

variable "queue_metric_namespace" {
  description = "CloudWatch namespace the broker node publishes queue depths to."
  type        = string
}
