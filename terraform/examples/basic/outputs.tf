output "api_dns_name" {
  description = "Point the certificate's host name at this (CNAME or Route 53 alias)."
  value       = module.imapapi.alb_dns_name
}

output "queue_urls" {
  description = "SQS work queues."
  value       = module.imapapi.queue_urls
}

output "dead_letter_queue_urls" {
  description = "SQS dead-letter queues."
  value       = module.imapapi.dead_letter_queue_urls
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint."
  value       = module.imapapi.redis_primary_endpoint
}

output "log_group_names" {
  description = "CloudWatch log group per role."
  value       = module.imapapi.log_group_names
}

output "secret_arns" {
  description = "Secrets Manager secrets (read IMAPAPI_AUTH from secret_arns.api_auth)."
  value       = module.imapapi.secret_arns
}
