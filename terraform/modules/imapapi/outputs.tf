output "alb_dns_name" {
  description = "DNS name of the ALB: point the api's name (the certificate's) at it with a CNAME or an alias record."
  value       = aws_lb.api.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the ALB, for a Route 53 alias record."
  value       = aws_lb.api.zone_id
}

output "queue_url" {
  description = "QUEUE_URL the tasks get (sqs://<name_prefix>)."
  value       = "sqs://${var.name_prefix}"
}

output "queue_urls" {
  description = "SQS URLs of the work queues, by queue (events, submit)."
  value       = { for k, q in aws_sqs_queue.work : k => q.url }
}

output "dead_letter_queue_urls" {
  description = "SQS URLs of the dead-letter queues, by queue."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the Redis replication group (TLS, AUTH; port 6379)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "redis_reader_endpoint" {
  description = "Reader endpoint of the Redis replication group."
  value       = aws_elasticache_replication_group.this.reader_endpoint_address
}

output "log_group_names" {
  description = "CloudWatch log group of each role."
  value       = { for k, g in aws_cloudwatch_log_group.role : k => g.name }
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "ECS service of each role."
  value       = { for k, s in aws_ecs_service.role : k => s.name }
}

output "secret_arns" {
  description = "Secrets Manager ARNs: IMAPAPI_SECRET, IMAPAPI_AUTH (null when api auth is off), the Redis AUTH token and REDIS_URL."
  value = {
    service_secret = local.service_secret_arn
    api_auth       = var.api_auth_enabled ? aws_secretsmanager_secret.api_auth[0].arn : null
    redis_auth     = aws_secretsmanager_secret.redis_auth.arn
    redis_url      = aws_secretsmanager_secret.redis_url.arn
  }
}

output "kms_key_arn" {
  description = "The module's KMS key (queues, secrets, Redis, logs)."
  value       = aws_kms_key.this.arn
}

output "task_role_arns" {
  description = "IAM task role of each role."
  value       = { for k, r in aws_iam_role.task : k => r.arn }
}

output "security_group_ids" {
  description = "Security groups: alb, api (api tasks), tasks (every task), redis."
  value = {
    alb   = aws_security_group.alb.id
    api   = aws_security_group.api.id
    tasks = aws_security_group.tasks.id
    redis = aws_security_group.redis.id
  }
}
