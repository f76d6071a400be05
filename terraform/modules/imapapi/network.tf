# Security groups: internet (or alb_ingress_cidrs) -> ALB :443 -> api tasks :3000;
# every task -> Redis :6379; tasks -> anywhere (IMAP, SMTP, webhooks, AWS APIs).

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-imapapi-alb"
  description = "imapapi ${var.name_prefix} load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-imapapi-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from API clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the api tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  referenced_security_group_id = aws_security_group.api.id
  tags                         = local.tags
}

# The api tasks: reachable from the ALB only.
resource "aws_security_group" "api" {
  name        = "${var.name_prefix}-imapapi-api"
  description = "imapapi ${var.name_prefix} api tasks"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-imapapi-api" })
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "HTTP from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  referenced_security_group_id = aws_security_group.alb.id
  tags                         = local.tags
}

# Every task (all four roles): no inbound at all; outbound as configured.
resource "aws_security_group" "tasks" {
  name        = "${var.name_prefix}-imapapi-tasks"
  description = "imapapi ${var.name_prefix} tasks (all roles): outbound only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-imapapi-tasks" })
}

resource "aws_vpc_security_group_egress_rule" "tasks_out" {
  for_each = toset(var.task_egress_cidrs)
  #checkov:skip=CKV_AWS_382:imapapi connects to the IMAP/SMTP servers of its accounts and to webhook URLs, user-supplied hosts on any port; narrow task_egress_cidrs where they are known

  security_group_id = aws_security_group.tasks.id
  description       = "IMAP, SMTP, webhooks, AWS APIs, Redis"
  ip_protocol       = "-1"
  cidr_ipv4         = each.value
  tags              = local.tags
}

# Redis: reachable from the tasks only.
resource "aws_security_group" "redis" {
  name        = "${var.name_prefix}-imapapi-redis"
  description = "imapapi ${var.name_prefix} Redis: from the tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-imapapi-redis" })
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from the imapapi tasks"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.tasks.id
  tags                         = local.tags
}
