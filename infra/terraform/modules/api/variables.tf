variable "name" {
  description = "Name of the load balancer, target group, auto scaling group and launch template."
  type        = string
}

variable "deployment" {
  type = string
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

variable "vpc_id" {
  type = string
}

variable "public_subnet_ids" {
  type = list(string)
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "alb_security_group_id" {
  type = string
}

variable "node_security_group_id" {
  type = string
}

variable "gateway_port" {
  type    = number
  default = 80
}

variable "certificate_arn" {
  description = "ACM certificate (same region) for HTTPS; null serves plain HTTP only."
  type        = string
  default     = null
}

variable "deletion_protection" {
  type    = bool
  default = false
}

variable "min_size" {
  type    = number
  default = 1
}

variable "max_size" {
  type    = number
  default = 3
}

variable "cpu_target_percent" {
  description = "Average CPU the group aims at. Keep it under the t3 baseline burst budget in mind: 20% per vCPU is free, above that spends credits."
  type        = number
  default     = 50
}

variable "tags" {
  type    = map(string)
  default = {}
}
