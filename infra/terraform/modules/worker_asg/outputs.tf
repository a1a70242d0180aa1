output "name" {
  value = aws_autoscaling_group.this.name
}

output "arn" {
  value = aws_autoscaling_group.this.arn
}

output "journal_volume_ids" {
  value = [for volume in aws_ebs_volume.journal : volume.id]
}
