variable "name" {
  description = "Prefix of every resource's Name tag."
  type        = string
}

variable "region" {
  description = "AWS region, for the S3 gateway endpoint's service name."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's IPv4 range; subnets are /24s carved from it."
  type        = string
}

variable "az_count" {
  description = "How many availability zones get a public and a private subnet."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2
    error_message = "Use at least two availability zones (the load balancer needs two)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone (cheaper) instead of one per zone (zone-independent egress)."
  type        = bool
  default     = true
}
