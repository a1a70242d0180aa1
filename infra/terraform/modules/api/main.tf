# The public edge: an application load balancer in the public subnets, and the API nodes behind
# it in the private subnets (an auto scaling group, scaled on CPU). Each API node runs the gateway
# (nginx, the same path routing as standalone and docker-compose) in front of auth-api, scan-api,
# chat-api, my-api, character-api, location-api and info-api.
#
# Why a load balancer rather than public API nodes: TLS ends at the ALB with a free ACM certificate
# (no certbot, no private key on a node), the nodes get no public address and take traffic from the
# ALB's security group only, several API nodes across zones share one address, and unhealthy nodes
# leave rotation by themselves. It costs about $22 a month (see the README); WebSockets (chat) and
# server-sent events (scan progress) pass through it unchanged.

locals {
  https = var.certificate_arn != null
}

module "node" {
  source = "../node"

  name                  = var.name
  deployment            = var.deployment
  role                  = "api"
  instance_type         = var.instance_type
  cpu_credits           = var.cpu_credits
  ami_id                = var.ami_id
  security_group_ids    = [var.node_security_group_id]
  instance_profile_name = var.instance_profile_name
  user_data             = var.user_data
  root_volume_size_gib  = var.root_volume_size_gib
  tags                  = var.tags
}

resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [var.alb_security_group_id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  # Server-sent events carry a keepalive comment every 15 s and chat WebSockets ping on their own
  # heartbeat; two minutes of silence means the client is gone.
  idle_timeout = 120
}

resource "aws_lb_target_group" "gateway" {
  name                 = var.name
  port                 = var.gateway_port
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    # scan-api's readiness through the gateway: it answers 200 only while PostgreSQL, Redis and
    # the broker answer it. If every node fails it at once the ALB fails open and keeps routing.
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  # With a certificate, plain HTTP only redirects; without one (a first try), it serves.
  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.gateway.arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

resource "aws_autoscaling_group" "this" {
  name                = var.name
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.min_size
  target_group_arns   = [aws_lb_target_group.gateway.arn]

  # Replace a node the load balancer finds unhealthy, after it had time to install and migrate.
  health_check_type         = "ELB"
  health_check_grace_period = 900
  default_instance_warmup   = 600

  launch_template {
    id      = module.node.launch_template_id
    version = module.node.launch_template_version
  }

  # Launch the new node and wait for the ALB to find it healthy before the old one goes: no gap
  # even with a single API node.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_policy" "cpu" {
  name                      = "${var.name}-cpu"
  autoscaling_group_name    = aws_autoscaling_group.this.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = 600

  target_tracking_configuration {
    target_value = var.cpu_target_percent

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}
