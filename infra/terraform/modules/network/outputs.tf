output "vpc_id" {
  value = aws_vpc.this.id
}

output "vpc_cidr_block" {
  value = aws_vpc.this.cidr_block
}

output "availability_zones" {
  value = local.zones
}

output "public_subnet_ids" {
  value = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "private_subnet_cidr_blocks" {
  value = aws_subnet.private[*].cidr_block
}

output "nat_public_ips" {
  description = "Where the nodes' outbound traffic comes from (for allow-lists at the LLM, the OAuth providers or Kakao Local)."
  value       = aws_eip.nat[*].public_ip
}
