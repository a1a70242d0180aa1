output "instance_profile_names" {
  description = "Instance profile of each role (api, worker-storage, worker-ai, worker-character, broker, data)."
  value       = { for role, profile in aws_iam_instance_profile.node : role => profile.name }
}

output "role_arns" {
  value = { for role, node_role in aws_iam_role.node : role => node_role.arn }
}
