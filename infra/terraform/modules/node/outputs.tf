output "launch_template_id" {
  value = aws_launch_template.this.id
}

output "launch_template_version" {
  value = aws_launch_template.this.latest_version
}

output "ami_id" {
  value = local.ami_id
}
