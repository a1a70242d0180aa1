# An auto scaling group of worker nodes for one role, scaled on the depth of the queues it consumes.
#
# The journal: each worker keeps its in-flight tasks in a SQLite journal (BUNRI_JOURNAL_PATH). It
# lives on a journal volume of its own, not on the root disk, so it outlives the instance:
#   - this module creates max_size journal volumes in every zone (tagged bunri:journal); a booting
#     node attaches one that is free in its zone and mounts it where the journal lives;
#   - scale-in goes through a termination lifecycle hook: the instance stays up in
#     Terminating:Wait while its drain script stops the worker (Celery's warm shutdown finishes
#     the running tasks; unstarted prefetched messages go back to RabbitMQ), writes any results
#     still waiting for PostgreSQL (`bunri journal flush`), detaches the volume and completes the
#     lifecycle action. Whatever could not be written stays on the detached volume, and the next
#     node in that zone picks it up.

locals {
  journal_volumes = {
    for pair in setproduct(var.availability_zones, range(var.max_size)) :
    "${pair[0]}-${pair[1]}" => pair[0]
  }
}

module "node" {
  source = "../node"

  name                  = var.name
  deployment            = var.deployment
  role                  = var.role
  instance_type         = var.instance_type
  cpu_credits           = var.cpu_credits
  ami_id                = var.ami_id
  security_group_ids    = var.security_group_ids
  instance_profile_name = var.instance_profile_name
  user_data             = var.user_data
  root_volume_size_gib  = var.root_volume_size_gib
  tags                  = var.tags
}

resource "aws_ebs_volume" "journal" {
  for_each = local.journal_volumes

  availability_zone = each.value
  size              = var.journal_volume_size_gib
  type              = "gp3"
  encrypted         = true

  tags = merge(var.tags, {
    Name               = "${var.name}-journal-${each.key}"
    "bunri:journal"    = var.journal_volume_tag
    "bunri:role"       = var.role
    "bunri:deployment" = var.deployment
  })
}

resource "aws_autoscaling_group" "this" {
  name                = var.name
  vpc_zone_identifier = var.subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.min_size

  health_check_type         = "EC2"
  health_check_grace_period = 600
  default_instance_warmup   = var.instance_warmup_seconds

  # GroupInServiceInstances is the divisor of the backlog-per-instance metric below.
  enabled_metrics     = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTerminatingInstances"]
  metrics_granularity = "1Minute"

  launch_template {
    id      = module.node.launch_template_id
    version = module.node.launch_template_version
  }

  # The hook exists before the first instance does, so even the first scale-in drains.
  initial_lifecycle_hook {
    name                 = var.drain_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = var.drain_timeout_seconds
    # Past the timeout the instance terminates anyway; its journal volume survives either way.
    default_result = "CONTINUE"
  }

  # A new launch template version (new code, new AMI) rolls through the group one node at a time:
  # each new node is launched before an old one is drained (by the lifecycle hook) and terminated.
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
    # The scaling policy owns the desired capacity once the group exists.
    ignore_changes = [desired_capacity]
  }

  depends_on = [aws_ebs_volume.journal]
}

# Target tracking on the backlog per node: the summed ready messages of the role's queues (published
# by the broker node every minute) divided by the nodes in service. AWS's recommended metric for
# queue-driven workers: it scales out as the backlog grows and back in when it drains. min_size is at
# least 1, so the divisor is never zero while the group runs; the broker publishes every queue each
# minute, idle ones as 0, so the sum always has data.
resource "aws_autoscaling_policy" "queue_backlog" {
  name                      = "${var.name}-queue-backlog"
  autoscaling_group_name    = aws_autoscaling_group.this.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup_seconds

  target_tracking_configuration {
    target_value = var.backlog_per_instance_target

    customized_metric_specification {
      dynamic "metrics" {
        for_each = var.queue_names
        content {
          id          = "queue${metrics.key}"
          label       = "Ready messages in ${metrics.value}"
          return_data = false

          metric_stat {
            stat = "Average"

            metric {
              namespace   = var.queue_metric_namespace
              metric_name = var.queue_metric_name

              dimensions {
                name  = "Deployment"
                value = var.deployment
              }

              dimensions {
                name  = "Queue"
                value = metrics.value
              }
            }
          }
        }
      }

      metrics {
        id          = "nodes"
        label       = "Nodes in service"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"

            dimensions {
              name  = "AutoScalingGroupName"
              value = var.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_node"
        label       = "Ready messages per node"
        expression  = "(${join(" + ", [for index, queue in var.queue_names : "queue${index}"])}) / nodes"
        return_data = true
      }
    }
  }
}
