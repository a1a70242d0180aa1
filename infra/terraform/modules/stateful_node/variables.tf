variable "name" {
  type = string
}

variable "deployment" {
  type = string
}

variable "role" {
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

variable "subnet_id" {
  type = string
}

variable "availability_zone" {
  description = "The subnet's zone: the state volume must live in the same one."
  type        = string
}

variable "private_ip" {
  description = "Fixed private address, kept across instance replacement."
  type        = string
}

variable "state_volume_size_gib" {
  type = number
}

variable "backup_tag" {
  description = "Value of the bunri:backup tag on the state volume (the snapshot policy selects it)."
  type        = string
  default     = "daily"
}

variable "tags" {
  type    = map(string)
  default = {}
}
