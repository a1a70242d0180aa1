output "alb" {
  value = aws_security_group.alb.id
}

output "api" {
  value = aws_security_group.api.id
}

output "worker_storage" {
  value = aws_security_group.worker_storage.id
}

output "worker_ai" {
  value = aws_security_group.worker_ai.id
}

output "worker_character" {
  value = aws_security_group.worker_character.id
}

output "broker" {
  value = aws_security_group.broker.id
}

output "data" {
  value = aws_security_group.data.id
}
