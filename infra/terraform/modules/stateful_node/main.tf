# One long-lived node (the broker, the data node) at a fixed private address, with its state on a
# separate EBS volume. Replacing the instance (a new AMI, new user data) keeps the volume and the
# address: the new instance mounts the same disk and every client's URL stays valid.

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

resource "aws_instance" "this" {
  subnet_id  = var.subnet_id
  private_ip = var.private_ip

  launch_template {
    id      = module.node.launch_template_id
    version = module.node.launch_template_version
  }

  # A new launch template version (newer AMI, edited user data) must not replace a node that
  # holds the queues or the database behind the operator's back: replace it deliberately with
  # `terraform apply -replace=...` (see the README).
  lifecycle {
    ignore_changes = [launch_template]
  }
}

resource "aws_ebs_volume" "state" {
  availability_zone = var.availability_zone
  size              = var.state_volume_size_gib
  type              = "gp3"
  encrypted         = true

  tags = merge(var.tags, {
    Name               = "${var.name}-state"
    "bunri:role"       = var.role
    "bunri:deployment" = var.deployment
    "bunri:backup"     = var.backup_tag
  })
}

resource "aws_volume_attachment" "state" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.state.id
  instance_id = aws_instance.this.id

  # Stop the services' writes cleanly before the disk goes away.
  stop_instance_before_detaching = true
}
