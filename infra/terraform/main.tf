# Bunri on AWS: a VPC over two zones, an ALB in front of the API nodes, a storage-worker, an
# AI-worker and a character-worker auto scaling group scaled on queue depth, one broker node
# (RabbitMQ) and one data node (PostgreSQL + Redis), every node a t3.small by default, and a private
# S3 bucket for scan images.
# See the README section "Deploy on AWS with Terraform".

data "aws_caller_identity" "current" {}

locals {
  deployment       = "${var.name}-${var.environment}"
  parameter_prefix = "/${var.name}/${var.environment}"
  bucket_name      = coalesce(var.bucket_name, "${local.deployment}-scans-${data.aws_caller_identity.current.account_id}")

  queue_metric_namespace = "Bunri/RabbitMQ"

  worker_asg_names = {
    "worker-storage"   = "${local.deployment}-worker-storage"
    "worker-ai"        = "${local.deployment}-worker-ai"
    "worker-character" = "${local.deployment}-worker-character"
  }
  # The bunri:journal tag value marking each worker role's journal volumes (IAM matches it too).
  journal_volume_tags = { for role in keys(local.worker_asg_names) : role => "${local.deployment}-${role}" }

  # The broker and the data node keep fixed addresses in the first private subnet (their state
  # volumes live in that zone), so the URLs in SSM stay valid when an instance is replaced.
  broker_private_ip = cidrhost(module.network.private_subnet_cidr_blocks[0], 10)
  data_private_ip   = cidrhost(module.network.private_subnet_cidr_blocks[0], 20)

  public_host = coalesce(var.domain_name, module.api.alb_dns_name)
  gateway_url = "${var.certificate_arn == null ? "http" : "https"}://${local.public_host}"

  # SSM paths each role reads at boot; application roles share <prefix>/common.
  node_parameter_paths = {
    api                = ["${local.parameter_prefix}/common", "${local.parameter_prefix}/api"]
    "worker-storage"   = ["${local.parameter_prefix}/common", "${local.parameter_prefix}/worker-storage"]
    "worker-ai"        = ["${local.parameter_prefix}/common", "${local.parameter_prefix}/worker-ai"]
    "worker-character" = ["${local.parameter_prefix}/common", "${local.parameter_prefix}/worker-character"]
    broker             = ["${local.parameter_prefix}/broker"]
    data               = ["${local.parameter_prefix}/data"]
  }
}

module "network" {
  source = "./modules/network"

  name               = local.deployment
  region             = var.region
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  single_nat_gateway = var.single_nat_gateway
}

module "security_groups" {
  source = "./modules/security_groups"

  name           = local.deployment
  vpc_id         = module.network.vpc_id
  vpc_cidr_block = module.network.vpc_cidr_block
}

module "bucket" {
  source = "./modules/bucket"

  bucket_name                    = local.bucket_name
  force_destroy                  = var.bucket_force_destroy
  original_glacier_ir_after_days = var.original_glacier_ir_after_days
  original_expiration_days       = var.original_expiration_days
}

module "iam" {
  source = "./modules/iam"

  name                   = local.deployment
  region                 = var.region
  bucket_arn             = module.bucket.arn
  parameter_prefix       = local.parameter_prefix
  worker_asg_names       = local.worker_asg_names
  journal_volume_tags    = local.journal_volume_tags
  queue_metric_namespace = local.queue_metric_namespace
}

module "user_data" {
  source   = "./modules/cloud_init"
  for_each = local.node_parameter_paths

  role                     = each.key
  deployment               = local.deployment
  region                   = var.region
  vpc_cidr_block           = var.vpc_cidr
  parameter_paths          = each.value
  log_group_name           = aws_cloudwatch_log_group.node[each.key].name
  source_repository_url    = var.source_repository_url
  source_ref               = var.source_ref
  journal_volume_tag       = lookup(local.journal_volume_tags, each.key, "")
  autoscaling_group_name   = lookup(local.worker_asg_names, each.key, "")
  queue_metric_namespace   = local.queue_metric_namespace
  rabbitmq_config          = file("${path.module}/../rabbitmq/rabbitmq.conf")
  rabbitmq_definitions     = file("${path.module}/../rabbitmq/definitions.json")
  rabbitmq_enabled_plugins = file("${path.module}/../rabbitmq/enabled_plugins")
  postgres_max_connections = var.postgres_max_connections
}

module "api" {
  source = "./modules/api"

  name                   = "${local.deployment}-api"
  deployment             = local.deployment
  instance_type          = var.api_instance_type
  cpu_credits            = var.cpu_credits
  ami_id                 = var.ami_id
  instance_profile_name  = module.iam.instance_profile_names["api"]
  user_data              = module.user_data["api"].user_data
  vpc_id                 = module.network.vpc_id
  public_subnet_ids      = module.network.public_subnet_ids
  private_subnet_ids     = module.network.private_subnet_ids
  alb_security_group_id  = module.security_groups.alb
  node_security_group_id = module.security_groups.api
  certificate_arn        = var.certificate_arn
  deletion_protection    = var.alb_deletion_protection
  min_size               = var.api_min_size
  max_size               = var.api_max_size
}

