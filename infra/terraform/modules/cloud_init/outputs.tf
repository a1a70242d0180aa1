output "user_data" {
  description = "The #cloud-config document (plain text; the node module gzips it)."
  value       = "#cloud-config\n${yamlencode(local.cloud_config)}"
}
