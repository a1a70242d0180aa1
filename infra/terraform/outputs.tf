output "gateway_url" {
  description = "The platform's one base URL (point the app and `bunri --base-url` here)."
  value       = local.gateway_url
}

output "alb_dns_name" {
  description = "For the DNS record of domain_name (CNAME or Route 53 alias)."
  value       = module.api.alb_dns_name
}

output "bucket_name" {
  value = module.bucket.name
}

output "parameter_prefix" {
  description = "SSM path of the nodes' settings; put the hand-made secrets under it."
  value       = local.parameter_prefix
}

output "broker_instance_id" {
  description = "For `aws ssm start-session --target ...` (RabbitMQ management by port forwarding)."
  value       = module.broker.instance_id
}

output "data_instance_id" {
  value = module.data.instance_id
}

output "broker_private_ip" {
  value = module.broker.private_ip
}

output "data_private_ip" {
  value = module.data.private_ip
}

output "autoscaling_groups" {
  description = "Auto scaling group of each scaled role."
  value = {
    api                = module.api.autoscaling_group_name
    "worker-storage"   = module.worker_storage.name
    "worker-ai"        = module.worker_ai.name
    "worker-character" = module.worker_character.name
  }
}

output "nat_public_ips" {
  description = "The nodes' outbound address(es), for allow-lists at the LLM, the OAuth providers or Kakao Local (a REST key's allowed IP addresses)."
  value       = module.network.nat_public_ips
}

output "log_groups" {
  value = { for role, group in aws_cloudwatch_log_group.node : role => group.name }
}
