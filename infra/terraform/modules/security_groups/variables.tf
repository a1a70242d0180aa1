variable "name" {
  description = "Prefix of the security groups' names."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr_block" {
  description = "Inside-the-VPC sources (RabbitMQ management)."
  type        = string
}

variable "gateway_port" {
  description = "Port the API nodes' gateway (nginx) listens on for the load balancer."
  type        = number
  default     = 80
}
