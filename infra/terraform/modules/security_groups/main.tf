# One security group per role. Inbound rules name the role that may connect by security-group
# reference; only the load balancer takes traffic from the internet, and only on 80 and 443.
# No group opens SSH: operators use SSM Session Manager (aws ssm start-session), which needs no
# inbound port at all.

locals {
  # Roles whose processes talk to the broker, PostgreSQL and Redis.
  application_roles = {
    api              = aws_security_group.api.id
    worker_storage   = aws_security_group.worker_storage.id
    worker_ai        = aws_security_group.worker_ai.id
    worker_character = aws_security_group.worker_character.id
  }

  # Outbound to the internet (through NAT): apt and PyPI, SSM and CloudWatch endpoints, S3, the
  # OAuth providers, the LLM and Kakao Local (location-api). HTTPS everywhere; plain HTTP only
  # because Ubuntu's apt mirrors use it.
  egress_to_internet = {
    for pair in setproduct(keys(local.all_groups), [80, 443]) :
    "${pair[0]}-${pair[1]}" => { group_id = local.all_groups[pair[0]], port = pair[1] }
  }

  all_groups = {
    api              = aws_security_group.api.id
    worker_storage   = aws_security_group.worker_storage.id
    worker_ai        = aws_security_group.worker_ai.id
    worker_character = aws_security_group.worker_character.id
    broker           = aws_security_group.broker.id
    data             = aws_security_group.data.id
  }

  # Who may open which port on the broker and the data node.
  backend_ports = {
    broker = { group_id = aws_security_group.broker.id, ports = { amqp = 5672 } }
    data   = { group_id = aws_security_group.data.id, ports = { postgresql = 5432, redis = 6379 } }
  }
  backend_access = merge([
    for backend, target in local.backend_ports : merge([
      for service, port in target.ports : {
        for client, client_group_id in local.application_roles :
        "${client}-${service}" => {
          backend_group_id = target.group_id
          client_group_id  = client_group_id
          port             = port
          service          = service
        }
      }
    ]...)
  ]...)
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Public load balancer: HTTP and HTTPS from anywhere"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-alb" }
}

# The gateway and every API service (my-api, character-api, location-api and info-api too) share
# these nodes; the services listen on 127.0.0.1 only, so no service port is opened here. The
# description predates my-api and stays as it is: changing it replaces the group.
resource "aws_security_group" "api" {
  name        = "${var.name}-api"
  description = "API nodes (gateway, auth-api, scan-api, chat-api): the gateway port from the load balancer only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-api" }
}

resource "aws_security_group" "worker_storage" {
  name        = "${var.name}-worker-storage"
  description = "Storage worker nodes: no inbound traffic"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-worker-storage" }
}

resource "aws_security_group" "worker_ai" {
  name        = "${var.name}-worker-ai"
  description = "AI worker nodes: no inbound traffic"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-worker-ai" }
}

resource "aws_security_group" "worker_character" {
  name        = "${var.name}-worker-character"
  description = "Character worker nodes: no inbound traffic"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-worker-character" }
}

resource "aws_security_group" "broker" {
  name        = "${var.name}-broker"
  description = "RabbitMQ: AMQP from the application roles, management from inside the VPC"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-broker" }
}

resource "aws_security_group" "data" {
  name        = "${var.name}-data"
  description = "PostgreSQL and Redis: from the application roles only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-data" }
}

# The load balancer: the only group with internet-facing inbound rules, on 80 and 443 only.
resource "aws_vpc_security_group_ingress_rule" "alb_from_internet" {
  for_each = toset(["80", "443"])

  security_group_id = aws_security_group.alb.id
  description       = "HTTP/HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the gateway on the API nodes"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_port
  to_port                      = var.gateway_port
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "Gateway (nginx) from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_port
  to_port                      = var.gateway_port
}

resource "aws_vpc_security_group_ingress_rule" "backend_from_application" {
  for_each = local.backend_access

  security_group_id            = each.value.backend_group_id
  description                  = "${each.value.service} from ${each.key}"
  referenced_security_group_id = each.value.client_group_id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "application_to_backend" {
  for_each = local.backend_access

  security_group_id            = each.value.client_group_id
  description                  = "${each.value.service} to its server"
  referenced_security_group_id = each.value.backend_group_id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

# The management UI and API: from inside the VPC only (reach it from a laptop with an SSM
# port-forwarding session to the broker node; see the README).
resource "aws_vpc_security_group_ingress_rule" "broker_management_from_vpc" {
  security_group_id = aws_security_group.broker.id
  description       = "RabbitMQ management from inside the VPC"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 15672
  to_port           = 15672
}

resource "aws_vpc_security_group_egress_rule" "to_internet" {
  for_each = local.egress_to_internet

  security_group_id = each.value.group_id
  description       = "Port ${each.value.port} to the internet (through NAT) and AWS endpoints"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}
