# The shared store: a Redis replication group, TLS in transit, encrypted at rest, AUTH.

resource "aws_elasticache_subnet_group" "this" {
  name        = "${var.name_prefix}-imapapi"
  description = "imapapi ${var.name_prefix} store"
  subnet_ids  = var.private_subnet_ids
  tags        = local.tags
}

# Redis is the store of record here, not a cache: keys must never be evicted.
resource "aws_elasticache_parameter_group" "this" {
  name        = "${var.name_prefix}-imapapi"
  family      = var.redis_parameter_group_family
  description = "imapapi ${var.name_prefix}: no eviction (Redis is the store)"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = local.tags
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50:Multi-AZ with automatic failover is on whenever redis_num_cache_clusters > 1 (the default, 2); checkov cannot evaluate the expression. A single-node group (for tests) cannot fail over
  replication_group_id = "${var.name_prefix}-imapapi"
  description          = "imapapi ${var.name_prefix} store"

  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  num_cache_clusters   = var.redis_num_cache_clusters
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [aws_security_group.redis.id]

  automatic_failover_enabled = var.redis_num_cache_clusters > 1
  multi_az_enabled           = var.redis_num_cache_clusters > 1

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = aws_secretsmanager_secret_version.redis_auth.secret_string
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = local.tags
}
