# One role (and instance profile) per node role. Every role gets SSM Session Manager (no SSH) and
# the CloudWatch agent, and reads its own SSM parameters. Only two roles touch S3, each with the
# actions its code calls, on the image keys of one bucket (scans/ and profiles/) and nothing else:
#   worker-storage  s3:PutObject     (S3ObjectStore.put / put_if_absent: scan images, profile photos)
#                   s3:DeleteObject  (S3ObjectStore.delete: DeleteObjects, account erasure and
#                                     replaced profile photos)
#                   s3:ListBucket    (S3ObjectStore.list_keys: ListObjectsV2, on the bucket itself,
#                                     for the scans/ and profiles/ prefixes only)
#                   s3:ListBucketVersions, s3:DeleteObjectVersion
#                                    (S3ObjectStore.purge: an erased account keeps no old version)
#   api (scan-api,  s3:GetObject     (S3ObjectStore.get and the presigned GETs they hand out; HEAD
#        my-api)                      is authorised by s3:GetObject too); never a delete
# The AI worker receives its analysis image inside the task message, and the character worker
# counts points from events and grants campaigns in PostgreSQL: no S3 at all for either.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  roles        = toset(["api", "worker-storage", "worker-ai", "worker-character", "broker", "data"])
  worker_roles = toset(["worker-storage", "worker-ai", "worker-character"])

  # The key layout of bunri.storage: scan_object_key (scans/<scan id>/...) and
  # profile_photo_key (profiles/<user id>/...).
  scan_objects_arn    = "${var.bucket_arn}/scans/*"
  profile_objects_arn = "${var.bucket_arn}/profiles/*"

  parameter_arn_prefix = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter"
  # The broker and the data node run no Bunri code: they read only their own path.
  parameter_paths = {
    for role in local.roles : role => contains(["broker", "data"], role) ? [role] : ["common", role]
  }
}

data "aws_iam_policy_document" "ec2_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  for_each = local.roles

  name               = "${var.name}-${each.key}"
  description        = "Bunri ${each.key} nodes"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume_role.json
}

resource "aws_iam_instance_profile" "node" {
  for_each = local.roles

  name = "${var.name}-${each.key}"
  role = aws_iam_role.node[each.key].name
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  for_each = local.roles

  role       = aws_iam_role.node[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  for_each = local.roles

  role       = aws_iam_role.node[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
}

# Each role reads the parameters under <prefix>/common (application roles only) and <prefix>/<role>.
# SecureStrings use the AWS-managed key alias/aws/ssm, whose key policy already lets SSM decrypt
# for principals of this account: no KMS statement needed.
data "aws_iam_policy_document" "read_parameters" {
  for_each = local.roles

  statement {
    sid     = "ReadOwnParameters"
    actions = ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"]
    resources = flatten([
      for path in local.parameter_paths[each.key] : [
        "${local.parameter_arn_prefix}${var.parameter_prefix}/${path}",
        "${local.parameter_arn_prefix}${var.parameter_prefix}/${path}/*",
      ]
    ])
  }
}

resource "aws_iam_role_policy" "read_parameters" {
  for_each = local.roles

  name   = "read-own-parameters"
  role   = aws_iam_role.node[each.key].id
  policy = data.aws_iam_policy_document.read_parameters[each.key].json
}

data "aws_iam_policy_document" "storage_worker_s3" {
  statement {
    sid       = "WriteImages"
    actions   = ["s3:PutObject"]
    resources = [local.scan_objects_arn, local.profile_objects_arn]
  }

  # An erased account's scan images and profile photos, every version of them; a replaced
  # profile photo.
  statement {
    sid       = "DeleteImages"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = [local.scan_objects_arn, local.profile_objects_arn]
  }

  # ListObjectsV2 is authorised on the bucket, not on keys: the prefix condition keeps it to the
  # image keys (an erasure lists profiles/<user id>/ to find every photo it ever stored).
  statement {
    sid       = "ListImages"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["scans/*", "profiles/*"]
    }
  }
}

# The policy names predate profile photos; a new name would replace the policy (a moment without it).
resource "aws_iam_role_policy" "storage_worker_s3" {
  name   = "write-scan-images"
  role   = aws_iam_role.node["worker-storage"].id
  policy = data.aws_iam_policy_document.storage_worker_s3.json
}

data "aws_iam_policy_document" "api_s3" {
  statement {
    sid       = "ReadImages"
    actions   = ["s3:GetObject"]
    resources = [local.scan_objects_arn, local.profile_objects_arn]
  }
}

resource "aws_iam_role_policy" "api_s3" {
  name   = "read-scan-images"
  role   = aws_iam_role.node["api"].id
  policy = data.aws_iam_policy_document.api_s3.json
}

# Worker nodes attach their journal volume at boot, detach it when they drain, and tell their
# auto scaling group when the drain is over. Attach/detach are limited to this deployment's journal
# volumes of the same role and to instances of that role.
data "aws_iam_policy_document" "worker_node" {
  for_each = local.worker_roles

  statement {
    sid = "FindJournalVolumes"
    # DescribeVolumes has no resource-level permissions: "*" is the only resource it accepts.
    actions   = ["ec2:DescribeVolumes"]
    resources = ["*"]
  }

  statement {
    sid       = "AttachOwnJournalVolumes"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:volume/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/bunri:journal"
      values   = [var.journal_volume_tags[each.key]]
    }
  }

  statement {
    sid       = "AttachToOwnRoleInstances"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/bunri:role"
      values   = [each.key]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/bunri:deployment"
      values   = [var.name]
    }
  }

  statement {
    sid = "FinishOwnLifecycleActions"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
    ]
    resources = [
      "arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.worker_asg_names[each.key]}",
    ]
  }
}

resource "aws_iam_role_policy" "worker_node" {
  for_each = local.worker_roles

  name   = "journal-volume-and-drain"
  role   = aws_iam_role.node[each.key].id
  policy = data.aws_iam_policy_document.worker_node[each.key].json
}

# The broker node publishes queue depths (the workers' scaling signal) to one namespace.
data "aws_iam_policy_document" "broker_metrics" {
  statement {
    sid       = "PublishQueueDepth"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.queue_metric_namespace]
    }
  }
}

resource "aws_iam_role_policy" "broker_metrics" {
  name   = "publish-queue-depth"
  role   = aws_iam_role.node["broker"].id
  policy = data.aws_iam_policy_document.broker_metrics.json
}
