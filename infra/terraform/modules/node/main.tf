# A launch template for one node role: the AMI, the instance type, the role's instance profile
# and security group, and its cloud-init user data. Auto scaling groups launch from it, and so do
# the single stateful nodes (broker, data).

data "aws_ami" "ubuntu" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = [var.ami_owner]

  filter {
    name   = "name"
    values = [var.ami_name_pattern]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.ubuntu[0].id

  tags = merge(var.tags, {
    Name               = var.name
    "bunri:role"       = var.role
    "bunri:deployment" = var.deployment
  })
}

resource "aws_launch_template" "this" {
  name                   = var.name
  description            = "Bunri ${var.role} node"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = var.security_group_ids
  update_default_version = true

  # cloud-init recognises gzip; it keeps the rendered config under the 16 KB user-data limit.
  user_data = base64gzip(var.user_data)

  iam_instance_profile {
    name = var.instance_profile_name
  }

  # IMDSv2 only; tags readable from the metadata service (the drain script reads its group name).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = "/dev/sda1"

    ebs {
      volume_size           = var.root_volume_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  credit_specification {
    cpu_credits = var.cpu_credits
  }

  monitoring {
    enabled = var.detailed_monitoring
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }

  tags = local.tags
}