module "worker_storage" {
  source = "./modules/worker_asg"

  name                        = local.worker_asg_names["worker-storage"]
  deployment                  = local.deployment
  role                        = "worker-storage"
  instance_type               = var.storage_worker_instance_type
  cpu_credits                 = var.cpu_credits
  ami_id                      = var.ami_id
  security_group_ids          = [module.security_groups.worker_storage]
  instance_profile_name       = module.iam.instance_profile_names["worker-storage"]
  user_data                   = module.user_data["worker-storage"].user_data
  subnet_ids                  = module.network.private_subnet_ids
  availability_zones          = module.network.availability_zones
  min_size                    = var.storage_worker_min_size
  max_size                    = var.storage_worker_max_size
  queue_names                 = ["scan.image_upload", "my.profile_photos", "my.account_erasure"]
  queue_metric_namespace      = local.queue_metric_namespace
  backlog_per_instance_target = var.storage_backlog_per_instance
  journal_volume_size_gib     = var.journal_volume_size_gib
  journal_volume_tag          = local.journal_volume_tags["worker-storage"]
}

module "worker_ai" {
  source = "./modules/worker_asg"

  name                        = local.worker_asg_names["worker-ai"]
  deployment                  = local.deployment
  role                        = "worker-ai"
  instance_type               = var.ai_worker_instance_type
  cpu_credits                 = var.cpu_credits
  ami_id                      = var.ami_id
  security_group_ids          = [module.security_groups.worker_ai]
  instance_profile_name       = module.iam.instance_profile_names["worker-ai"]
  user_data                   = module.user_data["worker-ai"].user_data
  root_volume_size_gib        = var.ai_worker_root_volume_size_gib
  subnet_ids                  = module.network.private_subnet_ids
  availability_zones          = module.network.availability_zones
  min_size                    = var.ai_worker_min_size
  max_size                    = var.ai_worker_max_size
  queue_names                 = ["scan.ai_analysis", "chat.batch"]
  queue_metric_namespace      = local.queue_metric_namespace
  backlog_per_instance_target = var.ai_backlog_per_instance
  journal_volume_size_gib     = var.journal_volume_size_gib
  journal_volume_tag          = local.journal_volume_tags["worker-ai"]
}

module "worker_character" {
  source = "./modules/worker_asg"

  name                        = local.worker_asg_names["worker-character"]
  deployment                  = local.deployment
  role                        = "worker-character"
  instance_type               = var.character_worker_instance_type
  cpu_credits                 = var.cpu_credits
  ami_id                      = var.ami_id
  security_group_ids          = [module.security_groups.worker_character]
  instance_profile_name       = module.iam.instance_profile_names["worker-character"]
  user_data                   = module.user_data["worker-character"].user_data
  subnet_ids                  = module.network.private_subnet_ids
  availability_zones          = module.network.availability_zones
  min_size                    = var.character_worker_min_size
  max_size                    = var.character_worker_max_size
  queue_names                 = ["character.events", "character.rewards"]
  queue_metric_namespace      = local.queue_metric_namespace
  backlog_per_instance_target = var.character_backlog_per_instance
  journal_volume_size_gib     = var.journal_volume_size_gib
  journal_volume_tag          = local.journal_volume_tags["worker-character"]
}

module "broker" {
  source = "./modules/stateful_node"

  name                  = "${local.deployment}-broker"
  deployment            = local.deployment
  role                  = "broker"
  instance_type         = var.broker_instance_type
  cpu_credits           = var.cpu_credits
  ami_id                = var.ami_id
  security_group_ids    = [module.security_groups.broker]
  instance_profile_name = module.iam.instance_profile_names["broker"]
  user_data             = module.user_data["broker"].user_data
  subnet_id             = module.network.private_subnet_ids[0]
  availability_zone     = module.network.availability_zones[0]
  private_ip            = local.broker_private_ip
  state_volume_size_gib = var.broker_volume_size_gib
  backup_tag            = local.backup_tag
}

module "data" {
  source = "./modules/stateful_node"

  name                  = "${local.deployment}-data"
  deployment            = local.deployment
  role                  = "data"
  instance_type         = var.data_instance_type
  cpu_credits           = var.cpu_credits
  ami_id                = var.ami_id
  security_group_ids    = [module.security_groups.data]
  instance_profile_name = module.iam.instance_profile_names["data"]
  user_data             = module.user_data["data"].user_data
  subnet_id             = module.network.private_subnet_ids[0]
  availability_zone     = module.network.availability_zones[0]
  private_ip            = local.data_private_ip
  state_volume_size_gib = var.data_volume_size_gib
  backup_tag            = local.backup_tag
}
