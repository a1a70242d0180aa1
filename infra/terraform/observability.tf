# Logs of every role (shipped by the CloudWatch agent) and daily snapshots of the state volumes.

resource "aws_cloudwatch_log_group" "node" {
  for_each = local.node_parameter_paths

  name              = "/bunri/${local.deployment}/${each.key}"
  retention_in_days = var.log_retention_days
}

locals {
  backup_tag = "${local.deployment}-daily"
}

data "aws_iam_policy_document" "dlm_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["dlm.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "snapshots" {
  name               = "${local.deployment}-snapshots"
  assume_role_policy = data.aws_iam_policy_document.dlm_assume_role.json
}

resource "aws_iam_role_policy_attachment" "snapshots" {
  role       = aws_iam_role.snapshots.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
}

# Crash-consistent snapshots: each volume holds all of its server's files (PostgreSQL's WAL with
# its data), so a restore recovers like after a power cut. For point-in-time recovery add WAL
# archiving or pg_dump on top.
resource "aws_dlm_lifecycle_policy" "state_volumes" {
  description        = "Daily snapshots of ${local.deployment} broker and data volumes"
  execution_role_arn = aws_iam_role.snapshots.arn
  state              = "ENABLED"

  policy_details {
    resource_types = ["VOLUME"]
    target_tags    = { "bunri:backup" = local.backup_tag }

    schedule {
      name      = "daily"
      copy_tags = true

      create_rule {
        interval      = 24
        interval_unit = "HOURS"
        # 03:00 in Seoul.
        times = ["18:00"]
      }

      retain_rule {
        count = var.snapshot_retention_count
      }
    }
  }
}
